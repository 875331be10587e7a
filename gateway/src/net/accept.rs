//! The accept loop: every TCP connection is counted against its address's cap
//! and served by hyper (HTTP/1.1, upgrades to WebSocket) with time limits, so a
//! client that connects and stays silent, sends half a header, idles between
//! keep-alive requests or stops half-way through a body lets go of its
//! connection within seconds. `axum::serve` has none of these knobs.
//!
//! The limits end where HTTP ends: an upgraded WebSocket belongs to
//! Engine.IO (its heartbeat), and a long-polling GET has sent its head and
//! waits for its response, which no read timeout watches.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower::util::Oneshot;
use tower_http::timeout::TimeoutBody;

use crate::client_addr::is_trusted;
use crate::limits::memory::NodeMemory;
use crate::limits::per_key::{self, PerKey};
use crate::send_buffer::meter::{Meter, Metered};

/// Time and count limits of the HTTP side.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Open TCP connections per client address.
    pub connections_per_address: usize,
    /// From connecting, or from the end of the previous response on a
    /// keep-alive connection, to the end of the next request's head.
    pub header_timeout: Duration,
    /// The largest request head (hyper's read buffer; its default, ~400 KB,
    /// let 400 connections hold 176 MiB).
    pub max_head: usize,
    /// The longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// Peers not counted per address: trusted proxies, whose connections
    /// carry many clients (each counted by its own address once known).
    pub uncounted: Vec<ipnet::IpNet>,
    /// The node's byte budget: what a connection has read of its current
    /// request (head and body) is held until the response is written.
    pub memory: Arc<NodeMemory>,
}

/// Accepts connections on `listener` until `stop` is cancelled, then asks
/// each open connection to finish its request and close, and returns once
/// they have (the caller bounds the wait). Counts refused connections in
/// `refused`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stop: CancellationToken,
    refused: prometheus_client::metrics::counter::Counter,
) {
    let per_address = PerKey::new(limits.connections_per_address);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head)
        .keep_alive(true);
    let connections = TaskTracker::new();
    let mut backoff = AcceptBackoff::default();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff.reset();
                    accepted
                }
                Err(e) => {
                    backoff.wait(e).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let slot = if is_trusted(peer.ip(), &limits.uncounted) {
            None
        } else {
            let Some(slot) = per_address.take(per_key::key(peer.ip())) else {
                // Closing at once costs the client its connection, not us a task.
                refused.inc();
                tracing::debug!(%peer, "connection refused: too many from this address");
                continue;
            };
            Some(slot)
        };
        // Signaling messages are small and latency-bound: no Nagle delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
        let meter = Meter::new();
        meter.on_socket(std::os::fd::AsRawFd::as_raw_fd(&tcp));
        // The slot lives in the stream, so an upgraded WebSocket keeps it.
        let io =
            TokioIo::new(Metered::new(tcp, meter.clone(), slot).charging(limits.memory.clone()));
        let service = PerConnection {
            app: app.clone(),
            peer,
            meter,
            body_timeout: limits.body_timeout,
        };
        let conn = http.serve_connection(io, service).with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// What every request of one connection carries into the router: the peer's
/// address (as `axum::serve` gives it) and the connection's [`Meter`], and a
/// body that fails when the client stalls.
#[derive(Clone)]
struct PerConnection {
    app: Router,
    peer: SocketAddr,
    meter: Arc<Meter>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for PerConnection {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Oneshot<Router, Request<Body>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut req = req.map(|body| Body::new(TimeoutBody::new(self.body_timeout, body)));
        req.extensions_mut().insert(ConnectInfo(self.peer));
        req.extensions_mut().insert(self.meter.clone());
        self.app.clone().oneshot(req)
    }
}

/// `accept` fails when the process is out of file descriptors (EMFILE): the
/// listener stays readable, so retrying at once would spin. Waits a little
/// longer each time, up to half a second, and says so once per episode.
#[derive(Default)]
struct AcceptBackoff {
    delay: Option<Duration>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(500);

    fn reset(&mut self) {
        self.delay = None;
    }

    async fn wait(&mut self, e: std::io::Error) {
        use std::io::ErrorKind::*;
        // The client gave up before we accepted: nothing to wait for.
        if matches!(
            e.kind(),
            ConnectionAborted | ConnectionReset | ConnectionRefused
        ) {
            return;
        }
        let delay = match self.delay {
            None => {
                tracing::warn!("accept failed ({e}); backing off until it works again");
                Self::FIRST
            }
            Some(d) => (d * 2).min(Self::MAX),
        };
        self.delay = Some(delay);
        tokio::time::sleep(delay).await;
    }
}
