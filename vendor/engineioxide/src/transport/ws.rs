//! The ws transport module is responsible for handling websocket connections
//! The only public function is [`new_req`] which is used to upgrade a http request to a websocket connection
//!
//! Other functions are used internally to handle the websocket connection through tasks and channels
//! and to handle upgrade from polling to ws

use std::{
    future::{Future, poll_fn},
    pin::pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode, request::Parts};
use smallvec::smallvec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        self, Message,
        handshake::derive_accept_key,
        protocol::{Role, WebSocketConfig},
    },
};
use tokio_util::future::FutureExt as _;

use engineioxide_core::{Packet, PacketBuf, ProtocolVersion, Sid, Str, TransportType};

use crate::{
    DisconnectReason, Socket, body::ResponseBody, config::EngineIoConfig, engine::EngineIo,
    errors::Error, handler::EngineIoHandler, pre_connect::PreConnectIo,
    transport::make_open_packet,
};

/// Create a response for websocket upgrade
fn ws_response<B>(ws_key: &HeaderValue) -> Response<ResponseBody<B>> {
    let derived = derive_accept_key(ws_key.as_bytes());
    let sec = derived.parse::<HeaderValue>().unwrap();
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(
            http::header::CONNECTION,
            HeaderValue::from_static("Upgrade"),
        )
        .header(http::header::SEC_WEBSOCKET_ACCEPT, sec)
        .body(ResponseBody::empty_response())
        .unwrap() // we are only using constants
}

/// Upgrade a websocket request to create a websocket connection.
///
/// If a sid is provided in the query it means that is is upgraded from an existing HTTP polling request.
/// In this case the http polling request is closed and the SID is kept for the websocket
pub fn new_req<R: Send + 'static, B, H: EngineIoHandler>(
    engine: Arc<EngineIo<H>>,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req: Request<R>,
) -> Result<Response<ResponseBody<B>>, Error> {
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts.clone(), body);

    let ws_key = parts
        .headers
        .get("Sec-WebSocket-Key")
        .ok_or(Error::InvalidWebSocketKey)?
        .clone();

    tokio::spawn(async move {
        let conn = hyper::upgrade::on(req)
            .await
            .map(hyper_util::rt::TokioIo::new);

        let res = match conn {
            Ok(conn) => open(&engine, conn, protocol, sid, parts).await,
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("ws upgrade error: {}", _e);
                return;
            }
        };

        match res {
            // PATCH(one-task): the session runs in a task of its own, so that the request this
            // task holds (and its copy of the head) is freed; this task ends here.
            Ok((socket, ws, heartbeat)) => {
                tokio::spawn(run(engine, socket, ws, heartbeat));
            }
            Err(Error::MultipleWebsocketRequests) => {}
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(?sid, "ws closed with error: {_e}");
                if let Some(sid) = sid {
                    engine.close_session(sid, DisconnectReason::TransportError);
                }
            }
        }
    });

    Ok(ws_response(&ws_key))
}

/// Handle a websocket connection upgrade
///
/// Sends an open packet if it is not an upgrade from a polling request
///
/// Read packets from the websocket and handle them, it will block until the connection is closed
#[cfg_attr(
    feature = "tracing",
    tracing::instrument(level = "trace", name = "init_websocket", skip(engine, conn, req_data))
)]
pub async fn on_init<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    conn: S,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req_data: Parts,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (socket, ws, heartbeat) = open(&engine, conn, protocol, sid, req_data).await?;
    // PATCH(one-task): reading, writing and the heartbeat share this task.
    run(engine, socket, ws, heartbeat).await;
    Ok(())
}

/// PATCH(one-task): an opened session: its socket, its websocket and the heartbeat it runs
/// (`None` for an upgraded polling session, which keeps its heartbeat task).
type Opened<H, S> = (
    Arc<Socket<<H as EngineIoHandler>::Data>>,
    WebSocketStream<PreConnectIo<S, <H as EngineIoHandler>::Data>>,
    Option<(Duration, Duration)>,
);

