//! Test support: the real gateway on a free loopback port, and a minimal
//! Socket.IO v5 client that speaks the wire directly (so tests see exactly the
//! packets the gateway sends, `connect_error` included).

#![allow(dead_code)]

pub mod app_api;
pub mod app_db;
pub mod cluster;
pub mod polling;
pub mod process;
pub mod redis_server;
pub mod tcp_proxy;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "integration-test-secret";
const WAIT: Duration = Duration::from_secs(5);

/// A gateway serving on 127.0.0.1, stopped on drop.
pub struct TestGateway {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl TestGateway {
    pub async fn start(config: gateway::Config) -> Self {
        let gw = gateway::Gateway::build(&config)
            .await
            .expect("gateway builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            gw.serve(listener, async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        Self {
            addr,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Graceful stop, waiting until the server has let go of everything.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), done).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Defaults with a known secret, a fresh data directory and fast shutdown.
pub fn config(data_dir: &std::path::Path) -> gateway::Config {
    let mut cfg = gateway::Config::defaults();
    cfg.auth.jwt_secret = Some(SECRET.into());
    cfg.auth.data_dir = data_dir.into();
    cfg.http.shutdown_grace = Duration::from_secs(2);
    cfg
}

/// Test user `n`: id `u{n}`, name `user{n}`, connected to `addr` with its token.
pub async fn numbered_client(addr: SocketAddr, n: u32) -> SioClient {
    SioClient::connect(
        addr,
        json!({ "token": token(&format!("u{n}"), &format!("user{n}")) }),
        &[],
    )
    .await
    .expect("connects")
}

/// The peer ids a `room:joined` payload lists.
pub fn peer_ids(joined: &Value) -> Vec<String> {
    joined["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub fn token(sub: &str, username: &str) -> String {
    let claims = json!({ "sub": sub, "username": username, "exp": jsonwebtoken::get_current_timestamp() + 300 });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

/// A Socket.IO client on the WebSocket transport.
pub struct SioClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub sid: String,
    next_ack: u64,
    /// Events received while waiting for something else.
    pending: Vec<(String, Value)>,
}

impl SioClient {
    /// Connects with `auth` in the CONNECT packet and extra handshake headers.
    /// `Err(message)` is the `connect_error` message.
    pub async fn connect(
        addr: SocketAddr,
        auth: Value,
        headers: &[(&str, &str)],
    ) -> Result<Self, String> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let mut req = url.into_client_request().expect("request");
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                v.parse().expect("header value"),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| e.to_string())?;
        Self::handshake(ws, auth).await
    }

    /// Connects from `local`, another loopback address (`127.0.0.2` …), as a
    /// second client machine would.
    pub async fn connect_from(
        addr: SocketAddr,
        local: IpAddr,
        auth: Value,
    ) -> Result<Self, String> {
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .bind(SocketAddr::new(local, 0))
            .map_err(|e| e.to_string())?;
        let tcp = socket.connect(addr).await.map_err(|e| e.to_string())?;
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .map_err(|e| e.to_string())?;
        Self::handshake(ws, auth).await
    }

    async fn handshake(
        mut ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
        auth: Value,
    ) -> Result<Self, String> {
        let open = next_text(&mut ws).await.ok_or("no open packet")?;
        assert!(open.starts_with('0'), "engine open packet, got {open}");
        ws.send(Message::text(format!("40{auth}")))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let packet = next_text(&mut ws).await.ok_or("closed during connect")?;
            if let Some(body) = packet.strip_prefix("40") {
                let sid = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v["sid"].as_str().map(str::to_owned));
                let sid = sid.ok_or("CONNECT without sid")?;
                return Ok(Self {
                    ws,
                    sid,
                    next_ack: 0,
                    pending: Vec::new(),
                });
            }
            if let Some(body) = packet.strip_prefix("44") {
                let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
                return Err(v["message"].as_str().unwrap_or_default().to_owned());
            }
            if packet == "2" {
                ws.send(Message::text("3"))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }

    pub async fn emit(&mut self, event: &str, data: Value) {
        let packet = format!("42{}", json!([event, data]));
        self.ws.send(Message::text(packet)).await.expect("send");
    }

    /// Emits with an ack and returns the ack's first argument; events received
    /// meanwhile are dropped (see [`SioClient::call`] to keep them).
    pub async fn emit_with_ack(&mut self, event: &str, data: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet = format!("42{id}{}", json!([event, data]));
        self.ws.send(Message::text(packet)).await.expect("send");
        let prefix = format!("43{id}");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let packet = tokio::time::timeout_at(deadline, self.read())
                .await
                .expect("ack in time")
                .expect("open");
            if let Some(body) = packet.strip_prefix(&prefix) {
                let args: Value = serde_json::from_str(body).expect("ack json");
                return args[0].clone();
            }
        }
    }

