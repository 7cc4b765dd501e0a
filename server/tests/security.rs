//! The panel under attack, over real HTTP: sessions and roles on every server function (the
//! list comes from the registry, so a new function cannot be forgotten), malformed bodies,
//! cross-site requests, security headers, login throttling per address, the event stream after
//! logout, enrolment floods, and half-open connections.
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use domain::cluster::{ClusterDraft, ClusterEdit, DefinitionDraft, MemberDraft, NodeAction};
use domain::network::NetworkDraft;
use domain::swarm::SwarmRole;
use support::{ADMIN_PASSWORD, Panel, hello};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a role may use a server function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Needs no session (signing in and out).
    Public,
    /// Any signed-in user, Viewers included.
    Read,
    /// Editors and up: a Viewer is refused.
    Write,
}

/// A well-formed request for every server function: (name, access, content type, body).
fn catalogue() -> Vec<(&'static str, Access, &'static str, String)> {
    const FORM: &str = "application/x-www-form-urlencoded";
    const JSON: &str = "application/json";
    let json = |v: serde_json::Value| v.to_string();
    let draft = ClusterDraft {
        definition: DefinitionDraft {
            name: "c1".into(),
            ..Default::default()
        },
        members: vec![],
    };
    let member = MemberDraft {
        node_id: "n".into(),
        role: SwarmRole::Worker,
        labels: String::new(),
        interface: "eth0".into(),
        vip: false,
    };
    let network = NetworkDraft {
        name: "net1".into(),
        subnet: String::new(),
        attachable: true,
        encrypted: false,
    };
    let edit = ClusterEdit {
        name: "c2".into(),
        synctime: "0.1".into(),
        volumes: false,
        volume_sync: "5".into(),
    };
    use Access::*;
    vec![
        (
            "login",
            Public,
            FORM,
            "username=admin&password=wrong+password".into(),
        ),
        ("logout", Public, FORM, String::new()),
        ("me", Read, FORM, String::new()),
        (
            "change_password",
            Read,
            FORM,
            "current=wrong+password&new=long+password+2".into(),
        ),
        ("list_nodes", Read, FORM, String::new()),
        ("get_node", Read, FORM, "id=x".into()),
        ("refresh_node", Write, FORM, "id=x".into()),
        (
            "node_identity",
            Write,
            FORM,
            "id=x&action=revoke_token".into(),
        ),
        ("list_keys", Read, FORM, String::new()),
        (
            "create_key",
            Write,
            FORM,
            "label=k&expires_in_hours=1".into(),
        ),
        ("revoke_key", Write, FORM, "id=x".into()),
        ("list_users", Read, FORM, String::new()),
        (
            "create_user",
            Write,
            FORM,
            "username=eve&password=long+password&role=viewer".into(),
        ),
        ("set_role", Write, FORM, "id=x&role=administrator".into()),
        ("user_action", Write, FORM, "id=x&action=disable".into()),
        (
            "reset_password",
            Write,
            FORM,
            "id=x&password=long+password+3".into(),
        ),
        ("list_clusters", Read, FORM, String::new()),
        ("get_cluster", Read, FORM, "id=x".into()),
        ("cluster_candidates", Read, FORM, String::new()),
        (
            "create_cluster",
            Write,
            JSON,
            json(serde_json::json!({ "draft": draft })),
        ),
        ("retry_cluster", Write, FORM, "id=x".into()),
        ("delete_cluster", Write, FORM, "id=x".into()),
        ("join_tokens", Write, FORM, "id=x&rotate=false".into()),
        (
            "cluster_node_action",
            Write,
            JSON,
            json(serde_json::json!({ "id": "x", "node_id": "y", "action": NodeAction::Promote })),
        ),
        (
            "create_network",
            Write,
            JSON,
            json(serde_json::json!({ "id": "x", "draft": network })),
        ),
        ("delete_network", Write, FORM, "id=x&name=net1".into()),
        (
            "add_cluster_node",
            Write,
            JSON,
            json(serde_json::json!({ "id": "x", "draft": member })),
        ),
        ("remove_cluster_node", Write, FORM, "id=x&node_id=y".into()),
        (
            "edit_cluster",
            Write,
            JSON,
            json(serde_json::json!({ "id": "x", "edit": edit })),
        ),
        (
            "act_on_workflow",
            Write,
            FORM,
            "id=x&workflow_id=y&action=pause".into(),
        ),
        ("library", Read, FORM, String::new()),
        (
            "create_app",
            Write,
            JSON,
            json(
                serde_json::json!({"draft": {"name": "a", "kind": "app", "model_format": "", "description": ""}}),
            ),
        ),
        (
            "add_app_version",
            Write,
            JSON,
            json(
                serde_json::json!({"app_id": "x", "draft": {"version": "1", "compose": "services:\n  a:\n    image: busybox\n"}}),
            ),
        ),
        ("version_compose", Read, FORM, "id=x".into()),
        ("delete_app", Write, FORM, "id=x".into()),
        ("install_context", Read, FORM, "cluster_id=x".into()),
        (
            "install_app",
            Write,
            JSON,
            json(
                serde_json::json!({"cluster_id": "x", "draft": {"version_id": "v", "name": "hello", "secrets": [], "services": []}}),
            ),
        ),
        ("installed_apps", Read, FORM, "cluster_id=x".into()),
        ("uninstall_app", Write, FORM, "id=x".into()),
        // Logs may hold what only operators should read.
        ("service_logs", Write, FORM, "id=x&service=web".into()),
        ("update_app", Write, FORM, "id=x&version_id=y".into()),
        ("set_app_running", Write, FORM, "id=x&run=false".into()),
        ("registry_credentials", Read, FORM, "cluster_id=x".into()),
        (
            "save_registry_credential",
            Write,
            JSON,
            json(
                serde_json::json!({"cluster_id": "x", "draft": {"registry": "r.lab:5000", "username": "u", "password": "p"}}),
            ),
        ),
        (
            "import_registry_credentials",
            Write,
            FORM,
            "cluster_id=x&csv=r.lab%2Cu%2Cp".into(),
        ),
        (
            "export_registry_credentials",
            Read,
            FORM,
            "cluster_id=x".into(),
        ),
        (
            "delete_registry_credential",
            Write,
            FORM,
            "cluster_id=x&id=y".into(),
        ),
        ("firmware_artifacts", Read, FORM, String::new()),
        ("firmware_nodes", Read, FORM, String::new()),
        ("firmware_activity", Read, FORM, String::new()),
        ("delete_firmware", Write, FORM, "id=x".into()),
        (
            "upgrade_nodes",
            Write,
            JSON,
            json(
                serde_json::json!({"draft": {"artifact_id": "a", "node_ids": ["n"], "concurrency": "1", "gate_secs": "60"}}),
            ),
        ),
        (
            "rollout_firmware",
            Write,
            JSON,
            json(
                serde_json::json!({"draft": {"cluster_id": "c", "artifact_id": "a", "gate_secs": "60"}}),
            ),
        ),
        (
            "act_on_firmware_upgrade",
            Write,
            FORM,
            "workflow_id=y&action=pause".into(),
        ),
        ("rollout_gates", Read, FORM, "cluster_id=x".into()),
        ("firmware_rollouts", Read, FORM, String::new()),
        (
            "add_rollout_gate",
            Write,
            JSON,
            json(
                serde_json::json!({"cluster_id": "x", "draft": {"name": "g", "kind": "http", "url": "http://a/", "status": "200", "image": "", "command": "", "timeout_secs": "5"}}),
            ),
        ),
        (
            "delete_rollout_gate",
            Write,
            FORM,
            "cluster_id=x&gate_id=y".into(),
        ),
        ("global_config", Read, FORM, "cluster_id=x".into()),
        ("global_config_history", Read, FORM, "cluster_id=x".into()),
        (
            "global_config_version",
            Read,
            FORM,
            "cluster_id=x&version=1".into(),
        ),
        (
            "save_global_config",
            Write,
            FORM,
            "cluster_id=x&base=0&document=%7B%7D&uploaded=false".into(),
        ),
        (
            "restore_global_config",
            Write,
            FORM,
            "cluster_id=x&base=1&version=1".into(),
        ),
        (
            "reset_global_config",
            Write,
            FORM,
            "cluster_id=x&base=1".into(),
        ),
        (
            "save_named_global_config",
            Write,
            FORM,
            "cluster_id=x&name=a&document=%7B%7D".into(),
        ),
        (
            "named_global_config",
            Read,
            FORM,
            "cluster_id=x&name=a".into(),
        ),
        (
            "delete_named_global_config",
            Write,
            FORM,
            "cluster_id=x&name=a".into(),
        ),
        ("global_secrets", Read, FORM, "cluster_id=x".into()),
        ("cluster_changes", Read, FORM, "id=x".into()),
        ("audit_log", Write, FORM, String::new()),
        (
            "reveal_global_secret",
            Write,
            FORM,
            "cluster_id=x&name=a".into(),
        ),
        (
            "save_global_secret",
            Write,
            JSON,
            json(
                serde_json::json!({"cluster_id": "x", "draft": {"name": "a", "value": "b"}, "adding": true}),
            ),
        ),
        (
            "import_global_secrets",
            Write,
            FORM,
            "cluster_id=x&text=A%3D1".into(),
        ),
        ("export_global_secrets", Write, FORM, "cluster_id=x".into()),
        (
            "delete_global_secret",
            Write,
            FORM,
            "cluster_id=x&name=a".into(),
        ),
        ("swarm_objects", Read, FORM, "cluster_id=x".into()),
        (
            "delete_swarm_object",
            Write,
            FORM,
            "cluster_id=x&kind=secret&name=a".into(),
        ),
    ]
}

