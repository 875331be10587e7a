//! The Socket.IO connection, on rust_socketio's async client: the namespace
//! CONNECT with `auth` and opening headers, events handed up in arrival
//! order, acks with a timeout, and rust_socketio's own reconnection (bounded
//! exponential backoff).
//!
//! rust_socketio reports everything through callbacks run one at a time on
//! its reader, so each callback only forwards an [`Incoming`] into one
//! bounded queue: order is kept, and a full queue holds back the reader
//! (not memory).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client as Sio, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::error::SignalingError;

/// The prefix rust_socketio 0.6 puts before a CONNECT_ERROR's data in its
/// `error` callback (it has no typed refusal).
pub(crate) const REFUSAL_PREFIX: &str = "Received an ConnectError frame: ";

/// What the connection hands up, in order.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A gateway event (its first argument).
    Event { name: String, payload: Value },
    /// The namespace is connected: the first time, or again after a drop.
    Connected,
    /// The gateway said DISCONNECT.
    ServerDisconnect,
    /// The gateway refused the namespace CONNECT (`message`, e.g.
    /// `Unauthorized`).
    Refused { message: String },
}

/// The transports rust_socketio offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// WebSocket only (no long-polling).
    #[default]
    Websocket,
    /// Long-polling only.
    Polling,
    /// Long-polling first, upgraded to WebSocket when the server offers it.
    Any,
}

/// What a connection is opened with.
pub(crate) struct Open<'a> {
    pub url: &'a str,
    pub auth: Value,
    pub headers: &'a [(String, String)],
    pub transport: Transport,
    pub reconnect: bool,
    pub reconnect_delay: (Duration, Duration),
    pub reconnect_attempts: Option<u8>,
}

/// One rust_socketio client. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connection {
    sio: Sio,
}

impl Connection {
    /// Opens the Engine.IO transport and sends the namespace CONNECT; what the
    /// gateway answers (and everything after) comes through `incoming`.
    pub async fn open(
        open: Open<'_>,
        incoming: mpsc::Sender<Incoming>,
    ) -> Result<Connection, SignalingError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut builder = ClientBuilder::new(http_url(open.url)?)
            .auth(open.auth)
            .transport_type(match open.transport {
                Transport::Websocket => TransportType::Websocket,
                Transport::Polling => TransportType::Polling,
                Transport::Any => TransportType::Any,
            })
            .reconnect(open.reconnect)
            // A gateway shutting down says DISCONNECT before it goes.
            .reconnect_on_disconnect(open.reconnect)
            .reconnect_delay(ms(open.reconnect_delay.0), ms(open.reconnect_delay.1));
        if let Some(n) = open.reconnect_attempts {
            builder = builder.max_reconnect_attempts(n);
        }
        for (name, value) in open.headers {
            builder = builder.opening_header(name.as_str(), value.as_str());
        }
        let forward = |incoming: &mpsc::Sender<Incoming>, what: fn(Payload) -> Option<Incoming>| {
            let incoming = incoming.clone();
            move |payload: Payload, _: Sio| {
                let incoming = incoming.clone();
                async move {
                    if let Some(next) = what(payload) {
                        let _ = incoming.send(next).await;
                    }
                }
                .boxed()
            }
        };
        let any = incoming.clone();
        let sio = builder
            .on(
                Event::Connect,
                forward(&incoming, |_| Some(Incoming::Connected)),
            )
            .on(
                Event::Close,
                forward(&incoming, |_| Some(Incoming::ServerDisconnect)),
            )
            .on(Event::Error, forward(&incoming, on_error))
            .on_any(move |event: Event, payload: Payload, _: Sio| {
                let any = any.clone();
                async move {
                    let name = event.as_str().to_owned();
                    let _ = any
                        .send(Incoming::Event {
                            name,
                            payload: first_arg(payload),
                        })
                        .await;
                }
                .boxed()
            })
            .connect()
            .await
            .map_err(|e| SignalingError::Transport(e.to_string()))?;
        Ok(Connection { sio })
    }

    /// Emits `event` with `payload`.
    pub async fn emit(&self, event: &str, payload: Value) -> Result<(), SignalingError> {
        self.sio
            .emit(event, payload)
            .await
            .map_err(|e| SignalingError::Transport(e.to_string()))
    }

    /// Emits `event` and waits (at most `timeout`) for the ack's arguments.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Vec<Value>, SignalingError> {
        let (tx, rx) = oneshot::channel();
        // The callback is FnMut: the sender goes out once.
        let tx = Arc::new(Mutex::new(Some(tx)));
        let callback = move |payload: Payload, _: Sio| {
            let tx = tx.lock().unwrap_or_else(|p| p.into_inner()).take();
            async move {
                if let (Some(tx), Payload::Text(args)) = (tx, payload) {
                    let _ = tx.send(ack_args(args));
                }
            }
            .boxed()
        };
        self.sio
            .emit_with_ack(event, payload, timeout, callback)
            .await
            .map_err(|e| SignalingError::Transport(e.to_string()))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(SignalingError::Closed),
            Err(_) => Err(SignalingError::Timeout("an ack")),
        }
    }

    /// Sends DISCONNECT and closes the transport; rust_socketio does not
    /// reconnect after it.
    pub async fn disconnect(&self) {
        let _ = self.sio.disconnect().await;
    }
}

