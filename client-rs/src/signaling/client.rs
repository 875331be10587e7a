//! [`SignalingClient`]: the connection, its requests, and its reconnection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::connection::{Connection, Incoming, Open, Transport};
use super::credential::Credential;
use super::error::SignalingError;
use super::types::{OutgoingSignal, PeerId, RoomCreated, RoomJoined, SignalingEvent};

/// Gateway events waiting to be read (by the peer actor). The connection's
/// reader waits when it is full, which holds back the socket rather than
/// growing memory.
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
    /// 250 ms, then longer, with jitter).
    pub reconnect_max_delay: Duration,
    /// Reconnection attempts after one drop before giving up; `None`: no limit.
    pub reconnect_attempts: Option<u8>,
    /// Extra headers of the opening request (e.g. `Cookie`, `Authorization`).
    pub headers: Vec<(String, String)>,
    /// WebSocket only, long-polling only, or polling upgraded to WebSocket.
    pub transport: Transport,
}

impl Default for SignalingOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            reconnect: true,
            reconnect_max_delay: Duration::from_secs(5),
            reconnect_attempts: None,
            headers: Vec::new(),
            transport: Transport::default(),
        }
    }
}

/// The stream of events from the gateway. It ends after
/// [`SignalingClient::disconnect`] or a refused reconnection (after a final
/// [`SignalingEvent::Disconnected`]). Bounded ([`EVENT_QUEUE`]): the
/// connection's reader waits while it is full.
pub type SignalingEvents = mpsc::Receiver<SignalingEvent>;

/// A connected signaling client. Cheap to clone; every clone drives the same
/// connection.
#[derive(Clone)]
pub struct SignalingClient {
    inner: Arc<Inner>,
}

struct Inner {
    options: SignalingOptions,
    conn: Connection,
    /// Our id in the current room (`room:joined.peerId`).
    peer_id: Mutex<Option<PeerId>>,
    /// The room to rejoin after a reconnection.
    room: Mutex<Option<String>>,
    /// Woken by `disconnect`: the supervisor ends the event stream.
    closing: Notify,
}

impl SignalingClient {
    /// Connects to the gateway at `url` (`http://host:port`) and waits for the
    /// namespace to be connected.
    pub async fn connect(
        url: &str,
        credential: &Credential,
        options: SignalingOptions,
    ) -> Result<(SignalingClient, SignalingEvents), SignalingError> {
        let (incoming_tx, mut incoming) = mpsc::channel(EVENT_QUEUE);
        let open = Open {
            url,
            auth: credential.auth_payload(),
            headers: &options.headers,
            transport: options.transport,
            reconnect: options.reconnect,
            reconnect_delay: (Duration::from_millis(250), options.reconnect_max_delay),
            reconnect_attempts: options.reconnect_attempts,
        };
        let conn = Connection::open(open, incoming_tx).await?;
        let answer = tokio::time::timeout(options.timeout, async {
            while let Some(next) = incoming.recv().await {
                match next {
                    Incoming::Connected => return Ok(()),
                    Incoming::Refused { message } => {
                        return Err(SignalingError::ConnectRefused { message });
                    }
                    other => tracing::debug!(?other, "before the namespace connection; ignored"),
                }
            }
            Err(SignalingError::Closed)
        })
        .await
        .unwrap_or(Err(SignalingError::Timeout("the namespace connection")));
        if let Err(e) = answer {
            conn.disconnect().await;
            return Err(e);
        }
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let client = SignalingClient {
            inner: Arc::new(Inner {
                options,
                conn,
                peer_id: Mutex::new(None),
                room: Mutex::new(None),
                closing: Notify::new(),
            }),
        };
        tokio::spawn(client.clone().supervise(incoming, events_tx));
        Ok((client, events))
    }

    /// Our peer id in the room we joined (`room:joined.peerId`); `None`
    /// before a join. It changes when the client reconnects.
    pub fn peer_id(&self) -> Option<PeerId> {
        lock(&self.inner.peer_id).clone()
    }

    fn remember_room(&self, code: Option<String>) {
        *lock(&self.inner.room) = code;
    }