    /// Emits with an ack and returns the ack's first argument; events received
    /// meanwhile are kept for [`SioClient::next`].
    pub async fn call(&mut self, event: &str, data: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet = format!("42{id}{}", json!([event, data]));
        self.ws.send(Message::text(packet)).await.expect("send");
        let prefix = format!("43{id}");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let packet = tokio::time::timeout_at(deadline, self.read())
                .await
                .expect("ack in time")
                .expect("open");
            if let Some(body) = packet.strip_prefix(&prefix) {
                let args: Value = serde_json::from_str(body).expect("ack json");
                return args[0].clone();
            }
            // Events that came first are kept for `next`.
            if let Some(body) = packet.strip_prefix("42") {
                let v: Value = serde_json::from_str(body).expect("event json");
                let name = v[0].as_str().unwrap_or_default().to_owned();
                self.pending.push((name, v[1].clone()));
            }
        }
    }

    /// The next `event`'s payload (other events are kept for later).
    pub async fn next(&mut self, event: &str) -> Value {
        if let Some(i) = self.pending.iter().position(|(e, _)| e == event) {
            return self.pending.remove(i).1;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let packet = tokio::time::timeout_at(deadline, self.read())
                .await
                .unwrap_or_else(|_| panic!("no {event} in time"))
                .expect("open");
            if let Some(body) = packet.strip_prefix("42") {
                let v: Value = serde_json::from_str(body).expect("event json");
                let name = v[0].as_str().unwrap_or_default().to_owned();
                if name == event {
                    return v[1].clone();
                }
                self.pending.push((name, v[1].clone()));
            }
        }
    }

    /// The next `event`'s payload if it comes within `limit` (others are kept).
    pub async fn next_within(&mut self, event: &str, limit: Duration) -> Option<Value> {
        if let Some(i) = self.pending.iter().position(|(e, _)| e == event) {
            return Some(self.pending.remove(i).1);
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let packet = tokio::time::timeout_at(deadline, self.read())
                .await
                .ok()??;
            if let Some(body) = packet.strip_prefix("42") {
                let v: Value = serde_json::from_str(body).expect("event json");
                let name = v[0].as_str().unwrap_or_default().to_owned();
                if name == event {
                    return Some(v[1].clone());
                }
                self.pending.push((name, v[1].clone()));
            }
        }
    }

    /// Sends raw Socket.IO packets (`42["ping"]`, …) in one write, so that the
    /// gateway reads them together.
    pub async fn send_together(&mut self, packets: &[String]) {
        for p in packets {
            self.ws.feed(Message::text(p.clone())).await.expect("send");
        }
        self.ws.flush().await.expect("flush");
    }

    /// The next raw packet, pings answered.
    pub async fn next_packet(&mut self) -> String {
        tokio::time::timeout(WAIT, self.read())
            .await
            .expect("a packet in time")
            .expect("open")
    }

    /// True when the server closes the connection within `limit`.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            while let Some(packet) = self.read().await {
                if packet.starts_with("41") {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }

    /// Sends one Engine.IO packet as it is (`42[…]`, `451-[…]` …).
    pub async fn send_raw(&mut self, packet: &str) {
        self.ws.send(Message::text(packet)).await.expect("send");
    }

    /// Sends a binary frame (a Socket.IO attachment).
    pub async fn send_binary(&mut self, data: Vec<u8>) -> Result<(), String> {
        self.ws
            .send(Message::binary(data))
            .await
            .map_err(|e| e.to_string())
    }

    /// The next packet (pings are answered), `None` once closed.
    pub async fn recv(&mut self) -> Option<String> {
        self.read().await
    }

    async fn read(&mut self) -> Option<String> {
        loop {
            let packet = next_text(&mut self.ws).await?;
            if packet == "2" {
                self.ws.send(Message::text("3")).await.ok()?;
                continue;
            }
            return Some(packet);
        }
    }
}

async fn next_text(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> Option<String> {
    while let Some(msg) = ws.next().await {
        match msg.ok()? {
            Message::Text(t) => return Some(t.to_string()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

/// Where a test's accounts live.
pub enum Store {
    /// The default: a SQLite file in the data directory.
    Sqlite,
    /// A throwaway PostgreSQL database.
    Postgres,
}

/// Runs `scenario` with a gateway configuration on `store`, then drops the
/// database; returns the data directory for further checks.
pub async fn on_store<F, Fut>(store: Store, scenario: F) -> tempfile::TempDir
where
    F: FnOnce(gateway::Config) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(dir.path());
    match store {
        Store::Sqlite => scenario(config).await,
        Store::Postgres => {
            let db = PgDatabase::create().await;
            config.auth.database_url = Some(db.url.clone());
            scenario(config).await;
            db.drop_now().await;
        }
    }
    dir
}

/// A throwaway PostgreSQL database, dropped by [`PgDatabase::drop_now`].
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    /// Creates a fresh database on the server of `TEST_POSTGRES_URL`
    /// (default: the local server, trust auth).
    pub async fn create() -> Self {
        use sqlx::Connection;
        let admin_url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "gateway_test_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL reachable (scripts/services.sh starts it)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }

    pub async fn drop_now(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}
