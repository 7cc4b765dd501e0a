//! The real panel on an ephemeral port, for the server's integration tests: HTTP calls of
//! server functions with a session cookie, sign-in, enrolment keys, and agents over real
//! WebSockets. Every test binary of this crate uses it (`mod support;`).
#![allow(dead_code)] // each test binary uses a different part of it

use std::net::SocketAddr;
use std::time::Duration;

use domain::protocol::{self, AgentMessage, EnrolResponse, Envelope, PanelMessage};
use futures_util::{SinkExt, StreamExt};
use leptos::config::LeptosOptions;
use server::{Args, Settings, launch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub use control::testing::ADMIN_PASSWORD;

/// What talks to a panel over HTTP and WebSockets: the panel itself, or a proxy in front of
/// panel replicas.
pub struct Client {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

pub struct Panel {
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), server::ServerError>>,
    database_url: String,
    _dir: tempfile::TempDir,
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Panel {
    pub async fn start() -> Panel {
        Self::start_with(|_| {}).await
    }

    /// Starts a panel whose arguments `adjust` may change (limits, proxies…).
    pub async fn start_with(adjust: impl FnOnce(&mut Args)) -> Panel {
        Self::start_serving(adjust, "target/site").await
    }

    /// Starts a panel that serves the site files under `site_root`.
    pub async fn start_serving(adjust: impl FnOnce(&mut Args), site_root: &str) -> Panel {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let database_url = control::testing::scratch_url(dir.path()).await;
        let mut args = Args {
            data_dir: Some(dir.path().to_path_buf()),
            database_url: Some(database_url.clone()),
            admin_password: Some(ADMIN_PASSWORD.into()),
            heartbeat_secs: Some(1),
            ..Default::default()
        };
        adjust(&mut args);
        let database_url = args.database_url.clone().unwrap_or(database_url);
        let settings = Settings::resolve(args, addr).expect("settings");
        let options = LeptosOptions::builder()
            .output_name("flotilla")
            .site_root(site_root)
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
            client: Client { addr, http },
            stop: Some(stop),
            task,
            database_url,
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

    /// Another panel process on this one's database and master key: a replica (PostgreSQL).
    pub async fn replica(&self) -> Panel {
        assert!(
            self.database_url.starts_with("postgres"),
            "replicas need PostgreSQL: set FLOTILLA_TEST_POSTGRES_URL (./dev test does)"
        );
        let database_url = self.database_url.clone();
        let key_file = self.data_dir().join("master.key");
        Self::start_with(|args| {
            args.database_url = Some(database_url);
            args.key_file = Some(key_file);
        })
        .await
    }

    /// The panel's data directory (firmware artifacts live under `firmware/`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub async fn shutdown(self) -> Result<(), server::ServerError> {
        self.shutdown_keeping_data().await.0
    }

    /// Shuts the panel down and hands back its files and its database, to look at what it left.
    pub async fn shutdown_keeping_data(
        mut self,
    ) -> (Result<(), server::ServerError>, tempfile::TempDir, String) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops in time")
            .expect("joins");
        (result, self._dir, self.database_url)
    }
}

impl std::ops::Deref for Panel {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Client {
    /// A client of whatever listens at `addr` (a proxy in front of replicas).
    pub fn at(addr: SocketAddr) -> Client {
        Client {
            addr,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Calls a server function with a form body; returns the status and the body.
    pub async fn call(
        &self,
        cookie: Option<&str>,
        name: &str,
        form: &[(&str, &str)],
    ) -> (u16, String) {
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

    /// Calls a server function with a raw body of the given content type.
    pub async fn call_raw(
        &self,
        cookie: Option<&str>,
        name: &str,
        content_type: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> (u16, String) {
        let mut req = self
            .http
            .post(self.url(&format!("/api/{name}")))
            .header("Accept", "application/json")
            .header("Content-Type", content_type)
            .body(body.to_owned());
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request");
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }

    /// Signs in and returns the `name=value` cookie pair.
    pub async fn login(&self, username: &str, password: &str) -> String {
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

    /// Creates a user as the Administrator and signs them in.
    pub async fn user(&self, admin: &str, name: &str, role: &str) -> (String, String) {
        let (status, body) = self
            .call(
                Some(admin),
                "create_user",
                &[
                    ("username", name),
                    ("password", "long password 1"),
                    ("role", role),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let id = serde_json::from_str::<serde_json::Value>(&body).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        (id, self.login(name, "long password 1").await)
    }

    /// An enrolment key without a use limit.
    pub async fn create_key(&self, cookie: &str) -> String {
        let (status, body) = self
            .call(
                Some(cookie),
                "create_key",
                &[
                    ("label", "test"),
                    ("expires_in_hours", "1"),
                    ("max_uses", "0"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let created: serde_json::Value = serde_json::from_str(&body).expect("json");
        created["secret"].as_str().expect("secret").to_owned()
    }

    pub async fn enrol(&self, key: &str, host: &str) -> EnrolResponse {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/agent/v1/enrol", self.addr))
                .await
                .expect("ws");
        let req = control::testing::enrol_request(key, host);
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

    /// Enrols `host` and returns its node id and token.
    pub async fn enrolled(&self, key: &str, host: &str) -> (String, String) {
        match self.enrol(key, host).await {
            EnrolResponse::Enrolled { node_id, token, .. } => (node_id, token),
            EnrolResponse::Refused { reason } => panic!("enrolment refused: {reason}"),
        }
    }

    pub async fn connect(&self, token: &str) -> Result<Socket, u16> {
        let mut req = format!("ws://{}/agent/v1/connect", self.addr)
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

    pub async fn online_count(&self, cookie: &str) -> usize {
        let (_, body) = self.call(Some(cookie), "list_nodes", &[]).await;
        body.matches("\"Online\"").count()
    }
}

/// Says hello as `host` (machine id `machine-<host>`) and waits for the welcome.
pub async fn hello(ws: &mut Socket, host: &str) {
    let facts = control::testing::facts(host, None);
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

/// The close frame the panel ends a session with.
pub async fn close_code(ws: &mut Socket) -> Option<u16> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            _ => break None,
        }
    }
}
