//! Socket.IO v5 over one WebSocket (Engine.IO v4), as much as the gateway's
//! clients use: the namespace CONNECT with `auth` (its answer carries our
//! socket id; a refusal is a CONNECT_ERROR packet), events, acks, the
//! heartbeat and disconnection.
//!
//! Written here rather than taken from rust_socketio 0.6, which drops the
//! CONNECT packet's `sid` (so `client_id()` could not be known before a
//! join), reports a refusal only as error text, and reconnects on its own
//! terms. The protocol parts are small: <https://socket.io/docs/v4/socket-io-protocol/>.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::error::SignalingError;

/// Frames waiting to be written before `emit` waits.
const OUT_QUEUE: usize = 256;
/// Acks awaited at once (each request waits for its own, with a timeout).
const MAX_PENDING_ACKS: usize = 1024;

/// What the socket hands up: events, then one `Closed`.
#[derive(Debug)]
pub(crate) enum Incoming {
    Event { name: String, payload: Value },
    Closed { reason: String },
}

type Acks = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A connected socket. Cheap to clone; dropping every clone does not close
/// it (call [`Socket::disconnect`]).
#[derive(Clone)]
pub(crate) struct Socket {
    /// The socket id the gateway gave us in its CONNECT packet.
    pub sid: String,
    out: mpsc::Sender<Outgoing>,
    acks: Acks,
    next_ack: Arc<AtomicU64>,
}

enum Outgoing {
    Frame(String),
    Close,
}

/// Packet types of Socket.IO v5.
const CONNECT: u8 = b'0';
const DISCONNECT: u8 = b'1';
const EVENT: u8 = b'2';
const ACK: u8 = b'3';
const CONNECT_ERROR: u8 = b'4';

impl Socket {
    /// Opens `url` (`http(s)://host:port`), sends the CONNECT with `auth` and
    /// waits for the gateway's answer. Incoming events go to `events`, which
    /// the socket's reader waits on when full.
    pub async fn connect(
        url: &str,
        auth: &Value,
        timeout: Duration,
        events: mpsc::Sender<Incoming>,
    ) -> Result<Socket, SignalingError> {
        let ws_url = websocket_url(url)?;
        let (mut ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(ws_url))
            .await
            .map_err(|_| SignalingError::Timeout("the handshake"))?
            .map_err(|e| SignalingError::Transport(e.to_string()))?;

        let handshake = async {
            let open = next_text(&mut ws).await?;
            let heartbeat = Heartbeat::from_open(&open)?;
            ws.send(Message::text(
                format!("4{}", char::from(CONNECT)) + &auth.to_string(),
            ))
            .await
            .map_err(transport)?;
            loop {
                let frame = next_text(&mut ws).await?;
                match frame.as_bytes() {
                    [b'2'] => ws.send(Message::text("3")).await.map_err(transport)?,
                    [b'4', CONNECT, ..] => {
                        let sid = serde_json::from_str::<Value>(&frame[2..])
                            .ok()
                            .and_then(|v| v.get("sid").and_then(Value::as_str).map(str::to_owned))
                            .ok_or_else(|| {
                                SignalingError::Transport(format!("CONNECT without a sid: {frame}"))
                            })?;
                        return Ok((sid, heartbeat));
                    }
                    [b'4', CONNECT_ERROR, ..] => {
                        return Err(SignalingError::ConnectRefused {
                            message: refusal_message(&frame[2..]),
                        });
                    }
                    _ => tracing::debug!(%frame, "frame before CONNECT ignored"),
                }
            }
        };
        let (sid, heartbeat) = match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                let _ = ws.close(None).await;
                return Err(e);
            }
            Err(_) => {
                let _ = ws.close(None).await;
                return Err(SignalingError::Timeout("the namespace connection"));
            }
        };

        let (out, out_rx) = mpsc::channel(OUT_QUEUE);
        let acks: Acks = Arc::default();
        tokio::spawn(run(ws, out_rx, acks.clone(), events, heartbeat));
        Ok(Socket {
            sid,
            out,
            acks,
            next_ack: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Emits `event` with `payload`.
    pub async fn emit(&self, event: &str, payload: &Value) -> Result<(), SignalingError> {
        self.send(format!("42{}", event_body(event, payload))).await
    }

    /// Emits `event` and waits (at most `timeout`) for the ack's arguments.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        payload: &Value,
        timeout: Duration,
    ) -> Result<Value, SignalingError> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
            if acks.len() >= MAX_PENDING_ACKS {
                return Err(SignalingError::Transport(
                    "too many requests in flight".into(),
                ));
            }
            acks.insert(id, tx);
        }
        let sent = self
            .send(format!("42{id}{}", event_body(event, payload)))
            .await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(timeout, rx).await,
            Err(e) => {
                self.forget_ack(id);
                return Err(e);
            }
        };
        match answer {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(SignalingError::Closed),
            Err(_) => {
                self.forget_ack(id);
                Err(SignalingError::Timeout("an ack"))
            }
        }
    }

    /// Sends DISCONNECT and closes the WebSocket.
    pub async fn disconnect(&self) {
        let _ = self.out.send(Outgoing::Frame("41".into())).await;
        let _ = self.out.send(Outgoing::Close).await;
    }

    async fn send(&self, frame: String) -> Result<(), SignalingError> {
        self.out
            .send(Outgoing::Frame(frame))
            .await
            .map_err(|_| SignalingError::Closed)
    }

    fn forget_ack(&self, id: u64) {
        self.acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

fn event_body(event: &str, payload: &Value) -> String {
    Value::Array(vec![Value::String(event.to_owned()), payload.clone()]).to_string()
}

fn transport(e: tokio_tungstenite::tungstenite::Error) -> SignalingError {
    SignalingError::Transport(e.to_string())
}

/// `http://h:p/…` → `ws://h:p/socket.io/?EIO=4&transport=websocket`.
fn websocket_url(url: &str) -> Result<String, SignalingError> {
    let mut u =
        url::Url::parse(url).map_err(|e| SignalingError::Transport(format!("{url}: {e}")))?;
    let scheme = match u.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(SignalingError::Transport(format!(
                "unsupported scheme {other}"
            )));
        }
    };
    u.set_scheme(scheme)
        .map_err(|_| SignalingError::Transport(format!("bad url {url}")))?;
    u.set_path("/socket.io/");
    u.set_query(Some("EIO=4&transport=websocket"));
    Ok(u.into())
}

