//! The signaling client: one Socket.IO connection to the gateway.
//!
//! [`SignalingClient::connect`] authenticates (JWT or API key), waits until the
//! namespace is really connected and returns the client together with a
//! [`SignalingEvents`] stream carrying every event the gateway sends, typed
//! ([`SignalingEvent`]). Room operations wait for the gateway's ack.

mod types;

use std::time::Duration;

use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client as SioClient, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use types::*;

/// How the connection authenticates (`docs/PROTOCOL.md` §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT, sent as `auth.token`.
    Token(String),
    /// An API key from `/register`, sent as `auth.apiKey`.
    ApiKey(String),
}

impl Credential {
    fn auth_payload(&self) -> Value {
        match self {
            Credential::Token(t) => json!({ "token": t }),
            Credential::ApiKey(k) => json!({ "apiKey": k }),
        }
    }
}

/// Failures of the signaling layer.
#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    /// The gateway refused the handshake (`connect_error`); `message` is its
    /// message, `"Unauthorized"` for a bad credential.
    #[error("connection refused: {message}")]
    ConnectRefused { message: String },
    /// The gateway could not be reached or the transport failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The gateway answered an event with `{ error: { code, message } }`.
    #[error("{code}: {message}")]
    Server { code: String, message: String },
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// An answer that does not follow the contract.
    #[error("unexpected reply to {event}: {payload}")]
    UnexpectedReply {
        event: &'static str,
        payload: String,
    },
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

impl From<rust_socketio::Error> for SignalingError {
    fn from(e: rust_socketio::Error) -> Self {
        SignalingError::Transport(e.to_string())
    }
}

/// Connection options.
#[derive(Debug, Clone)]
pub struct SignalingOptions {
    /// How long to wait for the handshake and for each ack.
    pub timeout: Duration,
}

impl Default for SignalingOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
        }
    }
}

/// The stream of events from the gateway. It ends when the connection is gone
/// (after a final [`SignalingEvent::Disconnected`]). Bounded
/// ([`crate::peer_manager::SIGNALING_QUEUE`]): the socket's reader waits while
/// it is full.
pub type SignalingEvents = mpsc::Receiver<SignalingEvent>;

/// A connected signaling client. Cheap to clone; every clone drives the same
/// socket.
#[derive(Clone)]
pub struct SignalingClient {
    socket: SioClient,
    timeout: Duration,
}

const CONNECT_ERROR_PREFIX: &str = "Received an ConnectError frame: ";

