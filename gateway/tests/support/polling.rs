//! A Socket.IO client on Engine.IO's long-polling transport, speaking the
//! wire directly (GET receives packets separated by 0x1e, POST sends them),
//! with the upgrade to WebSocket as socket.io-client performs it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Polling {
    http: reqwest::Client,
    addr: SocketAddr,
    /// The Engine.IO session id (also the Socket.IO socket id).
    pub sid: String,
}

/// What a refused request answered.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

impl Polling {
    /// The Engine.IO handshake (`GET …&transport=polling` without `sid`).
    pub async fn open(addr: SocketAddr) -> Result<Self, Refused> {
        Self::open_from(addr, None).await
    }

    /// The same, from the loopback address `local`.
    pub async fn open_from(addr: SocketAddr, local: Option<IpAddr>) -> Result<Self, Refused> {
        Self::open_with(addr, local, &[]).await
    }

    /// The same, with extra headers on every request (`X-Forwarded-For` …).
    pub async fn open_with(
        addr: SocketAddr,
        local: Option<IpAddr>,
        headers: &[(&str, &str)],
    ) -> Result<Self, Refused> {
        let mut defaults = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            defaults.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        let http = reqwest::Client::builder()
            .local_address(local)
            .default_headers(defaults)
            .timeout(Duration::from_secs(40))
            .build()
            .expect("client");
        let resp = http
            .get(format!("http://{addr}/socket.io/?EIO=4&transport=polling"))
            .send()
            .await
            .expect("handshake request");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if status != 200 {
            return Err(Refused { status, body });
        }
        let open: Value =
            serde_json::from_str(body.strip_prefix('0').expect("open packet")).expect("open json");
        Ok(Self {
            http,
            addr,
            sid: open["sid"].as_str().expect("sid").to_owned(),
        })
    }

    fn url(&self) -> String {
        format!(
            "http://{}/socket.io/?EIO=4&transport=polling&sid={}",
            self.addr, self.sid
        )
    }

    /// POSTs packets; the status code.
    pub async fn post(&self, packets: &[&str]) -> u16 {
        self.http
            .post(self.url())
            .header("content-type", "text/plain;charset=UTF-8")
            .body(packets.join("\u{1e}"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// One GET: the packets it returned (pings answered), or the refusal.
    pub async fn poll(&self) -> Result<Vec<String>, Refused> {
        let resp = self
            .http
            .get(self.url())
            .send()
            .await
            .map_err(|e| Refused {
                status: 0,
                body: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if status != 200 {
            return Err(Refused { status, body });
        }
        let packets: Vec<String> = body.split('\u{1e}').map(str::to_owned).collect();
        if packets.iter().any(|p| p == "2") {
            self.post(&["3"]).await;
        }
        Ok(packets.into_iter().filter(|p| p != "2").collect())
    }

    /// Socket.IO CONNECT with `auth`: `Ok(())` on `40{sid}`, or the
    /// `connect_error` message.
    pub async fn connect(&self, auth: Value) -> Result<(), String> {
        assert_eq!(self.post(&[&format!("40{auth}")]).await, 200);
        loop {
            for packet in self.poll().await.map_err(|r| r.body)? {
                if packet.starts_with("40") {
                    return Ok(());
                }
                if let Some(body) = packet.strip_prefix("44") {
                    let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
                    return Err(v["message"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }

    /// Emits `event` with ack id `id` and polls until the ack comes: its first
    /// argument, and the events that came meanwhile.
    pub async fn emit_with_ack(&self, id: u64, event: &str, data: Value) -> (Value, Vec<Value>) {
        let packet = format!("42{id}{}", serde_json::json!([event, data]));
        assert_eq!(self.post(&[&packet]).await, 200);
        let prefix = format!("43{id}");
        let mut events = Vec::new();
        loop {
            for packet in self.poll().await.expect("poll") {
                if let Some(body) = packet.strip_prefix(&prefix) {
                    let args: Value = serde_json::from_str(body).expect("ack json");
                    return (args[0].clone(), events);
                }
                if let Some(body) = packet.strip_prefix("42") {
                    events.push(serde_json::from_str(body).expect("event json"));
                }
            }
        }
    }

    /// Upgrades the session to WebSocket (probe, then upgrade packet); the
    /// polling side is done.
    pub async fn upgrade(self) -> Ws {
        let url = format!(
            "ws://{}/socket.io/?EIO=4&transport=websocket&sid={}",
            self.addr, self.sid
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("upgrade request");
        ws.send(Message::text("2probe")).await.expect("probe");
        loop {
            match ws.next().await.expect("open").expect("frame") {
                Message::Text(t) if t.as_str() == "3probe" => break,
                _ => {}
            }
        }
        ws.send(Message::text("5")).await.expect("upgrade packet");
        ws
    }
}
