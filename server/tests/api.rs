//! The real panel on an ephemeral port: server functions, sessions and roles, the agent
//! endpoints and graceful shutdown, over real HTTP and WebSockets.
mod support;

use std::time::Duration;

use domain::protocol::{AgentMessage, EnrolResponse, Envelope};
use futures_util::SinkExt;
use support::{ADMIN_PASSWORD, Panel, close_code, hello};
use tokio_tungstenite::tungstenite::Message;

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

/// The site's WASM, JS and CSS go out as `./dev build` pre-compressed them, when the browser
/// takes brotli or gzip, and as they are otherwise.
#[tokio::test]
async fn static_files_are_served_pre_compressed() {
    let site = tempfile::tempdir().expect("temp dir");
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).expect("pkg");
    for (name, body) in [
        ("flotilla.wasm", "raw wasm"),
        ("flotilla.wasm.br", "brotli wasm"),
        ("flotilla.wasm.gz", "gzip wasm"),
        ("flotilla.css", "raw css"),
    ] {
        std::fs::write(pkg.join(name), body).expect("file");
    }
    let root = site.path().to_str().expect("utf-8 path");
    let panel = Panel::start_serving(|_| {}, root).await;
    let get = async |path: &str, accept: &str| {
        let res = panel
            .http
            .get(panel.url(path))
            .header("Accept-Encoding", accept)
            .send()
            .await
            .expect("request");
        let encoding = res
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (
            res.status().as_u16(),
            encoding,
            res.text().await.unwrap_or_default(),
        )
    };
    assert_eq!(
        get("/pkg/flotilla.wasm", "gzip, deflate, br").await,
        (200, "br".into(), "brotli wasm".into())
    );
    assert_eq!(
        get("/pkg/flotilla.wasm", "gzip").await,
        (200, "gzip".into(), "gzip wasm".into())
    );
    assert_eq!(
        get("/pkg/flotilla.wasm", "identity").await,
        (200, String::new(), "raw wasm".into())
    );
    // Without a compressed copy the file goes as it is.
    assert_eq!(
        get("/pkg/flotilla.css", "br").await,
        (200, String::new(), "raw css".into())
    );
    assert_eq!(get("/pkg/missing.js", "br").await.0, 404);
    panel.shutdown().await.expect("clean shutdown");
}