impl SignalingClient {
    /// Connects to the gateway at `url` (`http://host:port`) and waits for the
    /// namespace to be connected.
    pub async fn connect(
        url: &str,
        credential: &Credential,
        options: SignalingOptions,
    ) -> Result<(SignalingClient, SignalingEvents), SignalingError> {
        let (events_tx, events_rx) =
            mpsc::channel::<SignalingEvent>(crate::peer_manager::SIGNALING_QUEUE);
        // At most one outcome matters; later ones are dropped.
        let (conn_tx, mut conn_rx) = mpsc::channel::<Result<(), String>>(1);

        let on_connect = {
            let conn_tx = conn_tx.clone();
            move |_: Payload, _: SioClient| {
                let _ = conn_tx.try_send(Ok(()));
                async {}.boxed()
            }
        };
        let on_error = {
            let events_tx = events_tx.clone();
            let conn_tx = conn_tx.clone();
            move |payload: Payload, _: SioClient| {
                let events_tx = events_tx.clone();
                let mut errors = Vec::new();
                for value in payload_values(payload) {
                    match value {
                        Value::String(s) => match refusal(&s) {
                            Some(message) => {
                                let _ = conn_tx.try_send(Err(message));
                            }
                            // A transport error reported by the library.
                            None => tracing::debug!(error = %s, "socket.io transport error"),
                        },
                        other => errors.push(SignalingEvent::parse("error", other)),
                    }
                }
                async move {
                    for e in errors {
                        let _ = events_tx.send(e).await;
                    }
                }
                .boxed()
            }
        };
        let on_close = {
            let events_tx = events_tx.clone();
            move |_: Payload, _: SioClient| {
                let events_tx = events_tx.clone();
                async move {
                    let _ = events_tx
                        .send(SignalingEvent::Disconnected {
                            reason: "server disconnect".into(),
                        })
                        .await;
                }
                .boxed()
            }
        };
        let on_any = {
            let events_tx = events_tx.clone();
            move |event: Event, payload: Payload, _: SioClient| {
                let events_tx = events_tx.clone();
                let name = event.as_str().to_owned();
                let value = payload_values(payload).into_iter().next();
                let event = SignalingEvent::parse(&name, value.unwrap_or(Value::Null));
                async move {
                    let _ = events_tx.send(event).await;
                }
                .boxed()
            }
        };

        let connecting = ClientBuilder::new(url)
            .namespace("/")
            .auth(credential.auth_payload())
            .transport_type(TransportType::Websocket)
            .reconnect(false)
            .reconnect_on_disconnect(false)
            .on(Event::Connect, on_connect)
            .on(Event::Error, on_error)
            .on(Event::Close, on_close)
            .on_any(on_any)
            .connect();
        let socket = tokio::time::timeout(options.timeout, connecting)
            .await
            .map_err(|_| SignalingError::Timeout("the handshake"))??;

        // `connect()` returns before the namespace is connected: wait for the
        // Connect packet (or a connect_error).
        let outcome = tokio::time::timeout(options.timeout, conn_rx.recv()).await;
        match outcome {
            Ok(Some(Ok(()))) => Ok((
                SignalingClient {
                    socket,
                    timeout: options.timeout,
                },
                events_rx,
            )),
            Ok(Some(Err(message))) => {
                let _ = socket.disconnect().await;
                Err(SignalingError::ConnectRefused { message })
            }
            Ok(None) => Err(SignalingError::Closed),
            Err(_) => {
                let _ = socket.disconnect().await;
                Err(SignalingError::Timeout("the namespace connection"))
            }
        }
    }

    /// Creates a room (`create:room`); `None` lets the gateway pick a code.
    /// Creating does not join.
    pub async fn create_room(
        &self,
        room_code: Option<&str>,
        max_peers: Option<u32>,
    ) -> Result<RoomCreated, SignalingError> {
        let mut payload = serde_json::Map::new();
        if let Some(code) = room_code {
            payload.insert("roomCode".into(), json!(code));
        }
        if let Some(max) = max_peers {
            payload.insert("maxPeers".into(), json!(max));
        }
        let reply = self
            .request("create:room", Value::Object(payload), "create:room")
            .await?;
        parse_reply(reply, "create:room")
    }

    /// Joins a room (`join:room`); the reply lists the peers already there.
    pub async fn join_room(&self, room_code: &str) -> Result<RoomJoined, SignalingError> {
        let reply = self
            .request("join:room", json!({ "roomCode": room_code }), "join:room")
            .await?;
        parse_reply(reply, "join:room")
    }

    /// Leaves the current room (`leave:room`); a no-op outside a room.
    pub async fn leave_room(&self) -> Result<(), SignalingError> {
        self.request("leave:room", json!({}), "leave:room")
            .await
            .map(|_| ())
    }

