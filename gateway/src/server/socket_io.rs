//! The Socket.IO side: engineioxide's limits, the namespace with its
//! admission, and, in a cluster, the node's tasks (heartbeat and sweep,
//! relays arriving from other nodes).

use std::sync::Arc;

use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{ParserConfig, SocketIo};
use tokio_util::sync::CancellationToken;

use crate::adapter::Adapter;
use crate::cluster::node::NodeEvents;
use crate::cluster::relay::RelayLink;
use crate::cluster::{self, Cluster, RelayArrivals};
use crate::config::LimitsConfig;
use crate::rooms::Departed;
use crate::rooms::redis::RedisRooms;
use crate::socket::admission;
use crate::socket::sessions::Sessions;
use crate::state::AppState;

/// Binary attachments are not part of the protocol: one small one is read
/// (and refused as `INVALID_PAYLOAD`), anything more closes the connection.
const MAX_BINARY_ATTACHMENT: usize = 1024;

/// Socket.IO, serving the namespace.
pub(super) struct SocketIoParts {
    pub layer: SocketIoLayer<Adapter>,
    pub io: SocketIo<Adapter>,
    /// Stops this node's cluster tasks on shutdown.
    pub stop_node: CancellationToken,
}

pub(super) fn build(
    limits: &LimitsConfig,
    state: &Arc<AppState>,
    sessions: &Sessions,
    cluster: Option<Cluster>,
) -> SocketIoParts {
    let payload_cap = usize::try_from(limits.max_payload).unwrap_or(usize::MAX);
    // Process-wide in the vendored engineioxide (vendor/PATCHES.md,
    // `pre-connect`): socketioxide's builder has no way to pass it.
    engineioxide::set_max_pre_connect_payload(limits.max_pre_connect_payload);
    let (layer, io) = SocketIo::builder()
        .max_payload(limits.max_payload)
        .ws_max_message_size(payload_cap)
        .ws_max_frame_size(payload_cap)
        // Room for a burst of relays towards one slow reader; the vendored
        // engineioxide's queue (vendor/PATCHES.md, `queue`) allocates only
        // as packets are queued, so the bound costs idle sockets nothing.
        .max_buffer_size(8192)
        // Signaling frames are small; the buffer grows for a large SDP.
        .ws_read_buffer_size(1024)
        .connect_timeout(limits.handshake_timeout)
        .with_parser(
            ParserConfig::common()
                .max_incoming_binaries(1)
                .max_incoming_binary_buf_size(MAX_BINARY_ATTACHMENT)
                .packet_completion_timeout(limits.handshake_timeout),
        )
        .with_state(state.clone())
        .with_state(sessions.clone())
        .build_layer();
    serve_namespace(&io);
    let stop_node = CancellationToken::new();
    if let Some(Cluster {
        rooms,
        relays,
        inbound,
        node,
        ..
    }) = cluster
    {
        let arrivals = RelayArrivals {
            io: io.clone(),
            metrics: state.metrics.clone(),
        };
        let events = ClusterEvents {
            io: io.clone(),
            rooms: rooms.clone(),
            relays,
            arrivals: arrivals.clone(),
        };
        tokio::spawn(cluster::node::run(rooms, node, events, stop_node.clone()));
        tokio::spawn(cluster::relay::listen(inbound, arrivals, stop_node.clone()));
    }
    SocketIoParts {
        layer,
        io,
        stop_node,
    }
}

/// Serves the gateway's namespace on `io`: sockets are admitted by
/// [`admission::admit`] before the CONNECT packet goes out.
fn serve_namespace(io: &SocketIo<Adapter>) {
    io.ns("/", admission::connect.with(admission::admit));
}

/// What the cluster task asks of the rest of the gateway.
struct ClusterEvents {
    io: SocketIo<Adapter>,
    rooms: Arc<RedisRooms>,
    relays: Arc<RelayLink>,
    arrivals: RelayArrivals,
}

impl NodeEvents for ClusterEvents {
    async fn members_gone(&self, gone: Vec<Departed>) {
        cluster::reaped::tell(&self.rooms, &self.relays, &self.arrivals, &gone).await;
    }

    /// Closes every socket's transport (clients reconnect, to any node, and
    /// rejoin), then serves the namespace again under the node's new identity.
    async fn evicted(&self) {
        self.io.close().await;
        serve_namespace(&self.io);
    }
}