/// rust_socketio's `error` callback carries three things: the gateway's own
/// `error` event (an object), a refused CONNECT (text after
/// [`REFUSAL_PREFIX`]) and transport errors (other text, logged only: a lost
/// transport shows as the reconnection that follows).
fn on_error(payload: Payload) -> Option<Incoming> {
    match first_arg(payload) {
        Value::String(text) => match text.strip_prefix(REFUSAL_PREFIX) {
            Some(data) => Some(Incoming::Refused {
                message: refusal_message(data),
            }),
            None => {
                tracing::debug!(error = %text, "signaling transport error");
                None
            }
        },
        payload => Some(Incoming::Event {
            name: "error".into(),
            payload,
        }),
    }
}

/// An ack's arguments: rust_socketio 0.6 hands the ack's whole JSON array
/// over as one value.
fn ack_args(mut args: Vec<Value>) -> Vec<Value> {
    match args.as_mut_slice() {
        [Value::Array(inner)] => std::mem::take(inner),
        _ => args,
    }
}

/// The payload an event handler sees: its first argument (the gateway sends
/// one), `null` for none.
fn first_arg(payload: Payload) -> Value {
    match payload {
        Payload::Text(mut args) if !args.is_empty() => args.swap_remove(0),
        Payload::Text(_) => Value::Null,
        #[allow(deprecated)]
        Payload::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        // The contract is binary-free JSON.
        Payload::Binary(_) => Value::Null,
    }
}

/// The message of a CONNECT_ERROR's data: `{"message":"Unauthorized"}` →
/// `Unauthorized`.
pub(crate) fn refusal_message(data: &str) -> String {
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

/// rust_socketio wants `http(s)://host:port/` (it adds `/socket.io/`).
fn http_url(url: &str) -> Result<String, SignalingError> {
    let mut u =
        url::Url::parse(url).map_err(|e| SignalingError::Transport(format!("{url}: {e}")))?;
    let scheme = match u.scheme() {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        other => {
            return Err(SignalingError::Transport(format!(
                "unsupported scheme {other}"
            )));
        }
    };
    u.set_scheme(scheme)
        .map_err(|_| SignalingError::Transport(format!("bad url {url}")))?;
    u.set_path("/");
    u.set_query(None);
    Ok(u.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_become_the_engine_io_base() {
        assert_eq!(
            http_url("ws://127.0.0.1:3000").ok().as_deref(),
            Some("http://127.0.0.1:3000/")
        );
        assert_eq!(
            http_url("https://gw.example/app?x=1").ok().as_deref(),
            Some("https://gw.example/")
        );
        assert!(http_url("ftp://x").is_err());
    }

    /// The exact text rust_socketio 0.6 reports a refused handshake with is
    /// what the typed error is read from; a release that changes it fails
    /// here rather than turning `Unauthorized` into a transport error.
    #[test]
    fn a_refusal_is_read_from_rust_socketios_error_text() {
        // Literally as vendor/rust_socketio's client.rs formats it (and
        // `churn::signaling_errors_are_typed` sees it from a real refusal).
        assert_eq!(REFUSAL_PREFIX, "Received an ConnectError frame: ");
        let text = format!("{REFUSAL_PREFIX}{}", r#"{"message":"Unauthorized"}"#);
        let seen = on_error(Payload::from(text));
        assert!(
            matches!(seen, Some(Incoming::Refused { ref message }) if message == "Unauthorized"),
            "{seen:?}"
        );
        let event = on_error(Payload::Text(vec![json!({"code":"X","message":"m"})]));
        assert!(
            matches!(event, Some(Incoming::Event { ref name, ref payload }) if name == "error" && payload["code"] == "X"),
            "{event:?}"
        );
        assert!(on_error(Payload::from("websocket closed".to_owned())).is_none());
        assert_eq!(refusal_message(r#""plain""#), "plain");
    }
}