/// The message of a CONNECT_ERROR's data: `{"message":"Unauthorized"}` →
/// `Unauthorized`.
fn refusal_message(data: &str) -> String {
    match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(o)) => o
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or(data)
            .to_owned(),
        Ok(Value::String(s)) => s,
        _ => data.to_owned(),
    }
}

/// The Engine.IO heartbeat: the server pings every `interval`; a connection
/// silent for `interval + timeout` is dead.
struct Heartbeat {
    silence: Duration,
}

impl Heartbeat {
    fn from_open(open: &str) -> Result<Self, SignalingError> {
        let body = open.strip_prefix('0').ok_or_else(|| {
            SignalingError::Transport(format!("expected an Engine.IO OPEN, got {open}"))
        })?;
        let v: Value =
            serde_json::from_str(body).map_err(|e| SignalingError::Transport(e.to_string()))?;
        let ms = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(25_000);
        Ok(Self {
            silence: Duration::from_millis(ms("pingInterval") + ms("pingTimeout")),
        })
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_text(ws: &mut Ws) -> Result<String, SignalingError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => return Err(SignalingError::Closed),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(transport(e)),
        }
    }
}

/// Owns the WebSocket until it closes: writes queued frames, answers pings,
/// resolves acks, hands events up, and finally reports why it closed.
async fn run(
    mut ws: Ws,
    mut out: mpsc::Receiver<Outgoing>,
    acks: Acks,
    events: mpsc::Sender<Incoming>,
    heartbeat: Heartbeat,
) {
    let reason = loop {
        tokio::select! {
            frame = out.recv() => match frame {
                Some(Outgoing::Frame(f)) => {
                    if let Err(e) = ws.send(Message::text(f)).await {
                        break lost(e);
                    }
                }
                Some(Outgoing::Close) | None => {
                    let _ = ws.close(None).await;
                    break "client disconnect".to_owned();
                }
            },
            read = tokio::time::timeout(heartbeat.silence, ws.next()) => {
                let text = match read {
                    Err(_) => break "ping timeout".to_owned(),
                    Ok(None) | Ok(Some(Ok(Message::Close(_)))) => break "transport close".to_owned(),
                    Ok(Some(Err(e))) => break lost(e),
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(_))) => continue,
                };
                match on_frame(text.as_str(), &acks) {
                    Frame::Ping => {
                        if let Err(e) = ws.send(Message::text("3")).await {
                            break lost(e);
                        }
                    }
                    Frame::Event(name, payload) => {
                        if events.send(Incoming::Event { name, payload }).await.is_err() {
                            let _ = ws.close(None).await;
                            break "client disconnect".to_owned();
                        }
                    }
                    Frame::Disconnect => break "server disconnect".to_owned(),
                    Frame::Close => break "transport close".to_owned(),
                    Frame::Other => {}
                }
            }
        }
    };
    // Pending requests end with `Closed`.
    acks.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let _ = events.send(Incoming::Closed { reason }).await;
}

