//! Serving a built gateway until shutdown, and the listening socket.

use std::future::Future;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use socketioxide::SocketIo;

use crate::adapter::Adapter;
use crate::http::Readiness;
use crate::metrics::Metrics;
use crate::net::{self, HttpLimits};
use crate::socket::sessions::Sessions;

/// What serving needs of a built gateway.
pub(super) struct Serving {
    pub metrics: Arc<Metrics>,
    pub io: SocketIo<Adapter>,
    pub router: Router,
    pub sessions: Sessions,
    pub ready: Readiness,
    pub grace: Duration,
    pub http_limits: HttpLimits,
    /// Stops this node's cluster task (heartbeat and sweep) on shutdown.
    pub stop_node: CancellationToken,
}

impl Serving {
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let Serving {
            metrics,
            io,
            router,
            sessions,
            ready,
            grace,
            http_limits,
            stop_node,
        } = self;
        let stopping = CancellationToken::new();
        let closed = CancellationToken::new();
        tokio::spawn({
            let (stopping, closed) = (stopping.clone(), closed.clone());
            async move {
                shutdown.await;
                tracing::info!("shutting down");
                ready.0.store(false, Ordering::Relaxed);
                stopping.cancel();
                // Let queued relays go out before the sockets close.
                if tokio::time::timeout(grace / 2, sessions.idle())
                    .await
                    .is_err()
                {
                    tracing::warn!("closing sockets with events still queued");
                }
                io.close().await;
                sessions.tasks.close();
                let _ = tokio::time::timeout(grace / 2, sessions.tasks.wait()).await;
                // Alive in the cluster until its sockets have left their rooms
                // themselves; whatever remains is reaped by the other nodes.
                stop_node.cancel();
                closed.cancel();
            }
        });
        let refused = metrics.refusal("connections_per_address");
        let server = net::serve(listener, router, http_limits, stopping.clone(), refused);
        tokio::select! {
            _ = server => {}
            _ = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("grace period over; dropping remaining connections");
            }
        }
        let _ = tokio::time::timeout(grace, closed.cancelled()).await;
    }
}

/// Binds the listening socket with room for a reconnect storm: the default
/// backlog (128) overflows when hundreds of clients connect at once, and the
/// kernel then drops their SYNs, which cost each of them a one-second
/// retransmission (measured by the bench's idle scenario).
pub fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}
