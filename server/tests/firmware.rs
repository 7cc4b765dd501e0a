//! Firmware end to end between a real panel and the agent's firmware module: the upload's roles,
//! checks and limits; the signed manifest; the agent's resumable download over the agent
//! transport with its node token; refusal of tampered and unsigned artifacts; and the installer
//! calls of install → reboot → trial → commit or roll-back.
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent::endpoint::Panels;
use agent::firmware::Firmware;
use domain::firmware::{FirmwareState, FirmwareView, Manifest, SignedManifest};
use domain::protocol::EnrolResponse;
use support::{ADMIN_PASSWORD, Panel};

async fn upload(panel: &Panel, cookie: Option<&str>, query: &str, body: Vec<u8>) -> (u16, String) {
    let mut req = panel
        .http
        .post(panel.url(&format!("/api/firmware/upload?{query}")))
        .body(body);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let res = req.send().await.expect("request");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

fn image(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn signed(view: &FirmwareView) -> SignedManifest {
    SignedManifest {
        manifest: Manifest {
            artifact_id: view.id.clone(),
            version: view.version.clone(),
            target: view.target.clone(),
            size: view.size,
            sha256: view.sha256.clone(),
        },
        signature: view.signature.clone(),
    }
}

/// A node: its installer (a script that logs its calls and keeps what it installs), its
/// firmware version file, and the agent's firmware module.
struct Node {
    dir: tempfile::TempDir,
    endpoint: std::sync::Arc<Panels>,
    token: String,
    key: String,
}

impl Node {
    async fn enrol(panel: &Panel, admin: &str, host: &str) -> Node {
        let key = panel.create_key(admin).await;
        let EnrolResponse::Enrolled {
            token,
            firmware_key,
            ..
        } = panel.enrol(&key, host).await
        else {
            panic!("enrolment refused");
        };
        assert!(!firmware_key.is_empty(), "the panel gives its firmware key");
        let dir = tempfile::tempdir().expect("temp dir");
        let installer = dir.path().join("installer");
        std::fs::write(
            &installer,
            format!(
                "#!/bin/sh\necho \"$1\" >> {d}/calls\nif [ \"$1\" = install ]; then cp \"$2\" {d}/installed.bin; fi\nexit 0\n",
                d = dir.path().display()
            ),
        )
        .expect("write installer");
        std::fs::set_permissions(
            &installer,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        std::fs::write(dir.path().join("version"), "1.0\n").expect("version");
        Node {
            endpoint: std::sync::Arc::new(
                Panels::parse(&format!("http://{}", panel.addr), None).expect("url"),
            ),
            dir,
            token,
            key: firmware_key,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The agent's firmware module as it starts (again, after a "reboot").
    fn firmware(&self, key: Option<&str>) -> Firmware {
        Firmware::new(
            &self.path("state"),
            Some(self.path("installer")),
            key,
            self.endpoint.clone(),
            &self.token,
            &self.path("version"),
        )
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn boot(&self, version: &str) {
        std::fs::write(self.path("version"), format!("{version}\n")).expect("version");
    }
}

fn part_of(state: &Path, id: &str) -> PathBuf {
    state.join("firmware").join(format!("{id}.part"))
}

#[tokio::test]
async fn uploads_need_a_supervisor_valid_metadata_and_stay_within_the_limit() {
    let panel = Panel::start_with(|a| a.firmware_max_mib = Some(1)).await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let (_, editor) = panel.user(&admin, "eddie", "editor").await;
    let (_, viewer) = panel.user(&admin, "vera", "viewer").await;
    let (_, supervisor) = panel.user(&admin, "sue", "supervisor").await;
    let ok = "version=2.0&target=x86_64&notes=fixes";
    assert_eq!(upload(&panel, None, ok, image(10, 1)).await.0, 401);
    for cookie in [&editor, &viewer] {
        assert_eq!(upload(&panel, Some(cookie), ok, image(10, 1)).await.0, 403);
    }
    // A browser's cross-site request is refused whoever's cookie it carries (CSRF).
    let cross = panel
        .http
        .post(panel.url(&format!("/api/firmware/upload?{ok}")))
        .header("Cookie", &supervisor)
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .body(image(10, 1))
        .send()
        .await
        .expect("request");
    assert_eq!(cross.status().as_u16(), 403);
    // The role is checked before the input.
    assert_eq!(
        upload(&panel, Some(&viewer), "version=&target=", vec![])
            .await
            .0,
        403
    );
    let (status, body) = upload(
        &panel,
        Some(&supervisor),
        "version=2%200&target=",
        image(10, 1),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("version") && body.contains("target"),
        "{body}"
    );
    let (status, body) = upload(&panel, Some(&supervisor), ok, image(2 * 1024 * 1024, 1)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("file") && body.contains("1 MiB"), "{body}");
    let (status, body) = upload(&panel, Some(&supervisor), ok, vec![]).await;
    assert_eq!(status, 422, "{body}");

    let bytes = image(300 * 1024, 7);
    let (status, body) = upload(&panel, Some(&supervisor), ok, bytes.clone()).await;
    assert_eq!(status, 200, "{body}");
    let view: FirmwareView = serde_json::from_str(&body).expect("artifact");
    assert_eq!(view.size, bytes.len() as u64);
    assert_eq!(view.uploaded_by, "sue");
    use sha2::Digest;
    assert_eq!(
        view.sha256,
        domain::firmware::hex(&sha2::Sha256::digest(&bytes))
    );
    let (status, body) = upload(&panel, Some(&admin), ok, image(10, 2)).await;
    assert_eq!(status, 409, "the same version and target twice: {body}");
    // Nothing half-written stays behind from the refused uploads.
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_agent_installs_only_what_the_panel_signed_and_resumes_its_download() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let node = Node::enrol(&panel, &admin, "edge-1").await;
    let bytes = image(200 * 1024, 3);
    let (status, body) = upload(
        &panel,
        Some(&admin),
        "version=2.0&target=x86_64",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let view: FirmwareView = serde_json::from_str(&body).expect("artifact");
    let fw = node.firmware(Some(&node.key));

    // A manifest changed after signing, and a node that never learnt the key, are refused.
    let mut forged = signed(&view);
    forged.manifest.version = "9.9".into();
    let e = fw.install(&forged).await.expect_err("forged");
    assert!(e.contains("signature does not match"), "{e}");
    let e = node
        .firmware(None)
        .install(&signed(&view))
        .await
        .expect_err("no key");
    assert!(e.contains("firmware key"), "{e}");
    let other_key = Node::enrol(&panel, &admin, "edge-2").await;
    assert_eq!(other_key.key, node.key, "one signing key per panel");

    // A partial download resumes from where it stopped: a corrupt prefix proves the rest was
    // fetched with a range (the checksum then fails), and the next attempt starts over.
    let state = node.path("state");
    std::fs::create_dir_all(state.join("firmware")).expect("dir");
    std::fs::write(part_of(&state, &view.id), vec![0u8; 1000]).expect("part");
    let e = fw
        .install(&signed(&view))
        .await
        .expect_err("corrupt prefix");
    assert!(e.contains("does not match its manifest"), "{e}");
    assert!(
        !part_of(&state, &view.id).exists(),
        "a bad download is thrown away"
    );
    std::fs::write(part_of(&state, &view.id), &bytes[..50_000]).expect("part");
    let installed = fw.install(&signed(&view)).await.expect("installs");
    assert_eq!(
        installed,
        FirmwareState::Installed {
            version: "2.0".into()
        }
    );
    assert_eq!(
        std::fs::read(node.path("installed.bin")).expect("installed"),
        bytes
    );
    assert_eq!(node.calls(), ["install"]);
    // Asked again (the panel restarted): nothing is downloaded or installed twice.
    assert_eq!(fw.install(&signed(&view)).await.expect("again"), installed);
    assert_eq!(node.calls(), ["install"]);

    // A tampered file on the panel (one byte) is refused by the checksum.
    let other = image(1000, 9);
    let (_, body) = upload(&panel, Some(&admin), "version=3.0&target=x86_64", other).await;
    let view3: FirmwareView = serde_json::from_str(&body).expect("artifact");
    let stored = panel.data_dir().join("firmware").join(&view3.id);
    let mut tampered = std::fs::read(&stored).expect("stored");
    tampered[10] ^= 1;
    std::fs::write(&stored, tampered).expect("tamper");
    let fresh = Node::enrol(&panel, &admin, "edge-3").await;
    let e = fresh
        .firmware(Some(&fresh.key))
        .install(&signed(&view3))
        .await
        .expect_err("tampered");
    assert!(e.contains("does not match its manifest"), "{e}");
    assert!(fresh.calls().is_empty(), "the installer never saw it");
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_trial_commits_when_told_and_rolls_back_by_itself_otherwise() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let (_, body) = upload(
        &panel,
        Some(&admin),
        "version=2.0&target=x86_64",
        image(4096, 5),
    )
    .await;
    let view: FirmwareView = serde_json::from_str(&body).expect("artifact");

    // Committed: install → reboot (trial) → the node starts on 2.0 → commit.
    let node = Node::enrol(&panel, &admin, "edge-1").await;
    let fw = node.firmware(Some(&node.key));
    fw.install(&signed(&view)).await.expect("installs");
    let e = fw.commit().await.expect_err("nothing on trial yet");
    assert!(e.contains("nothing to commit"), "{e}");
    assert!(matches!(
        fw.reboot(60).await,
        Ok(FirmwareState::Trial { .. })
    ));
    node.boot("2.0");
    let after = node.firmware(Some(&node.key));
    assert_eq!(after.on_start(), Some(Duration::from_secs(60)));
    assert_eq!(
        after.commit().await.expect("commits"),
        FirmwareState::Committed {
            version: "2.0".into()
        }
    );
    assert_eq!(node.calls(), ["install", "reboot", "commit"]);
    assert_eq!(
        agent::firmware::state_of(&node.path("state")),
        FirmwareState::Committed {
            version: "2.0".into()
        }
    );

    // No commit within the trial: the agent rolls back and reboots by itself.
    let node = Node::enrol(&panel, &admin, "edge-2").await;
    let fw = node.firmware(Some(&node.key));
    fw.install(&signed(&view)).await.expect("installs");
    fw.reboot(1).await.expect("reboots");
    node.boot("2.0");
    let after = node.firmware(Some(&node.key));
    let trial = after.on_start().expect("on trial");
    after.watch_trial(trial).await;
    assert_eq!(node.calls(), ["install", "reboot", "rollback", "reboot"]);
    match agent::firmware::state_of(&node.path("state")) {
        FirmwareState::RolledBack { reason, .. } => {
            assert!(reason.contains("no commit"), "{reason}")
        }
        other => panic!("expected a roll-back, got {other:?}"),
    }

    // The node came back on the old version (its boot failed): the trial ends as rolled back.
    let node = Node::enrol(&panel, &admin, "edge-3").await;
    let fw = node.firmware(Some(&node.key));
    fw.install(&signed(&view)).await.expect("installs");
    fw.reboot(60).await.expect("reboots");
    assert_eq!(node.firmware(Some(&node.key)).on_start(), None);
    match agent::firmware::state_of(&node.path("state")) {
        FirmwareState::RolledBack { reason, .. } => {
            assert!(reason.contains("came back on 1.0"), "{reason}")
        }
        other => panic!("expected a roll-back, got {other:?}"),
    }
    panel.shutdown().await.expect("clean shutdown");
}