/// Sends the open packet of a fresh session or runs the upgrade handshake of a polling one.
async fn open<H: EngineIoHandler, S>(
    engine: &Arc<EngineIo<H>>,
    conn: S,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req_data: Parts,
) -> Result<Opened<H, S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(engine.config.ws_read_buffer_size)
        .max_message_size(Some(engine.config.ws_max_message_size))
        .max_frame_size(Some(engine.config.ws_max_frame_size));

    // PATCH(pre-connect): what the socket reads is counted until it is accepted.
    let ws_init = move |socket: &Arc<Socket<H::Data>>| {
        let conn = PreConnectIo::new(conn, socket.clone());
        WebSocketStream::from_raw_socket(conn, Role::Server, Some(ws_config))
    };
    // An upgraded polling session keeps the heartbeat task it has.
    let mut heartbeat = None;
    let (socket, ws) = if let Some(sid) = sid {
        match engine.get_socket(sid) {
            None => return Err(Error::UnknownSessionID(sid)),
            Some(socket) if socket.is_ws() => return Err(Error::MultipleWebsocketRequests),
            Some(socket) => {
                let mut ws = ws_init(&socket).await;

                let upgrade_fut = upgrade_handshake::<H, _>(&socket, &mut ws);
                match tokio::time::timeout(engine.config.upgrade_timeout, upgrade_fut)
                    .with_cancellation_token(&socket.cancellation_token)
                    .await
                {
                    Some(Ok(res)) => res?,
                    Some(Err(_)) => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(?sid, "ws upgrade timed out, closing session");
                        engine.close_session(socket.id, DisconnectReason::TransportError);
                        return Err(Error::Upgrade);
                    }
                    None => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(?sid, "socket is being closed");
                        return Err(Error::Upgrade);
                    }
                }
                (socket, ws)
            }
        }
    } else {
        let socket = engine.create_session(protocol, TransportType::Websocket, req_data, false);

        #[cfg(feature = "tracing")]
        tracing::debug!("new websocket connection");

        let mut ws = ws_init(&socket).await;
        init_handshake(socket.id, &mut ws, &engine.config).await?;
        // PATCH(heartbeat): run by the session's task, not a task of its own.
        heartbeat = Some((engine.config.ping_interval, engine.config.ping_timeout));
        (socket, ws)
    };
    Ok((socket, ws, heartbeat))
}

/// PATCH(one-task): why a session's loop ended.
enum End {
    /// The client closed the connection: a CLOSE packet, a close frame or the end of the stream.
    Closed,
    /// Reading or parsing what the client sent failed.
    Failed(Error),
    /// The session was closed elsewhere (its cancellation token), or its queue was closed.
    Cancelled,
}

