//! The real panel on an ephemeral port: server functions, sessions and roles, the agent
//! endpoints and graceful shutdown, over real HTTP and WebSockets.
use std::net::SocketAddr;
use std::time::Duration;

use domain::protocol::{self, AgentMessage, EnrolRequest, EnrolResponse, Envelope, PanelMessage};
use futures_util::{SinkExt, StreamExt};
use leptos::config::LeptosOptions;
use server::{Args, Settings, launch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ADMIN_PASSWORD: &str = "correct horse battery";

struct Panel {
    addr: SocketAddr,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), server::ServerError>>,
    _dir: tempfile::TempDir,
}

impl Panel {
    async fn start() -> Panel {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let args = Args {
            data_dir: Some(dir.path().to_path_buf()),
            database_url: Some(control::store::testing::scratch_url(dir.path()).await),
            admin_password: Some(ADMIN_PASSWORD.into()),
            heartbeat_secs: Some(1),
            ..Default::default()
        };
        let settings = Settings::resolve(args, addr).expect("settings");
        let options = LeptosOptions::builder()
            .output_name("flotilla")
            .site_addr(addr)
            .build();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(launch(settings, options, listener, None, async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let panel = Panel {
            addr,
            http,
            stop: Some(stop),
            task,
            _dir: dir,
        };
        for _ in 0..100 {
            if panel.http.get(panel.url("/healthz")).send().await.is_ok() {
                return panel;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("panel did not start");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Calls a server function; returns the status and the body.
    async fn call(&self, cookie: Option<&str>, name: &str, form: &[(&str, &str)]) -> (u16, String) {
        let mut req = self
            .http
            .post(self.url(&format!("/api/{name}")))
            .header("Accept", "application/json")
            .form(form);
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        let res = req.send().await.expect("request");
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }

    /// Signs in and returns the `name=value` cookie pair.
    async fn login(&self, username: &str, password: &str) -> String {
        let res = self
            .http
            .post(self.url("/api/login"))
            .header("Accept", "application/json")
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "login of {username}");
        let set_cookie = res
            .headers()
            .get("set-cookie")
            .expect("a session cookie")
            .to_str()
            .expect("ascii")
            .to_owned();
        set_cookie.split(';').next().expect("pair").to_owned()
    }

    async fn create_key(&self, cookie: &str) -> String {
        let (status, body) = self
            .call(
                Some(cookie),
                "create_key",
                &[("label", "test"), ("expires_in_hours", "1")],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let created: serde_json::Value = serde_json::from_str(&body).expect("json");
        created["secret"].as_str().expect("secret").to_owned()
    }

    async fn shutdown(mut self) -> Result<(), server::ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops in time")
            .expect("joins")
    }
}

#[tokio::test]
async fn health_and_signed_out_pages() {
    let panel = Panel::start().await;
    let health = panel
        .http
        .get(panel.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), 200);
    let page = panel
        .http
        .get(panel.url("/nodes"))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 302);
    assert_eq!(
        page.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/login")
    );
    let login = panel
        .http
        .get(panel.url("/login"))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap_or_default().contains("Sign in"));
    let missing = panel
        .http
        .get(panel.url("/no/such/page"))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn every_server_function_refuses_a_request_without_a_session() {
    let panel = Panel::start().await;
    for (name, form) in [
        ("me", vec![]),
        (
            "change_password",
            vec![("current", "x"), ("new", "long password 2")],
        ),
        ("list_nodes", vec![]),
        ("get_node", vec![("id", "x")]),
        ("refresh_node", vec![("id", "x")]),
        ("list_keys", vec![]),
        (
            "create_key",
            vec![("label", "x"), ("expires_in_hours", "1")],
        ),
        ("revoke_key", vec![("id", "x")]),
        ("list_users", vec![]),
        (
            "create_user",
            vec![
                ("username", "eve"),
                ("password", "long password"),
                ("role", "administrator"),
            ],
        ),
        ("set_role", vec![("id", "x"), ("role", "administrator")]),
    ] {
        let (status, body) = panel.call(None, name, &form).await;
        assert_eq!(status, 401, "{name}: {body}");
        let (status, _) = panel
            .call(Some("flotilla_session=forged"), name, &form)
            .await;
        assert_eq!(status, 401, "{name} with a forged cookie");
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
async fn login_sets_a_strict_http_only_cookie_and_a_wrong_password_none() {
    let panel = Panel::start().await;
    let res = panel
        .http
        .post(panel.url("/api/login"))
        .header("Accept", "application/json")
        .form(&[("username", "admin"), ("password", "wrong password")])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("set-cookie").is_none());
    assert!(
        res.text()
            .await
            .unwrap_or_default()
            .contains("BadCredentials")
    );

    let res = panel
        .http
        .post(panel.url("/api/login"))
        .header("Accept", "application/json")
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("request");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.starts_with("flotilla_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let pair = cookie.split(';').next().unwrap_or_default().to_owned();
    let (status, body) = panel.call(Some(&pair), "me", &[]).await;
    assert_eq!(
        (status, body.contains("\"Administrator\"")),
        (200, true),
        "{body}"
    );
    let (status, _) = panel.call(Some(&pair), "logout", &[]).await;
    assert_eq!(status, 200);
    let (status, _) = panel.call(Some(&pair), "me", &[]).await;
    assert_eq!(status, 401, "the session ends at logout");
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_viewer_reads_but_every_write_is_refused() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let (status, body) = panel
        .call(
            Some(&admin),
            "create_user",
            &[
                ("username", "vera"),
                ("password", "viewer password"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let vera_id = serde_json::from_str::<serde_json::Value>(&body).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let key_id = {
        panel.create_key(&admin).await;
        let (_, body) = panel.call(Some(&admin), "list_keys", &[]).await;
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["data"][0]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };

    let viewer = panel.login("vera", "viewer password").await;
    for name in ["me", "list_nodes", "list_keys", "list_users"] {
        let (status, body) = panel.call(Some(&viewer), name, &[]).await;
        assert_eq!(status, 200, "{name}: {body}");
    }
    for (name, form) in [
        (
            "create_key",
            vec![("label", "x"), ("expires_in_hours", "1")],
        ),
        ("revoke_key", vec![("id", key_id.as_str())]),
        (
            "create_user",
            vec![
                ("username", "eve"),
                ("password", "long password"),
                ("role", "administrator"),
            ],
        ),
        (
            "set_role",
            vec![("id", vera_id.as_str()), ("role", "administrator")],
        ),
    ] {
        let (status, body) = panel.call(Some(&viewer), name, &form).await;
        assert_eq!(status, 403, "{name}: {body}");
    }
    let (_, body) = panel.call(Some(&admin), "list_keys", &[]).await;
    assert!(
        body.contains("\"revoked_at_ms\":null"),
        "the refused revoke changed nothing: {body}"
    );
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_and_nothing_is_written() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let (status, body) = panel
        .call(
            Some(&admin),
            "create_key",
            &[("label", "  "), ("expires_in_hours", "24")],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"field\":\"label\""), "{body}");
    let (status, body) = panel
        .call(
            Some(&admin),
            "create_key",
            &[("label", "ok"), ("expires_in_hours", "0")],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = panel
        .call(
            Some(&admin),
            "create_user",
            &[
                ("username", "Bad Name"),
                ("password", "long password"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = panel
        .call(
            Some(&admin),
            "create_user",
            &[
                ("username", "bob"),
                ("password", "long password"),
                ("role", "root"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (_, body) = panel.call(Some(&admin), "list_keys", &[]).await;
    assert!(body.contains("\"data\":[]"), "{body}");
    let (_, body) = panel.call(Some(&admin), "list_users", &[]).await;
    assert!(!body.contains("bob"), "{body}");
    panel.shutdown().await.expect("clean shutdown");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn enrol(panel: &Panel, key: &str, host: &str) -> EnrolResponse {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/agent/v1/enrol", panel.addr))
            .await
            .expect("ws");
    let req = EnrolRequest {
        v: 1,
        key: key.into(),
        hostname: host.into(),
        machine_id: format!("m-{host}"),
    };
    ws.send(Message::text(serde_json::to_string(&req).expect("json")))
        .await
        .expect("send");
    loop {
        match ws.next().await.expect("answer").expect("frame") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("answer json"),
            _ => continue,
        }
    }
}

async fn connect(panel: &Panel, token: &str) -> Result<Socket, u16> {
    let mut req = format!("ws://{}/agent/v1/connect", panel.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

async fn hello(ws: &mut Socket, host: &str) {
    let facts: domain::node::NodeFacts = serde_json::from_value(serde_json::json!({
        "hostname": host, "machine_id": format!("m-{host}"), "os": "test", "kernel": "6", "arch": "x86_64",
        "cpu_model": "cpu", "cpu_count": 1, "memory_total_bytes": 1, "memory_available_bytes": 1,
        "disk_path": "/", "disk_total_bytes": 1, "disk_available_bytes": 1, "interfaces": [],
        "engine": {"state": "unreachable", "reason": "test"}, "agent_version": "t", "firmware_version": "f", "uptime_secs": 1
    }))
    .expect("facts");
    ws.send(Message::text(
        Envelope::new("1", AgentMessage::Hello(Box::new(facts))).encode(),
    ))
    .await
    .expect("hello");
    let welcome = loop {
        match ws.next().await.expect("welcome").expect("frame") {
            Message::Text(t) => {
                break protocol::decode::<PanelMessage>(t.as_str()).expect("decodes");
            }
            _ => continue,
        }
    };
    assert!(matches!(welcome.msg, PanelMessage::Welcome(_)));
}

async fn online_count(panel: &Panel, cookie: &str) -> usize {
    let (_, body) = panel.call(Some(cookie), "list_nodes", &[]).await;
    body.matches("\"Online\"").count()
}

#[tokio::test]
async fn agents_enrol_connect_and_a_malformed_frame_closes_only_that_connection() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let key = panel.create_key(&admin).await;

    assert_eq!(
        enrol(&panel, "flt_ek_wrong", "x").await,
        EnrolResponse::Refused {
            reason: "unknown enrolment key".into()
        }
    );
    assert_eq!(
        connect(&panel, "flt_nt_forged").await.err(),
        Some(401),
        "a wrong token is refused"
    );
    assert_eq!(connect(&panel, "").await.err(), Some(401));

    let EnrolResponse::Enrolled { token: t1, .. } = enrol(&panel, &key, "edge-1").await else {
        panic!("refused")
    };
    let EnrolResponse::Enrolled { token: t2, .. } = enrol(&panel, &key, "edge-2").await else {
        panic!("refused")
    };
    let mut a1 = connect(&panel, &t1).await.expect("connects");
    let mut a2 = connect(&panel, &t2).await.expect("connects");
    hello(&mut a1, "edge-1").await;
    hello(&mut a2, "edge-2").await;
    assert_eq!(online_count(&panel, &admin).await, 2);

    a1.send(Message::text(
        "{\"v\":1,\"id\":\"2\",\"kind\":\"self_destruct\"}",
    ))
    .await
    .expect("send");
    let close = loop {
        match a1.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1008));

    a2.send(Message::text(
        Envelope::new("2", AgentMessage::Heartbeat).encode(),
    ))
    .await
    .expect("still connected");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        online_count(&panel, &admin).await,
        1,
        "only the misbehaving agent went offline"
    );

    // Shutdown closes the remaining agent session with "restarting" and still stops in time.
    let stopping = tokio::spawn(panel.shutdown());
    let close = loop {
        match a2.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1012));
    stopping.await.expect("joins").expect("clean shutdown");
}

#[tokio::test]
async fn a_silent_agent_goes_offline_within_three_heartbeats() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let key = panel.create_key(&admin).await;
    let EnrolResponse::Enrolled { token, .. } = enrol(&panel, &key, "edge-1").await else {
        panic!("refused")
    };
    let mut ws = connect(&panel, &token).await.expect("connects");
    hello(&mut ws, "edge-1").await;
    assert_eq!(online_count(&panel, &admin).await, 1);
    // Heartbeat is 1 s here; say nothing for a while (the socket stays open).
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(online_count(&panel, &admin).await, 0);
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn shutdown_ends_open_event_streams() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let mut events = panel
        .http
        .get(panel.url("/events"))
        .header("Cookie", &admin)
        .send()
        .await
        .expect("request");
    assert_eq!(events.status(), 200);
    // A change reaches the stream.
    panel.create_key(&admin).await;
    let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
        .await
        .expect("in time")
        .expect("read");
    let text = String::from_utf8_lossy(&chunk.unwrap_or_default()).into_owned();
    assert!(text.contains("\"topic\":\"keys\""), "{text}");
    panel
        .shutdown()
        .await
        .expect("clean shutdown despite an open stream");
}