/// An agent given several panel URLs (panel replicas) moves on from one it cannot reach to the
/// next: it enrols there and comes online.
#[tokio::test]
async fn an_agent_given_several_panel_urls_moves_on_to_one_that_answers() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let (status, body) = panel
        .call(
            Some(&admin),
            "create_key",
            &[("label", "replicas"), ("expires_in_hours", "1")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).expect("json");
    let key = created["secret"].as_str().expect("secret").to_owned();
    // A port nobody listens on: the first URL is refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("machine-id"), "feedfacefeedface\n").expect("write");
    std::fs::write(dir.path().join("firmware"), "fw-1\n").expect("write");
    let urls = format!("http://{dead}, http://{}", panel.addr);
    let config = agent::Config {
        panel: std::sync::Arc::new(agent::endpoint::Panels::parse(&urls, None).expect("urls")),
        enrolment_key: Some(key),
        state_dir: dir.path().join("state"),
        docker_host: "unix:///nonexistent/docker.sock".into(),
        machine_id_file: dir.path().join("machine-id"),
        firmware_version_file: dir.path().join("firmware"),
        firmware_installer: None,
        disk_path: dir.path().to_path_buf(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(async move { agent::link::run(&config, stopped).await });
    let mut online = 0;
    for _ in 0..150 {
        online = panel.online_count(&admin).await;
        if online == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(online, 1, "the agent came online through the second URL");
    stop.send(true).expect("agent listens");
    agent
        .await
        .expect("joins")
        .expect("the agent stops cleanly");
    panel.shutdown().await.expect("clean shutdown");
}

/// A graceful shutdown with agents connected ends their sessions first and stores the last-seen
/// time of every one of them — what each said last, not its hello — before the store closes.
#[tokio::test]
async fn a_graceful_shutdown_stores_every_connected_agents_last_seen_time() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let key = panel.create_key(&admin).await;
    let mut agents = vec![];
    // Eight: more enrolments from one address in a row are throttled.
    for i in 0..8 {
        let host = format!("edge-{i}");
        let (node, token) = panel.enrolled(&key, &host).await;
        let mut ws = panel.connect(&token).await.expect("connects");
        hello(&mut ws, &host).await;
        agents.push((node, ws));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let beat_at = control::secret::now_ms();
    for (_, ws) in &mut agents {
        ws.send(Message::text(
            Envelope::new("2", AgentMessage::Heartbeat).encode(),
        ))
        .await
        .expect("heartbeat");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(panel.online_count(&admin).await, 8);
    let (stopped, _files, url) = panel.shutdown_keeping_data().await;
    stopped.expect("clean shutdown");
    for (node, ws) in &mut agents {
        tokio::time::timeout(Duration::from_secs(5), close_code(ws))
            .await
            .unwrap_or_else(|_| panic!("{node}: the session was not closed"));
    }
    let store = control::store::Store::open(&url).await.expect("reopens");
    for (node, _) in &agents {
        let seen = store
            .node_by_id(node)
            .await
            .expect("query")
            .expect("row")
            .last_seen_at;
        assert!(
            seen.is_some_and(|t| t >= beat_at),
            "{node}: last seen {seen:?}, the heartbeat came at {beat_at}"
        );
    }
    store.close().await;
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
    // A hand-edited list URL: each parameter is named when it is wrong.
    for (field, value) in [
        ("page", "0"),
        ("per_page", "5000"),
        ("sort", "engine"),
        ("dir", "sideways"),
        ("status", "asleep"),
    ] {
        let (status, body) = panel
            .call(Some(&admin), "list_nodes", &[(field, value)])
            .await;
        assert_eq!(status, 422, "{field}: {body}");
        assert!(body.contains(&format!("\"field\":\"{field}\"")), "{body}");
    }
    let (status, body) = panel
        .call(
            Some(&admin),
            "list_nodes",
            &[("q", "edge"), ("status", "online"), ("page", "3")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"matched\":0"), "{body}");
    panel.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn agents_enrol_connect_and_a_malformed_frame_closes_only_that_connection() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let key = panel.create_key(&admin).await;

    assert_eq!(
        panel.enrol("flt_ek_wrong", "x").await,
        EnrolResponse::Refused {
            reason: "unknown enrolment key".into()
        }
    );
    assert_eq!(
        panel.connect("flt_nt_forged").await.err(),
        Some(401),
        "a wrong token is refused"
    );
    assert_eq!(panel.connect("").await.err(), Some(401));

    let EnrolResponse::Enrolled { token: t1, .. } = panel.enrol(&key, "edge-1").await else {
        panic!("refused")
    };
    let EnrolResponse::Enrolled { token: t2, .. } = panel.enrol(&key, "edge-2").await else {
        panic!("refused")
    };
    let mut a1 = panel.connect(&t1).await.expect("connects");
    let mut a2 = panel.connect(&t2).await.expect("connects");
    hello(&mut a1, "edge-1").await;
    hello(&mut a2, "edge-2").await;
    assert_eq!(panel.online_count(&admin).await, 2);

    a1.send(Message::text(
        "{\"v\":1,\"id\":\"2\",\"kind\":\"self_destruct\"}",
    ))
    .await
    .expect("send");
    assert_eq!(close_code(&mut a1).await, Some(1008));

    a2.send(Message::text(
        Envelope::new("2", AgentMessage::Heartbeat).encode(),
    ))
    .await
    .expect("still connected");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        panel.online_count(&admin).await,
        1,
        "only the misbehaving agent went offline"
    );

    // Shutdown closes the remaining agent session with "restarting" and still stops in time.
    let stopping = tokio::spawn(panel.shutdown());
    assert_eq!(close_code(&mut a2).await, Some(1012));
    stopping.await.expect("joins").expect("clean shutdown");
}

#[tokio::test]
async fn a_silent_agent_goes_offline_within_three_heartbeats() {
    let panel = Panel::start().await;
    let admin = panel.login("admin", ADMIN_PASSWORD).await;
    let key = panel.create_key(&admin).await;
    let EnrolResponse::Enrolled { token, .. } = panel.enrol(&key, "edge-1").await else {
        panic!("refused")
    };
    let mut ws = panel.connect(&token).await.expect("connects");
    hello(&mut ws, "edge-1").await;
    assert_eq!(panel.online_count(&admin).await, 1);
    // Heartbeat is 1 s here; say nothing for a while (the socket stays open).
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(panel.online_count(&admin).await, 0);
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