/// PATCH(one-task): one task per WebSocket session reads from the websocket, writes the
/// socket's queue to it and runs a fresh session's heartbeat (the released crate spawned a
/// reader, a writer and a heartbeat task; each task is a few KiB per idle socket).
///
/// Within one wake-up the heartbeat goes first, then the cancellation, then the reads, then the
/// writes. Reads go on while a write is blocked on a slow reader (the stream is polled, not
/// awaited), so a client's pongs and messages are still seen. Packets leave in queue order,
/// one `poll_ready` each, so a full websocket buffer leaves them in the queue (backpressure).
async fn run<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    mut ws: WebSocketStream<S>,
    heartbeat: Option<(Duration, Duration)>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A polling request that was in progress during the upgrade may still hold the lock.
    let lock = socket.internal_rx.lock();
    let Some(_internal_rx) = lock
        .with_cancellation_token(&socket.cancellation_token)
        .await
    else {
        #[cfg(feature = "tracing")]
        tracing::debug!(sid = %socket.id, "session closed before starting the ws loop");
        return;
    };
    // The heartbeat only ends on a timeout.
    let hb = async {
        match heartbeat {
            Some((interval, timeout)) => socket.heartbeat_job(interval, timeout).await,
            None => std::future::pending().await,
        }
    };
    let mut hb = pin!(hb);
    let mut hb_done = false;
    let mut cancelled = pin!(socket.cancellation_token.cancelled());
    let mut out = Outgoing::default();

    let end = poll_fn(|cx| {
        if !hb_done && let Poll::Ready(res) = hb.as_mut().poll(cx) {
            hb_done = true;
            if let Err(_e) = res {
                #[cfg(feature = "tracing")]
                tracing::debug!(sid = %socket.id, "heartbeat error: {_e}");
                // Queues the close packet and closes the session: cancelled below.
                socket.close(DisconnectReason::HeartbeatTimeout);
            }
        }
        if cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(End::Cancelled);
        }
        while let Poll::Ready(item) = ws.poll_next_unpin(cx) {
            let read = match item {
                None => return Poll::Ready(End::Closed),
                Some(Err(e)) => Err(Error::from(e)),
                Some(Ok(msg)) => on_ws_message(&engine, &socket, msg),
            };
            match read {
                Ok(true) if socket.cancellation_token.is_cancelled() => {
                    return Poll::Ready(End::Cancelled);
                }
                Ok(true) => {}
                Ok(false) => return Poll::Ready(End::Closed),
                Err(e) => return Poll::Ready(End::Failed(e)),
            }
        }
        match out.poll_write(cx, &mut ws, &socket) {
            Written::Closed => Poll::Ready(End::Cancelled),
            Written::Blocked | Written::Drained => Poll::Pending,
        }
    })
    .await;

    match end {
        End::Failed(ref e) => {
            let reason =
                Option::<DisconnectReason>::from(e).unwrap_or(DisconnectReason::TransportError);
            #[cfg(feature = "tracing")]
            tracing::debug!("error when handling packet: {:?}", e);
            engine.close_session(socket.id, reason);
        }
        End::Closed => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "ws transport was closed");
            engine.close_session(socket.id, DisconnectReason::TransportClose);
        }
        End::Cancelled => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "socket is closing");
        }
    }

    // As the writer task did once cancelled: what is queued now still goes out (a close
    // packet among it), then the close handshake; the lock is released last.
    poll_fn(|cx| match out.poll_write(cx, &mut ws, &socket) {
        Written::Blocked => Poll::Pending,
        Written::Drained | Written::Closed => Poll::Ready(()),
    })
    .await;
    #[cfg(feature = "tracing")]
    tracing::trace!(sid = %socket.id, "ws closing flush");
    ws.flush().await.ok();
    SinkExt::close(&mut ws).await.ok();
}

/// Handles one message the client sent: `Ok(false)` if it closed the session.
fn on_ws_message<H: EngineIoHandler>(
    engine: &Arc<EngineIo<H>>,
    socket: &Arc<Socket<H::Data>>,
    msg: Message,
) -> Result<bool, Error> {
    match msg {
        Message::Text(msg) => match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
            Packet::Close => {
                #[cfg(feature = "tracing")]
                tracing::debug!("[sid={}] closing session", socket.id);
                return Ok(false);
            }
            Packet::Pong | Packet::Ping => {
                // A full channel means that the client is already known to be alive.
                // PATCH(queue): a Notify instead of a one-slot channel.
                socket.heartbeat_tx.notify_one();
            }
            Packet::Message(msg) => engine.handler.on_message(msg, socket.clone()),
            p => return Err(Error::BadPacket(p)),
        },
        Message::Binary(mut data) => {
            if socket.protocol == ProtocolVersion::V3 && !data.is_empty() {
                // The first byte is the message type, which we don't need.
                data = data.split_off(1);
            }
            engine.handler.on_binary(data, socket.clone());
        }
        Message::Close(_) => {
            #[cfg(feature = "tracing")]
            tracing::debug!("websocket closed, closing session");
            return Ok(false);
        }
        _ => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = ?socket.id, "unexpected ws message");
        }
    }
    Ok(true)
}

/// PATCH(one-task): where [`Outgoing::poll_write`] stopped.
enum Written {
    /// The websocket cannot take more now; it wakes the task when it can.
    Blocked,
    /// Everything queued was handed to the websocket (and flushed, unless that is pending).
    Drained,
    /// The queue is closed and empty.
    Closed,
}

/// PATCH(one-task): the writing half of [`run`]: the batch being written, packet by packet.
struct Outgoing {
    batch: smallvec::IntoIter<[Packet; 2]>,
    /// The next message, waiting for the websocket to be ready.
    next: Option<Message>,
    unflushed: bool,
}