    /// Application-level ping; returns the gateway's timestamp.
    pub async fn ping(&self) -> Result<String, SignalingError> {
        let reply = self.request("ping", json!({}), "ping").await?;
        Ok(reply
            .get("timestamp")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Announces the local media state (`media:state`).
    pub async fn set_media_state(&self, video: bool, audio: bool) -> Result<(), SignalingError> {
        self.request(
            "media:state",
            json!({ "isVideoEnabled": video, "isAudioEnabled": audio }),
            "media:state",
        )
        .await
        .map(|_| ())
    }

    /// Sends an offer, answer or candidate to a peer, without waiting for the
    /// ack (failures come back as [`SignalingEvent::Error`]).
    pub async fn send_signal(&self, signal: &OutgoingSignal) -> Result<(), SignalingError> {
        let (event, payload) = signal.to_wire();
        self.socket.emit(event, payload).await?;
        Ok(())
    }

    /// Emits any event, without an ack.
    pub async fn emit(&self, event: &str, payload: Value) -> Result<(), SignalingError> {
        self.socket.emit(event, payload).await?;
        Ok(())
    }

    /// Disconnects.
    pub async fn disconnect(&self) -> Result<(), SignalingError> {
        self.socket.disconnect().await?;
        Ok(())
    }

    /// Emits `event` with an ack and returns the (unwrapped) ack payload, or
    /// the gateway's `{ error }` as [`SignalingError::Server`].
    async fn request(
        &self,
        event: &'static str,
        payload: Value,
        what: &'static str,
    ) -> Result<Value, SignalingError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
        let callback = move |payload: Payload, _: SioClient| {
            // Ack payloads arrive as the array of ack arguments: unwrap it.
            let first = payload_values(payload).into_iter().next();
            let value = match first {
                Some(Value::Array(mut args)) if !args.is_empty() => args.swap_remove(0),
                Some(v) => v,
                None => Value::Null,
            };
            let _ = tx.send(value);
            async {}.boxed()
        };
        self.socket
            .emit_with_ack(event, payload, self.timeout, callback)
            .await?;
        let reply = tokio::time::timeout(self.timeout, rx.recv())
            .await
            .map_err(|_| SignalingError::Timeout(what))?
            .ok_or(SignalingError::Closed)?;
        if let Some(err) = reply.get("error") {
            let (code, message) = crate::wire::error_parts(err);
            return Err(SignalingError::Server { code, message });
        }
        Ok(reply)
    }
}

fn parse_reply<T: serde::de::DeserializeOwned>(
    reply: Value,
    event: &'static str,
) -> Result<T, SignalingError> {
    serde_json::from_value(reply.clone()).map_err(|_| SignalingError::UnexpectedReply {
        event,
        payload: reply.to_string(),
    })
}

#[allow(deprecated)]
fn payload_values(payload: Payload) -> Vec<Value> {
    match payload {
        Payload::Text(values) => values,
        Payload::String(s) => vec![serde_json::from_str(&s).unwrap_or(Value::String(s))],
        Payload::Binary(_) => Vec::new(),
    }
}

/// The one place that knows how rust_socketio reports a refused handshake:
/// it has no structural signal for a CONNECT_ERROR packet, only this text on
/// the error callback (`Received an ConnectError frame: ` + the packet's
/// data, in `asynchronous/client/client.rs` of rust_socketio 0.6). Returns the
/// gateway's message (`{"message":"Unauthorized"}` → `Unauthorized`), or
/// `None` for any other error text. The tests below pin the upstream text, and
/// `churn::signaling_errors_are_typed` checks it against the real library.
fn refusal(error_text: &str) -> Option<String> {
    let data = error_text.strip_prefix(CONNECT_ERROR_PREFIX)?;
    Some(match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(o)) => o
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or(data)
            .to_owned(),
        Ok(Value::String(s)) => s,
        _ => data.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_recognised_by_rust_socketios_text() {
        // The exact strings rust_socketio 0.6 passes to the error callback.
        assert_eq!(
            refusal(r#"Received an ConnectError frame: {"message":"Unauthorized"}"#).as_deref(),
            Some("Unauthorized")
        );
        assert_eq!(
            refusal("Received an ConnectError frame: \"No error message provided\"").as_deref(),
            Some("No error message provided")
        );
        assert_eq!(refusal("EngineIO Error: connection reset"), None);
    }
}
