//! [`SignalingClient`]: the connection, its requests, and its reconnection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::credential::Credential;
use super::error::SignalingError;
use super::socket::{Incoming, Socket};
use super::types::{OutgoingSignal, PeerId, RoomCreated, RoomJoined, SignalingEvent};

/// Gateway events waiting to be read (by the peer actor). The socket's reader
/// waits when it is full, which holds back the socket rather than growing
/// memory.
pub const EVENT_QUEUE: usize = 1024;

/// Connection options.
#[derive(Debug, Clone)]
pub struct SignalingOptions {
    /// How long to wait for the handshake and for each ack.
    pub timeout: Duration,
    /// Reconnect after a dropped connection (not after [`SignalingClient::disconnect`]
    /// or a refused handshake), and rejoin the room.
    pub reconnect: bool,
    /// The longest wait between two reconnection attempts (the first waits
    /// 250 ms, then each twice the last).
    pub reconnect_max_delay: Duration,
}

impl Default for SignalingOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            reconnect: true,
            reconnect_max_delay: Duration::from_secs(5),
        }
    }
}

/// The stream of events from the gateway. It ends when the connection is gone
/// for good (after a final [`SignalingEvent::Disconnected`]). Bounded
/// ([`EVENT_QUEUE`]): the socket's reader waits while it is full.
pub type SignalingEvents = mpsc::Receiver<SignalingEvent>;

/// A connected signaling client. Cheap to clone; every clone drives the same
/// connection.
#[derive(Clone)]
pub struct SignalingClient {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    auth: Value,
    options: SignalingOptions,
    /// The current socket (replaced on reconnection).
    socket: RwLock<Socket>,
    /// The room to rejoin after a reconnection.
    room: Mutex<Option<String>>,
    /// Set by `disconnect`: no reconnection.
    closing: AtomicBool,
}

impl SignalingClient {
    /// Connects to the gateway at `url` (`http://host:port`) and waits for the
    /// namespace to be connected.
    pub async fn connect(
        url: &str,
        credential: &Credential,
        options: SignalingOptions,
    ) -> Result<(SignalingClient, SignalingEvents), SignalingError> {
        let (incoming_tx, incoming) = mpsc::channel(EVENT_QUEUE);
        let auth = credential.auth_payload();
        let socket = Socket::connect(url, &auth, options.timeout, incoming_tx.clone()).await?;
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let client = SignalingClient {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                auth,
                options,
                socket: RwLock::new(socket),
                room: Mutex::new(None),
                closing: AtomicBool::new(false),
            }),
        };
        tokio::spawn(client.clone().supervise(incoming, incoming_tx, events_tx));
        Ok((client, events))
    }

    /// Our peer id: the socket id of the current connection (it changes when
    /// the client reconnects).
    pub fn peer_id(&self) -> PeerId {
        self.socket().sid
    }

    fn socket(&self) -> Socket {
        self.inner
            .socket
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn remember_room(&self, code: Option<String>) {
        *self.inner.room.lock().unwrap_or_else(|p| p.into_inner()) = code;
    }

    /// Hands the sockets' events up, typed; on a dropped connection,
    /// reconnects and rejoins.
    async fn supervise(
        self,
        mut incoming: mpsc::Receiver<Incoming>,
        incoming_tx: mpsc::Sender<Incoming>,
        events: mpsc::Sender<SignalingEvent>,
    ) {
        while let Some(next) = incoming.recv().await {
            match next {
                Incoming::Event { name, payload } => {
                    if events
                        .send(SignalingEvent::parse(&name, payload))
                        .await
                        .is_err()
                    {
                        self.socket().disconnect().await;
                        return;
                    }
                }
                Incoming::Closed { reason } => {
                    let _ = events
                        .send(SignalingEvent::Disconnected {
                            reason: reason.clone(),
                        })
                        .await;
                    let again =
                        self.inner.options.reconnect && !self.inner.closing.load(Ordering::Acquire);
                    if !again || !self.reconnect(&incoming_tx, &events).await {
                        return;
                    }
                }
            }
        }
    }

    /// Tries until connected (true), refused or closed (false).
    async fn reconnect(
        &self,
        incoming_tx: &mpsc::Sender<Incoming>,
        events: &mpsc::Sender<SignalingEvent>,
    ) -> bool {
        let options = &self.inner.options;
        let mut delay = Duration::from_millis(250);
        loop {
            tokio::time::sleep(delay).await;
            if self.inner.closing.load(Ordering::Acquire) || events.is_closed() {
                return false;
            }
            let attempt = Socket::connect(
                &self.inner.url,
                &self.inner.auth,
                options.timeout,
                incoming_tx.clone(),
            )
            .await;
            match attempt {
                Ok(socket) => {
                    let peer_id = socket.sid.clone();
                    *self.inner.socket.write().unwrap_or_else(|p| p.into_inner()) = socket;
                    tracing::info!(%peer_id, "reconnected to the gateway");
                    let _ = events.send(SignalingEvent::Reconnected { peer_id }).await;
                    self.rejoin();
                    return true;
                }
                Err(SignalingError::ConnectRefused { message }) => {
                    tracing::warn!(%message, "reconnection refused; giving up");
                    let _ = events
                        .send(SignalingEvent::Disconnected {
                            reason: format!("reconnection refused: {message}"),
                        })
                        .await;
                    return false;
                }
                Err(e) => {
                    tracing::debug!(error = %e, ?delay, "reconnection failed; trying again");
                    delay = (delay * 2).min(options.reconnect_max_delay);
                }
            }
        }
    }

    /// Joins the remembered room again, off the supervisor (its ack comes
    /// through the reader the supervisor drains).
    fn rejoin(&self) {
        let room = self
            .inner
            .room
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(code) = room else { return };
        let client = self.clone();
        tokio::spawn(async move {
            if let Err(e) = client.join_room(&code).await {
                tracing::warn!(room = %code, error = %e, "could not rejoin the room");
                client.remember_room(None);
            }
        });
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
        let joined: RoomJoined = parse_reply(reply, "join:room")?;
        self.remember_room(Some(room_code.to_owned()));
        Ok(joined)
    }

    /// Leaves the current room (`leave:room`); a no-op outside a room.
    pub async fn leave_room(&self) -> Result<(), SignalingError> {
        self.remember_room(None);
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
        self.socket().emit(event, &payload).await
    }

    /// Emits any event, without an ack.
    pub async fn emit(&self, event: &str, payload: Value) -> Result<(), SignalingError> {
        self.socket().emit(event, &payload).await
    }

    /// Disconnects (for good: no reconnection).
    pub async fn disconnect(&self) -> Result<(), SignalingError> {
        self.inner.closing.store(true, Ordering::Release);
        self.socket().disconnect().await;
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
        let args = self
            .socket()
            .emit_with_ack(event, &payload, self.inner.options.timeout)
            .await
            .map_err(|e| match e {
                SignalingError::Timeout(_) => SignalingError::Timeout(what),
                other => other,
            })?;
        // The ack's arguments: the gateway passes one.
        let reply = match args {
            Value::Array(mut args) if !args.is_empty() => args.swap_remove(0),
            other => other,
        };
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