impl Default for Outgoing {
    fn default() -> Self {
        Self {
            batch: PacketBuf::new().into_iter(),
            next: None,
            unflushed: false,
        }
    }
}

impl Outgoing {
    /// Writes queued packets until the queue is empty or the websocket is full; flushes once
    /// the queue is drained, as the writer task did. A failed write drops its packet, as
    /// before: a broken connection ends on the reading side.
    fn poll_write<S, D>(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut WebSocketStream<S>,
        socket: &Socket<D>,
    ) -> Written
    where
        S: AsyncRead + AsyncWrite + Unpin,
        D: Default + Send + Sync + 'static,
    {
        loop {
            if self.next.is_none() {
                let packet = match self.batch.next() {
                    Some(p) => p,
                    None => match socket.internal_tx.poll_recv(cx) {
                        Poll::Ready(Some(packets)) => {
                            self.batch = packets.into_iter();
                            continue;
                        }
                        Poll::Ready(None) => return Written::Closed,
                        Poll::Pending => break,
                    },
                };
                self.next = to_ws_message(socket.protocol, packet);
                continue;
            }
            let ready = match ws.poll_ready_unpin(cx) {
                Poll::Pending => return Written::Blocked,
                Poll::Ready(r) => r,
            };
            let sent = ready.and_then(|()| match self.next.take() {
                Some(msg) => ws.start_send_unpin(msg),
                None => Ok(()),
            });
            self.unflushed = true;
            if let Err(_e) = sent {
                self.next = None;
                #[cfg(feature = "tracing")]
                tracing::debug!("[sid={}] error sending packet: {}", socket.id, _e);
            }
        }
        if self.unflushed {
            #[cfg(feature = "tracing")]
            tracing::trace!(sid = %socket.id, "ws flush");
            match ws.poll_flush_unpin(cx) {
                Poll::Pending => return Written::Blocked,
                Poll::Ready(_) => self.unflushed = false,
            }
        }
        Written::Drained
    }
}

/// The websocket message for a packet; `None` for a NOOP.
fn to_ws_message(protocol: ProtocolVersion, packet: Packet) -> Option<Message> {
    match packet {
        Packet::Binary(bin) | Packet::BinaryV3(bin) => {
            if protocol == ProtocolVersion::V3 {
                // v3 protocol requires packet type as the first byte.
                // This requires a new buffer. This is OK as it is only for the V3 protocol.
                let mut buff = Vec::with_capacity(bin.len() + 1);
                buff.push(0x04);
                buff.extend(bin);
                Some(Message::Binary(buff.into()))
            } else {
                Some(Message::Binary(bin))
            }
        }
        // A Noop Packet maybe sent by the server to upgrade from a polling connection
        // In the case that the packet was not poll in time it will remain in the buffer and therefore
        // it should be discarded here
        Packet::Noop => None,
        packet => Some(Message::Text(String::from(packet).into())),
    }
}

/// Send a Engine.IO [`OpenPacket`] to initiate a websocket connection
async fn init_handshake<S>(
    sid: Sid,
    ws: &mut WebSocketStream<S>,
    config: &EngineIoConfig,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let packet = Packet::Open(make_open_packet(TransportType::Websocket, sid, config));
    let packet: String = packet.into();
    ws.send(Message::Text(packet.into())).await?;
    Ok(())
}

