//! The panel over HTTPS: the real agent link (`agent::link`) reaches it through TLS only when it
//! trusts the panel's CA. Certificates come from the `openssl` command line tool.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use agent::AgentError;
use agent::link::{self, PanelEndpoint};
use leptos::config::LeptosOptions;
use server::settings::TlsFiles;
use server::{Args, ServerError, Settings, launch};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA and a server certificate for localhost/127.0.0.1 signed by it.
fn certificates(dir: &Path) -> (PathBuf, TlsFiles) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Flotilla test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "panel.key",
        "-out",
        "panel.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("panel.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("writes");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "panel.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "panel.pem",
            "-days",
            "1",
            "-extfile",
            "panel.ext",
        ],
    );
    (
        dir.join("ca.pem"),
        TlsFiles {
            cert: dir.join("panel.pem"),
            key: dir.join("panel.key"),
        },
    )
}

struct Panel {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Panel {
    /// Stops the panel and checks it shut down cleanly, in time.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops in time")
            .expect("joins")
            .expect("clean shutdown");
    }
}

async fn start(dir: &Path, files: TlsFiles) -> Panel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let args = Args {
        data_dir: Some(dir.to_path_buf()),
        database_url: Some(control::store::testing::scratch_url(dir).await),
        admin_password: Some("correct horse battery".into()),
        tls_cert: Some(files.cert),
        tls_key: Some(files.key),
        ..Default::default()
    };
    let settings = Settings::resolve(args, addr).expect("settings");
    assert!(settings.secure_cookies, "HTTPS implies Secure cookies");
    let options = LeptosOptions::builder()
        .output_name("flotilla")
        .site_addr(addr)
        .build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(launch(settings, options, listener, None, async move {
        let _ = stopped.await;
    }));
    Panel { addr, stop, task }
}

#[tokio::test]
async fn agents_reach_an_https_panel_only_when_they_trust_its_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, files) = certificates(dir.path());
    let panel = start(dir.path(), files).await;
    let https = format!("https://localhost:{}", panel.addr.port());
    let trusted = PanelEndpoint::new(&https, Some(&ca)).expect("endpoint");

    // Trusting the CA: a full enrolment exchange and an authenticated upgrade, through TLS.
    let mut answer = Err(AgentError::Connect("not tried".into()));
    for _ in 0..100 {
        answer = link::enrol(&trusted, "flt_ek_wrong", "edge-1", "machine-1").await;
        if !matches!(answer, Err(AgentError::Connect(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        matches!(&answer, Err(AgentError::EnrolRefused(r)) if r == "unknown enrolment key"),
        "{answer:?}"
    );
    assert!(matches!(
        link::open(&trusted, "flt_nt_forged").await,
        Err(AgentError::TokenRefused)
    ));

    // The system trust store does not know this private CA: the handshake is refused.
    let untrusted = PanelEndpoint::new(&https, None).expect("endpoint");
    match link::enrol(&untrusted, "flt_ek_wrong", "edge-1", "machine-1").await {
        Err(AgentError::Connect(m)) => assert!(m.to_lowercase().contains("certificate"), "{m}"),
        other => panic!("expected a certificate error, got {other:?}"),
    }
    // A name the certificate does not carry is refused too.
    let wrong_name = PanelEndpoint::new(
        &format!("https://127.0.0.2:{}", panel.addr.port()),
        Some(&ca),
    )
    .expect("endpoint");
    assert!(matches!(
        link::enrol(&wrong_name, "k", "h", "m").await,
        Err(AgentError::Connect(_))
    ));
    // Plain WebSocket to the HTTPS port gets nowhere.
    let plain = PanelEndpoint::new(&format!("http://localhost:{}", panel.addr.port()), None)
        .expect("endpoint");
    assert!(matches!(
        link::enrol(&plain, "k", "h", "m").await,
        Err(AgentError::Connect(_) | AgentError::Protocol(_))
    ));

    panel.stop().await;
}

#[tokio::test]
async fn unusable_certificate_files_stop_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, files) = certificates(dir.path());
    let swapped = TlsFiles {
        cert: files.key.clone(),
        key: files.cert.clone(),
    };
    let panel = start(dir.path(), swapped).await;
    let result = tokio::time::timeout(Duration::from_secs(10), panel.task)
        .await
        .expect("ends in time")
        .expect("joins");
    assert!(matches!(&result, Err(ServerError::Tls(_))), "{result:?}");
    let missing = TlsFiles {
        cert: dir.path().join("missing.pem"),
        key: files.key,
    };
    let panel = start(dir.path(), missing).await;
    let result = panel.task.await.expect("joins");
    assert!(
        matches!(&result, Err(ServerError::Tls(e)) if e.to_string().contains("missing.pem")),
        "{result:?}"
    );
}