    /// Hands the connection's events up, typed; after a reconnection, rejoins.
    async fn supervise(
        self,
        mut incoming: mpsc::Receiver<Incoming>,
        events: mpsc::Sender<SignalingEvent>,
    ) {
        // Connected and not yet told otherwise.
        let mut up = true;
        // A rejoin is under way: its `room:joined` is announced as the
        // reconnection.
        let mut rejoining = false;
        loop {
            let next = tokio::select! {
                biased;
                () = self.inner.closing.notified() => None,
                next = incoming.recv() => next,
            };
            let mut out = Vec::new();
            match next {
                None => {
                    let _ = events
                        .send(SignalingEvent::Disconnected {
                            reason: "client disconnect".into(),
                        })
                        .await;
                    return;
                }
                Some(Incoming::Event { name, payload }) => {
                    let event = SignalingEvent::parse(&name, payload);
                    if let SignalingEvent::RoomJoined(j) = &event {
                        // A `room:joined` read after `leave_room` (the event
                        // loop runs behind the acks) must not bring the id back.
                        if lock(&self.inner.room).is_some() {
                            *lock(&self.inner.peer_id) = Some(j.peer_id.clone());
                        }
                        if std::mem::take(&mut rejoining) {
                            out.push(SignalingEvent::Reconnected {
                                peer_id: Some(j.peer_id.clone()),
                            });
                        }
                    }
                    out.push(event);
                }
                Some(Incoming::ServerDisconnect) => {
                    up = false;
                    out.push(SignalingEvent::Disconnected {
                        reason: "io server disconnect".into(),
                    });
                }
                Some(Incoming::Connected) => {
                    // rust_socketio 0.6 reports no transport loss: the new
                    // CONNECT is the first sign of it.
                    if std::mem::replace(&mut up, true) {
                        out.push(SignalingEvent::Disconnected {
                            reason: "transport close".into(),
                        });
                    }
                    *lock(&self.inner.peer_id) = None;
                    tracing::info!("reconnected to the gateway");
                    rejoining = self.rejoin(events.clone());
                    if !rejoining {
                        out.push(SignalingEvent::Reconnected { peer_id: None });
                    }
                }
                Some(Incoming::Refused { message }) => {
                    tracing::warn!(%message, "reconnection refused; giving up");
                    let _ = events
                        .send(SignalingEvent::Disconnected {
                            reason: format!("reconnection refused: {message}"),
                        })
                        .await;
                    self.inner.conn.disconnect().await;
                    return;
                }
            }
            for event in out {
                if events.send(event).await.is_err() {
                    self.inner.conn.disconnect().await;
                    return;
                }
            }
        }
    }

    /// Joins the remembered room again, off the supervisor (its ack comes
    /// through the reader the supervisor drains). False when there is no room.
    fn rejoin(&self, events: mpsc::Sender<SignalingEvent>) -> bool {
        let Some(code) = lock(&self.inner.room).clone() else {
            return false;
        };
        let client = self.clone();
        tokio::spawn(async move {
            if let Err(e) = client.rejoin_or_recreate(&code).await {
                tracing::warn!(room = %code, error = %e, "could not rejoin the room");
                client.remember_room(None);
                let _ = events
                    .send(SignalingEvent::Reconnected { peer_id: None })
                    .await;
            }
        });
        true
    }

    /// Joins `code` again; a room the gateway no longer has (a restarted
    /// single node keeps rooms in memory) is created again under the same
    /// code first (with the gateway's default `maxPeers`). Members racing to
    /// recreate it see `ROOM_EXISTS`, and join the one another created.
    async fn rejoin_or_recreate(&self, code: &str) -> Result<RoomJoined, SignalingError> {
        match self.join_room(code).await {
            Err(SignalingError::Server { code: c, .. }) if c == "ROOM_NOT_FOUND" => {
                match self.create_room(Some(code), None).await {
                    Ok(_) => {}
                    Err(SignalingError::Server { code: c, .. }) if c == "ROOM_EXISTS" => {}
                    Err(e) => return Err(e),
                }
                tracing::info!(room = %code, "the room was gone after the reconnection; recreated it");
                self.join_room(code).await
            }
            other => other,
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
        let joined: RoomJoined = parse_reply(reply, "join:room")?;
        *lock(&self.inner.peer_id) = Some(joined.peer_id.clone());
        self.remember_room(Some(room_code.to_owned()));
        Ok(joined)
    }

    /// Leaves the current room (`leave:room`); a no-op outside a room.
    pub async fn leave_room(&self) -> Result<(), SignalingError> {
        self.remember_room(None);
        *lock(&self.inner.peer_id) = None;
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
        self.inner.conn.emit(event, payload).await
    }

    /// Emits any event, without an ack.
    pub async fn emit(&self, event: &str, payload: Value) -> Result<(), SignalingError> {
        self.inner.conn.emit(event, payload).await
    }

    /// Disconnects (for good: no reconnection).
    pub async fn disconnect(&self) -> Result<(), SignalingError> {
        self.inner.closing.notify_one();
        self.inner.conn.disconnect().await;
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
        let mut args = self
            .inner
            .conn
            .emit_with_ack(event, payload, self.inner.options.timeout)
            .await
            .map_err(|e| match e {
                SignalingError::Timeout(_) => SignalingError::Timeout(what),
                other => other,
            })?;
        // The ack's arguments: the gateway passes one.
        let reply = if args.is_empty() {
            Value::Null
        } else {
            args.swap_remove(0)
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