/// Every registered server function, by name (`/api/<name>`).
fn registered() -> Vec<String> {
    let mut names: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_registered_server_function_is_in_the_catalogue() {
    let mut known: Vec<String> = catalogue().iter().map(|c| c.0.to_owned()).collect();
    known.sort();
    assert_eq!(
        registered(),
        known,
        "a server function was added or removed: give it an entry (access and a sample request) in catalogue()"
    );
}

#[tokio::test]
async fn every_server_function_refuses_a_request_without_a_session() {
    let panel = Panel::start().await;
    for (name, access, content_type, body) in catalogue() {
        if access == Access::Public {
            continue;
        }
        for cookie in [None, Some("flotilla_session=forged")] {
            let (status, answer) = panel.call_raw(cookie, name, content_type, &body, &[]).await;
            assert_eq!(status, 401, "{name} with {cookie:?}: {answer}");
        }
    }
    let events = panel
        .http
        .get(panel.url("/events"))
        .send()
        .await
        .expect("request");
    assert_eq!(events.status(), 401);
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_viewer_reads_but_every_write_is_refused_before_its_input_is_looked_at() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    panel.create_key(&admin).await;
    let (_, viewer) = panel.user(&admin, "vera", "viewer").await;
    for (name, access, content_type, body) in catalogue() {
        if access == Access::Public {
            continue; // signing out would end the session this test uses
        }
        let (status, answer) = panel
            .call_raw(Some(&viewer), name, content_type, &body, &[])
            .await;
        if access == Access::Write {
            assert_eq!(status, 403, "{name}: {answer}");
        } else {
            assert!(
                ![401, 403, 500].contains(&status),
                "{name} answered {status}: {answer}"
            );
        }
    }
    // Invalid input from a Viewer is still refused by role, not by validation.
    let (status, body) = panel
        .call(
            Some(&viewer),
            "create_key",
            &[("label", " "), ("expires_in_hours", "0")],
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (_, keys) = panel.call(Some(&admin), "list_keys", &[]).await;
    assert_eq!(
        keys.matches("\"id\"").count(),
        1,
        "nothing was written: {keys}"
    );
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn editors_operate_but_destructive_cluster_actions_need_a_supervisor() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let (_, editor) = panel.user(&admin, "eddie", "editor").await;
    let (_, supervisor) = panel.user(&admin, "susan", "supervisor").await;
    let demote =
        serde_json::json!({ "id": "x", "node_id": "y", "action": NodeAction::Demote }).to_string();
    for (name, content_type, body) in [
        (
            "remove_cluster_node",
            "application/x-www-form-urlencoded",
            "id=x&node_id=y".to_string(),
        ),
        (
            "delete_network",
            "application/x-www-form-urlencoded",
            "id=x&name=net1".to_string(),
        ),
        (
            "delete_cluster",
            "application/x-www-form-urlencoded",
            "id=x".to_string(),
        ),
        ("cluster_node_action", "application/json", demote.clone()),
    ] {
        let (status, answer) = panel
            .call_raw(Some(&editor), name, content_type, &body, &[])
            .await;
        assert_eq!(status, 403, "an Editor may not {name}: {answer}");
        let (status, answer) = panel
            .call_raw(Some(&supervisor), name, content_type, &body, &[])
            .await;
        assert_eq!(
            status, 404,
            "a Supervisor may {name} (the cluster does not exist): {answer}"
        );
    }
    // The audit log is for Supervisors and Administrators.
    let (status, answer) = panel.call(Some(&editor), "audit_log", &[]).await;
    assert_eq!(
        status, 403,
        "an Editor may not read the audit log: {answer}"
    );
    let (status, answer) = panel.call(Some(&supervisor), "audit_log", &[]).await;
    assert_eq!(status, 200, "a Supervisor reads the audit log: {answer}");
    assert!(answer.contains("\"action\":\"user.create\""), "{answer}");
    // Editors operate: draining, labels, networks and new nodes get past the role check.
    let drain = serde_json::json!({ "id": "x", "node_id": "y", "action": { "action": "availability", "availability": "drain" } }).to_string();
    let (status, answer) = panel
        .call_raw(
            Some(&editor),
            "cluster_node_action",
            "application/json",
            &drain,
            &[],
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn malformed_bodies_are_the_clients_fault() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    for (name, _, content_type, body) in catalogue() {
        if body.is_empty() {
            continue; // takes no arguments: an empty body is well-formed
        }
        let empty = if content_type == "application/json" {
            "{}"
        } else {
            ""
        };
        let (status, answer) = panel
            .call_raw(Some(&admin), name, content_type, empty, &[])
            .await;
        assert!(
            (400..500).contains(&status) && ![401, 403].contains(&status),
            "{name} with a body missing its fields answered {status}: {answer}"
        );
        assert!(answer.contains("missing field"), "{name}: {answer}");
        let (status, answer) = panel
            .call_raw(Some(&admin), name, content_type, "{not json", &[])
            .await;
        assert!(
            (400..500).contains(&status),
            "{name} with garbage answered {status}: {answer}"
        );
    }
    // The answer names the field that is missing.
    let (status, body) = panel
        .call(Some(&admin), "create_key", &[("label", "k")])
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"field\":\"expires_in_hours\""), "{body}");
    // An oversized draft is refused by its size (422), not by a slow check.
    let mut draft = ClusterDraft {
        definition: DefinitionDraft {
            name: "big".into(),
            ..Default::default()
        },
        members: vec![],
    };
    draft.definition.pools = vec!["10.0.0.0/8".into(); 5_000];
    let body = serde_json::json!({ "draft": draft }).to_string();
    let (status, answer) = panel
        .call_raw(
            Some(&admin),
            "create_cluster",
            "application/json",
            &body,
            &[],
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.contains("at most"), "{answer}");
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_pages_carry_security_headers() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let form = "label=csrf&expires_in_hours=1";
    let ct = "application/x-www-form-urlencoded";
    let own = format!("http://{}", panel.addr);
    for headers in [
        vec![("Origin", "http://evil.example")],
        // Another port of the same host is same-site, but not same-origin.
        vec![("Origin", "http://127.0.0.1:1")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site"), ("Origin", own.as_str())],
        vec![("Sec-Fetch-Site", "same-site")],
    ] {
        let (status, body) = panel
            .call_raw(Some(&admin), "create_key", ct, form, &headers)
            .await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        // A text/plain body (no CORS preflight) is refused the same way.
        let (status, _) = panel
            .call_raw(Some(&admin), "create_key", "text/plain", form, &headers)
            .await;
        assert_eq!(status, 403, "text/plain with {headers:?}");
    }
    let (_, keys) = panel.call(Some(&admin), "list_keys", &[]).await;
    assert!(!keys.contains("csrf"), "nothing was created: {keys}");
    for headers in [
        vec![("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")],
        vec![("Origin", own.as_str())],
    ] {
        let (status, body) = panel
            .call_raw(Some(&admin), "create_key", ct, form, &headers)
            .await;
        assert_eq!(status, 200, "{headers:?}: {body}");
    }

    let page = panel
        .http
        .get(panel.url("/login"))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("request");
    let h = page.headers().clone();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("a CSP")
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce")
        .to_owned();
    let html = page.text().await.unwrap_or_default();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration scripts carry the header's nonce"
    );
    assert_eq!(
        h.get("x-frame-options").and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    assert_eq!(
        h.get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert!(h.get("referrer-policy").is_some());
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    panel.shutdown().await.expect("clean shutdown");
}

/// A client bound to another loopback address: a different source, as a remote guesser is.
fn client_from(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_guesser_locks_out_only_itself() {
    let panel = Panel::start().await;
    let attacker = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let operator = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    let login = |client: &reqwest::Client, password: &str| {
        client
            .post(panel.url("/api/login"))
            .header("Accept", "application/json")
            .form(&[("username", "admin"), ("password", password)])
            .send()
    };
    let mut throttled = 0;
    for _ in 0..20 {
        let status = login(&attacker, "wrong password")
            .await
            .expect("request")
            .status();
        assert!(status == 401 || status == 429, "{status}");
        throttled += usize::from(status == 429);
    }
    assert!(throttled > 0, "the guesser is slowed down");
    let right = login(&attacker, ADMIN_PASSWORD).await.expect("request");
    assert_eq!(
        right.status(),
        429,
        "even the right password waits, from there"
    );
    let right = login(&operator, ADMIN_PASSWORD).await.expect("request");
    assert_eq!(
        right.status(),
        200,
        "from another address the Administrator signs in"
    );
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_event_stream_ends_after_logout_and_when_the_user_is_disabled() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let (vera_id, vera) = panel.user(&admin, "vera", "viewer").await;
    let other = panel.login("admin", ADMIN_PASSWORD).await;
    for (cookie, end) in [(other.clone(), "logout"), (vera.clone(), "disable")] {
        let mut events = panel
            .http
            .get(panel.url("/events"))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("request");
        assert_eq!(events.status(), 200);
        match end {
            "logout" => {
                let (status, _) = panel.call(Some(&cookie), "logout", &[]).await;
                assert_eq!(status, 200);
            }
            _ => {
                let (status, body) = panel
                    .call(
                        Some(&admin),
                        "user_action",
                        &[("id", &vera_id), ("action", "disable")],
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
        }
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(_)) = events.chunk().await {}
        })
        .await;
        assert!(ended.is_ok(), "the stream ends within seconds after {end}");
    }
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn enrolment_floods_are_limited_and_write_nothing_while_agents_stay_connected() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let key = panel.create_key(&admin).await;
    let (_, token) = panel.enrolled(&key, "edge-1").await;
    let mut ws = panel.connect(&token).await.expect("connects");
    hello(&mut ws, "edge-1").await;
    // A few bogus enrolments are answered (and write nothing)...
    for i in 0..5 {
        let answer = panel.enrol("flt_ek_bogus", &format!("x{i}")).await;
        assert!(matches!(
            answer,
            domain::protocol::EnrolResponse::Refused { .. }
        ));
    }
    // ...then the source is turned away before its request is read.
    let mut limited = 0;
    for _ in 0..40 {
        match tokio_tungstenite::connect_async(format!("ws://{}/agent/v1/enrol", panel.addr)).await
        {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), 429);
                limited += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(limited >= 36, "the flood is turned away: {limited}");
    // Bogus tokens on the connect path are limited too, without touching healthy agents.
    let mut refused = 0;
    for _ in 0..40 {
        if panel.connect("flt_nt_bogus").await.err() == Some(429) {
            refused += 1;
        }
    }
    assert!(refused > 10, "{refused}");
    assert_eq!(
        panel.online_count(&admin).await,
        1,
        "the healthy agent is still online"
    );
    let (_, body) = panel.call(Some(&admin), "list_nodes", &[]).await;
    assert_eq!(
        body.matches("\"hostname\"").count(),
        1,
        "no node was created: {body}"
    );
    drop(ws);
    panel.shutdown().await.expect("clean shutdown");
}

/// Open-file headroom for a test that holds hundreds of sockets (both ends live in this
/// process).
fn raise_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < 4096
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, 4096.min(hard), hard);
    }
}