/// The reason a broken WebSocket is reported with, in socket.io-client's
/// words: `transport close` when the connection went away (reset, EOF),
/// `transport error` for anything else.
fn lost(e: tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    tracing::debug!(error = %e, "signaling connection lost");
    match e {
        E::ConnectionClosed
        | E::AlreadyClosed
        | E::Io(_)
        | E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => "transport close".into(),
        _ => "transport error".into(),
    }
}

enum Frame {
    Ping,
    Event(String, Value),
    Disconnect,
    Close,
    Other,
}

/// One Engine.IO text frame. Acks are resolved here.
fn on_frame(text: &str, acks: &Acks) -> Frame {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b'2') => return Frame::Ping,
        Some(b'1') => return Frame::Close,
        Some(b'4') => {}
        _ => return Frame::Other,
    }
    let Some(&kind) = bytes.get(1) else {
        return Frame::Other;
    };
    // `<digits>` (an ack id) then the JSON array; the default namespace has
    // no `/nsp,` prefix.
    let rest = &text[2..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (id, json) = rest.split_at(digits);
    match kind {
        EVENT => match serde_json::from_str::<Value>(json) {
            Ok(Value::Array(mut args)) if !args.is_empty() => match args.remove(0) {
                Value::String(name) => {
                    let payload = if args.is_empty() {
                        Value::Null
                    } else {
                        args.swap_remove(0)
                    };
                    Frame::Event(name, payload)
                }
                _ => Frame::Other,
            },
            _ => Frame::Other,
        },
        ACK => {
            let Ok(id) = id.parse::<u64>() else {
                return Frame::Other;
            };
            let waiting = acks.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            if let (Some(tx), Ok(args)) = (waiting, serde_json::from_str::<Value>(json)) {
                let _ = tx.send(args);
            }
            Frame::Other
        }
        DISCONNECT => Frame::Disconnect,
        _ => Frame::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_the_websocket_endpoint() {
        assert_eq!(
            websocket_url("http://127.0.0.1:3000").ok().as_deref(),
            Some("ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket")
        );
        assert_eq!(
            websocket_url("https://gw.example/app").ok().as_deref(),
            Some("wss://gw.example/socket.io/?EIO=4&transport=websocket")
        );
        assert!(websocket_url("ftp://x").is_err());
    }

    #[test]
    fn frames_are_read_as_socket_io_v5() {
        let acks: Acks = Arc::default();
        let (tx, mut rx) = oneshot::channel();
        acks.lock().expect("lock").insert(7, tx);
        assert!(matches!(on_frame("2", &acks), Frame::Ping));
        assert!(
            matches!(on_frame(r#"42["peer:left",{"peerId":"x"}]"#, &acks), Frame::Event(n, p) if n == "peer:left" && p["peerId"] == "x")
        );
        assert!(
            matches!(on_frame(r#"42["pong"]"#, &acks), Frame::Event(n, Value::Null) if n == "pong")
        );
        assert!(matches!(
            on_frame(r#"437[{"ok":true}]"#, &acks),
            Frame::Other
        ));
        assert_eq!(
            rx.try_recv().ok(),
            Some(serde_json::json!([{ "ok": true }]))
        );
        assert!(matches!(on_frame("41", &acks), Frame::Disconnect));
        assert!(matches!(on_frame("1", &acks), Frame::Close));
        assert!(matches!(on_frame("42not json", &acks), Frame::Other));
        assert!(matches!(on_frame("6", &acks), Frame::Other));
    }

    #[test]
    fn refusals_and_heartbeats_are_read() {
        assert_eq!(
            refusal_message(r#"{"message":"Unauthorized"}"#),
            "Unauthorized"
        );
        assert_eq!(refusal_message(r#""plain""#), "plain");
        let hb = Heartbeat::from_open(r#"0{"sid":"e","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#)
            .ok()
            .map(|h| h.silence);
        assert_eq!(hb, Some(Duration::from_millis(500)));
        assert!(Heartbeat::from_open("4x").is_err());
    }
}