/// Upgrade a session from a polling request to a websocket request.
///
/// Before upgrading the session the server should send a NOOP packet to any pending polling request.
///
/// ## Handshake :
/// ```text
/// CLIENT                                                 SERVER
///│                                                      │
///│   GET /engine.io/?EIO=4&transport=websocket&sid=...  │
///│ ───────────────────────────────────────────────────► │
///│  ◄─────────────────────────────────────────────────┘ │
///│            HTTP 101 (WebSocket handshake)            │
///│                                                      │
///│            -----  WebSocket frames -----             │
///│  ─────────────────────────────────────────────────►  │
///│                         2probe                       │ (ping packet)
///│  ◄─────────────────────────────────────────────────  │
///│                         3probe                       │ (pong packet)
///│  ─────────────────────────────────────────────────►  │
///│                         5                            │ (upgrade packet)
///│                                                      │
///│            -----  WebSocket frames -----             │
/// ```
#[cfg_attr(
    feature = "tracing",
    tracing::instrument(level = "trace", skip(socket, ws))
)]
async fn upgrade_handshake<H: EngineIoHandler, S>(
    socket: &Arc<Socket<H::Data>>,
    ws: &mut WebSocketStream<S>,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    #[cfg(feature = "tracing")]
    tracing::debug!("starting websocket connection upgrade");

    // The socket is upgrading, from now on all polling
    // request will return a `Packet::Noop`
    socket.start_upgrade();

    // We send a last Noop request to close a potential waiting polling request.
    socket
        .internal_tx
        // PATCH(queue): one NOOP past the bound rather than waiting for room.
        .push_unbounded(smallvec![Packet::Noop])
        .map_err(|_| Error::Upgrade)?;

    // wait for any current polling connection to finish by waiting for the socket to be unlocked
    // All other polling connection will be immediately closed with a NOOP packet.
    let _lock = socket.internal_rx.lock().await;

    // Fetch the next packet from the ws stream, it should be a PingUpgrade packet
    let msg = match ws.next().await {
        Some(Ok(Message::Text(d))) => d,
        _ => Err(Error::Upgrade)?,
    };
    match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
        Packet::PingUpgrade => {
            #[cfg(feature = "tracing")]
            tracing::debug!("received first ping upgrade");
            // Respond with a PongUpgrade packet
            ws.send(Message::Text(String::from(Packet::PongUpgrade).into()))
                .await?;
        }
        p => Err(Error::BadPacket(p))?,
    };

    // Fetch the next packet from the ws stream, it should be an Upgrade packet
    let msg = match ws.next().await {
        Some(Ok(Message::Text(d))) => d,
        Some(Ok(Message::Close(_))) => {
            #[cfg(feature = "tracing")]
            tracing::debug!("ws stream closed before upgrade");
            Err(Error::Upgrade)?
        }
        _ => {
            #[cfg(feature = "tracing")]
            tracing::debug!("unexpected ws message before upgrade");
            Err(Error::Upgrade)?
        }
    };
    match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
        Packet::Upgrade => {
            #[cfg(feature = "tracing")]
            tracing::debug!("ws upgraded successfully")
        }
        p => Err(Error::BadPacket(p))?,
    };

    socket.upgrade_to_websocket();
    Ok(())
}