#[tokio::test]
async fn half_open_connections_neither_starve_the_panel_nor_stay_forever() {
    raise_file_limit();
    let panel = Panel::start().await;
    let mut slow = vec![];
    for _ in 0..500 {
        let mut s = tokio::net::TcpStream::connect(panel.addr)
            .await
            .expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("half a request");
        slow.push(s);
    }
    let health = tokio::time::timeout(
        Duration::from_secs(5),
        panel.http.get(panel.url("/healthz")).send(),
    )
    .await
    .expect("answers in time")
    .expect("request");
    assert_eq!(health.status(), 200);
    // The panel drops them after its header timeout (10 s).
    let mut first = slow.swap_remove(0);
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(15), first.read(&mut buf))
        .await
        .expect("the panel closes a half-sent request");
    assert!(read.is_ok(), "{read:?}");
    drop(slow);
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let panel = Panel::start_with(|a| a.max_connections = Some(16)).await;
    let mut held = vec![];
    for _ in 0..16 {
        held.push(
            tokio::net::TcpStream::connect(panel.addr)
                .await
                .expect("connect"),
        );
    }
    // Let the panel take them all before the next one arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(panel.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf))
        .await
        .expect("closed at once, not left waiting");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = panel
        .http
        .get(panel.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), 200, "slots are free again");
    panel.shutdown().await.expect("clean shutdown");
}
