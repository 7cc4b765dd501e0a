//! Two panel replicas on one PostgreSQL behind HAProxy (the Debian package, configured as
//! docs/replicas.md shows): one sign-in serves on both, an agent held by replica A answers a
//! command issued on replica B, B's browsers see A's node go offline live, and the proxy keeps
//! serving when A stops. Needs `FLOTILLA_TEST_POSTGRES_URL` and `haproxy` (`./dev test` has both
//! in its PostgreSQL pass).
mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use domain::protocol::{self, AgentMessage, Command, Envelope, Outcome, PanelMessage};
use futures_util::{SinkExt, StreamExt};
use support::{ADMIN_PASSWORD, Client, Panel, Socket, hello};
use tokio_tungstenite::tungstenite::Message;

/// HAProxy in front of `backends`, as the example in docs/replicas.md (ports aside).
struct Haproxy {
    addr: SocketAddr,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    async fn start(backends: &[SocketAddr]) -> Haproxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("    server panel{i} {b} check inter 1s fall 2 rise 1\n"))
            .collect();
        let config = format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    option redispatch
    retries 3
frontend flotilla
    bind {addr}
    option forwardfor
    default_backend panels
backend panels
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
{servers}"
        );
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("config written");
        let child = tokio::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy runs (apt-get install haproxy; ./dev test installs it)");
        let front = Client::at(addr);
        let started = Instant::now();
        while front.http.get(front.url("/healthz")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "haproxy did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Haproxy {
            addr,
            _child: child,
            _dir: dir,
        }
    }
}

/// Waits up to 15 s for `check`.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The next command the agent receives.
async fn next_command(ws: &mut Socket) -> (String, Command) {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a command in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = frame
            && let Ok(Envelope {
                id,
                msg: PanelMessage::Command(cmd),
                ..
            }) = protocol::decode::<PanelMessage>(t.as_str())
        {
            return (id, cmd);
        }
    }
}

#[tokio::test]
async fn replicas_behind_haproxy_share_sign_in_presence_commands_and_live_updates() {
    let a = Panel::start().await;
    let b = a.replica().await;
    let proxy = Haproxy::start(&[a.addr, b.addr]).await;
    let front = Client::at(proxy.addr);

    // One sign-in through the proxy holds on both replicas (round robin alternates them).
    let cookie = front.login("admin", ADMIN_PASSWORD).await;
    for _ in 0..4 {
        let (status, body) = front.call(Some(&cookie), "list_nodes", &[]).await;
        assert_eq!(status, 200, "{body}");
    }

    // An agent enrols through the proxy and holds its session on A.
    let key = front.create_key(&cookie).await;
    let (node_id, token) = front.enrolled(&key, "edge-1").await;
    let mut ws = a.connect(&token).await.expect("connects to A");
    hello(&mut ws, "edge-1").await;
    until("B to show the node online", async || {
        b.online_count(&cookie).await == 1
    })
    .await;

    // A browser on B asks the node to refresh its facts: the command goes through A.
    let refresh = tokio::spawn({
        let b = Client::at(b.addr);
        let (cookie, node_id) = (cookie.clone(), node_id.clone());
        async move {
            b.call(Some(&cookie), "refresh_node", &[("id", &node_id)])
                .await
        }
    });
    let (id, command) = next_command(&mut ws).await;
    assert_eq!(command, Command::RefreshFacts);
    ws.send(Message::text(
        Envelope::new(id, AgentMessage::CommandResult(Outcome::DONE)).encode(),
    ))
    .await
    .expect("answer sent");
    let (status, body) = refresh.await.expect("joins");
    assert_eq!(status, 200, "the command issued on B was answered: {body}");

    // B's event stream tells its browsers when the node's session on A ends.
    let mut events = b
        .http
        .get(b.url("/events"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("event stream");
    assert_eq!(events.status(), 200);
    ws.close(None).await.expect("closes");
    let wanted = format!("{{\"topic\":\"node\",\"id\":\"{node_id}\"}}");
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(15), async {
        while !seen.contains(&wanted) {
            let chunk = events.chunk().await.expect("stream").expect("open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event for the node on B; got {seen}"));
    assert_eq!(b.online_count(&cookie).await, 0, "offline on B");
    drop(events);

    // The agent comes back through the proxy; A stops; the proxy goes on serving from B.
    let mut ws = front
        .connect(&token)
        .await
        .expect("the agent connects through the proxy");
    hello(&mut ws, "edge-1").await;
    until("both replicas to show it online", async || {
        a.online_count(&cookie).await == 1 && b.online_count(&cookie).await == 1
    })
    .await;
    a.shutdown().await.expect("A stops gracefully");
    for _ in 0..6 {
        let (status, body) = front.call(Some(&cookie), "list_nodes", &[]).await;
        assert_eq!(status, 200, "served from B: {body}");
    }
    drop(ws);
    drop(proxy);
}