fn ws_bytes_to_str(bytes: tungstenite::Utf8Bytes) -> Str {
    // SAFETY: the bytes are guaranteed to be valid UTF-8 by the tungstenite parser
    unsafe { Str::from_bytes_unchecked(bytes.into()) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use futures_util::StreamExt;
    use http::Request;
    use tokio::{
        io::DuplexStream,
        sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel},
        task::JoinHandle,
    };

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(2);

    #[derive(Debug)]
    enum Event {
        Connect(Arc<Socket<()>>),
        Message(String),
        Disconnect(DisconnectReason),
    }

    /// Hands every event to the test.
    #[derive(Debug)]
    struct Recorder(UnboundedSender<Event>);
    impl EngineIoHandler for Recorder {
        type Data = ();
        fn on_connect(self: Arc<Self>, socket: Arc<Socket<()>>) {
            self.0.send(Event::Connect(socket)).ok();
        }
        fn on_disconnect(&self, _: Arc<Socket<()>>, reason: DisconnectReason) {
            self.0.send(Event::Disconnect(reason)).ok();
        }
        fn on_message(self: &Arc<Self>, msg: Str, _: Arc<Socket<()>>) {
            self.0.send(Event::Message(msg.to_string())).ok();
        }
        fn on_binary(self: &Arc<Self>, _: Bytes, _: Arc<Socket<()>>) {}
    }

    type Client = WebSocketStream<DuplexStream>;

    fn engine(config: EngineIoConfig) -> (Arc<EngineIo<Recorder>>, UnboundedReceiver<Event>) {
        let (tx, rx) = unbounded_channel();
        (Arc::new(EngineIo::new(Arc::new(Recorder(tx)), config)), rx)
    }

    fn parts() -> Parts {
        Request::<()>::default().into_parts().0
    }

    async fn next_event(events: &mut UnboundedReceiver<Event>) -> Event {
        tokio::time::timeout(TIMEOUT, events.recv())
            .await
            .expect("an event in time")
            .expect("the handler is alive")
    }

    async fn next_text(client: &mut Client) -> String {
        match tokio::time::timeout(TIMEOUT, client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => text.to_string(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// A fresh WebSocket session over an in-memory pipe of `pipe` bytes: the client (past the
    /// open packet and the first ping), the server's socket and the session's task.
    async fn open(
        engine: &Arc<EngineIo<Recorder>>,
        events: &mut UnboundedReceiver<Event>,
        pipe: usize,
    ) -> (Client, Arc<Socket<()>>, JoinHandle<Result<(), Error>>) {
        let (server, client) = tokio::io::duplex(pipe);
        let task = tokio::spawn(on_init(
            engine.clone(),
            server,
            ProtocolVersion::V4,
            None,
            parts(),
        ));
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        assert!(
            next_text(&mut client).await.starts_with("0{"),
            "open packet"
        );
        // The heartbeat's first ping goes out at once (as released).
        assert_eq!(next_text(&mut client).await, "2");
        let Event::Connect(socket) = next_event(events).await else {
            panic!("expected the connect event")
        };
        (client, socket, task)
    }

    fn alive_tasks() -> usize {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    }

    /// The released crate ran a reader and a writer task per session (and a heartbeat task).
    #[tokio::test]
    async fn a_websocket_session_runs_in_one_task() {
        let (engine, mut events) = engine(EngineIoConfig::default());
        let before = alive_tasks();
        let (mut client, socket, _task) = open(&engine, &mut events, 1024).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(alive_tasks(), before + 1);

        // And the one task does everything: reads, writes.
        socket.emit("hello").unwrap();
        assert_eq!(next_text(&mut client).await, "4hello");
        client.send(Message::text("4hi")).await.unwrap();
        assert!(matches!(next_event(&mut events).await, Event::Message(m) if m == "hi"));
        assert_eq!(alive_tasks(), before + 1);
    }

    /// Reads go on while the websocket is full of packets the client has not read, and the
    /// packets then arrive in the order they were queued.
    #[tokio::test]
    async fn reads_go_on_while_writes_are_blocked_and_packets_keep_their_order() {
        const N: usize = 200;
        let config = EngineIoConfig::builder().max_buffer_size(N + 8).build();
        let (engine, mut events) = engine(config);
        // 1 KiB of pipe: the server's writes block long before N packets are out.
        let (mut client, socket, _task) = open(&engine, &mut events, 1024).await;
        for i in 0..N {
            socket.emit(format!("server message {i:04}")).unwrap();
        }
        for i in 0..N {
            let msg = Message::text(format!("4client message {i:04}"));
            tokio::time::timeout(TIMEOUT, client.send(msg))
                .await
                .expect("the server reads while its writes are blocked")
                .unwrap();
        }
        for i in 0..N {
            match next_event(&mut events).await {
                Event::Message(m) => assert_eq!(m, format!("client message {i:04}")),
                other => panic!("expected a message, got {other:?}"),
            }
        }
        for i in 0..N {
            assert_eq!(
                next_text(&mut client).await,
                format!("4server message {i:04}")
            );
        }
    }

    #[tokio::test]
    async fn a_close_frame_ends_the_session_as_a_transport_close() {
        let (engine, mut events) = engine(EngineIoConfig::default());
        let (mut client, _socket, task) = open(&engine, &mut events, 1024).await;
        client.close(None).await.unwrap();
        assert!(matches!(
            next_event(&mut events).await,
            Event::Disconnect(DisconnectReason::TransportClose)
        ));
        tokio::time::timeout(TIMEOUT, task)
            .await
            .expect("the session's task ends")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_bad_packet_ends_the_session_as_a_parsing_error() {
        let (engine, mut events) = engine(EngineIoConfig::default());
        let (mut client, _socket, task) = open(&engine, &mut events, 1024).await;
        client.send(Message::text("9nonsense")).await.unwrap();
        assert!(matches!(
            next_event(&mut events).await,
            Event::Disconnect(DisconnectReason::PacketParsingError)
        ));
        tokio::time::timeout(TIMEOUT, task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    /// What was queued before the server closed the session still goes out, then the close.
    #[tokio::test]
    async fn a_server_close_sends_what_was_queued_then_the_close_packet() {
        let (engine, mut events) = engine(EngineIoConfig::default());
        let (mut client, socket, task) = open(&engine, &mut events, 1024).await;
        socket.emit("last words").unwrap();
        socket.close(DisconnectReason::ClosingServer);
        assert_eq!(next_text(&mut client).await, "4last words");
        assert_eq!(next_text(&mut client).await, "1");
        assert!(matches!(
            next_event(&mut events).await,
            Event::Disconnect(DisconnectReason::ClosingServer)
        ));
        tokio::time::timeout(TIMEOUT, task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_client_that_does_not_answer_pings_times_out() {
        let config = EngineIoConfig::builder()
            .ping_interval(Duration::from_millis(30))
            .ping_timeout(Duration::from_millis(30))
            .build();
        let (engine, mut events) = engine(config);
        let (mut client, _socket, _task) = open(&engine, &mut events, 1024).await;
        assert_eq!(next_text(&mut client).await, "1");
        assert!(matches!(
            next_event(&mut events).await,
            Event::Disconnect(DisconnectReason::HeartbeatTimeout)
        ));
    }

    /// A polling session upgraded to WebSocket is served by one task too.
    #[tokio::test]
    async fn an_upgraded_polling_session_reads_and_writes_in_one_task() {
        let (engine, mut events) = engine(EngineIoConfig::default());
        let socket =
            engine.create_session(ProtocolVersion::V4, TransportType::Polling, parts(), true);
        assert!(matches!(next_event(&mut events).await, Event::Connect(_)));
        let before = alive_tasks();
        let (server, client) = tokio::io::duplex(1024);
        let _task = tokio::spawn(on_init(
            engine.clone(),
            server,
            ProtocolVersion::V4,
            Some(socket.id),
            parts(),
        ));
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        client.send(Message::text("2probe")).await.unwrap();
        assert_eq!(next_text(&mut client).await, "3probe");
        client.send(Message::text("5")).await.unwrap();
        socket.emit("upgraded").unwrap();
        // The NOOP meant for a pending poll is not written to the websocket.
        assert_eq!(next_text(&mut client).await, "4upgraded");
        client.send(Message::text("4hi")).await.unwrap();
        assert!(matches!(next_event(&mut events).await, Event::Message(m) if m == "hi"));
        assert_eq!(alive_tasks(), before + 1);
    }

    /// A polling request can still hold the lock at the end of an upgrade.
    #[tokio::test]
    async fn the_session_waits_for_the_lock_of_a_polling_request() {
        let (engine, mut events) = engine(EngineIoConfig::default());
        let socket = engine.create_session(
            ProtocolVersion::V4,
            TransportType::Websocket,
            parts(),
            false,
        );
        assert!(matches!(next_event(&mut events).await, Event::Connect(_)));
        let (server, client) = tokio::io::duplex(1024);
        let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;

        let polling = socket.internal_rx.lock().await;
        let session = { tokio::spawn(run(engine.clone(), socket.clone(), server, None)) };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !session.is_finished(),
            "the session should wait for the lock"
        );

        drop(polling);
        socket.emit(Str::from("hello")).unwrap();
        assert_eq!(next_text(&mut client).await, "4hello");
    }

    #[tokio::test]
    async fn a_session_waiting_for_the_lock_stops_with_the_session() {
        let (engine, mut events) = engine(EngineIoConfig::default());
        let socket = engine.create_session(
            ProtocolVersion::V4,
            TransportType::Websocket,
            parts(),
            false,
        );
        assert!(matches!(next_event(&mut events).await, Event::Connect(_)));
        let (server, _client) = tokio::io::duplex(1024);
        let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;

        let _polling = socket.internal_rx.lock().await;
        let session = { tokio::spawn(run(engine.clone(), socket.clone(), server, None)) };
        tokio::time::sleep(Duration::from_millis(20)).await;

        socket.cancellation_token.cancel();
        tokio::time::timeout(TIMEOUT, session)
            .await
            .expect("the session should stop")
            .unwrap();
    }
}
