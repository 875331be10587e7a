//! A node's start in the cluster: its Redis connections, the shared room
//! registry (the node registered in it) and the node's channel.

use std::sync::Arc;

use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};

use super::node::NodeSettings;
use super::redis::{self, RedisError, RedisSettings, Subscriptions};
use super::relay::{self, Inbound, RelayLink};
use crate::config::ClusterConfig;
use crate::rooms::RoomPolicy;
use crate::rooms::redis::{Liveness, RedisRooms};

/// How long a reaped node's tombstone is kept: a node frozen for longer than
/// this could come back with its old identity. Nodes die rarely; the cost is
/// one small key per dead node.
const TOMBSTONE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("room registry: {0}")]
    Registry(#[from] crate::rooms::RoomError),
    #[error("NODE_TIMEOUT ({timeout:?}) must be at least twice NODE_HEARTBEAT ({heartbeat:?})")]
    Timing {
        heartbeat: std::time::Duration,
        timeout: std::time::Duration,
    },
}

/// A node's connections to the cluster, made at start-up.
pub struct Cluster {
    pub rooms: Arc<RedisRooms>,
    /// Publishes relays to other nodes.
    pub relays: Arc<RelayLink>,
    /// This node's relay channel, subscribed: hand it to `relay::listen`.
    pub inbound: Inbound,
    pub subscriptions: Subscriptions,
    pub node: NodeSettings,
}

impl Cluster {
    /// Connects to `REDIS_URL` and registers this node; fails when Redis is
    /// unreachable at start-up (later outages are survived).
    pub async fn connect(
        config: &ClusterConfig,
        url: &str,
        policy: RoomPolicy,
    ) -> Result<Self, ClusterError> {
        let node = NodeSettings {
            heartbeat: config.node_heartbeat,
            timeout: config.node_timeout,
        };
        if node.timeout < node.heartbeat * 2 {
            return Err(ClusterError::Timing {
                heartbeat: node.heartbeat,
                timeout: node.timeout,
            });
        }
        let settings = RedisSettings {
            url: url.to_owned(),
            command_timeout: config.redis_timeout,
        };
        let rooms = RedisRooms::new(
            redis::client(&settings).await?,
            &config.redis_prefix,
            policy,
            Liveness {
                timeout: node.timeout,
                tombstone: TOMBSTONE,
            },
        );
        rooms.reconcile().await?;
        let rooms = Arc::new(rooms);
        let relays = Arc::new(RelayLink::new(
            rooms.client().clone(),
            &config.redis_prefix,
            rooms.route(),
            rooms.view().clone(),
            super::node::sweep_every(node.heartbeat),
            (node.timeout, config.flush_delay),
        ));
        let (client, subscriptions) =
            redis::subscriber(&settings, config.relay_ring as usize).await?;
        // Listening before subscribing, so that nothing sent is missed.
        let messages = client.message_rx();
        client.init().await.map_err(RedisError::from)?;
        let channel = relay::channel(&config.redis_prefix, rooms.route());
        client
            .ssubscribe(channel.as_str())
            .await
            .map_err(RedisError::from)?;
        Ok(Self {
            rooms: rooms.clone(),
            relays: relays.clone(),
            inbound: Inbound {
                client,
                channel,
                messages,
                rooms,
                link: relays.clone(),
            },
            subscriptions,
            node,
        })
    }
}
