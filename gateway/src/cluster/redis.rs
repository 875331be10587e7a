//! The connections to Redis. One client crate, fred, serves the room
//! registry, the Socket.IO adapter (socketioxide-redis's fred driver) and the
//! relay channels: it reconnects by itself with a policy, the channels are
//! subscribed again after a reconnection, and its commands fail after a
//! timeout instead of waiting for a Redis that is away. A node holds three
//! connections: commands (the registry; relays are published there), the
//! adapter's subscriber, and the subscriber of its relay channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::{Builder, Config, ReconnectPolicy};
use fred::types::Key;
use fred::types::RespVersion;
use tokio::sync::broadcast::{self, error::RecvError};

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    /// How long one command may take, queued or sent, before it fails.
    pub command_timeout: Duration,
}

/// Commands queued while Redis is away, beyond which they fail at once.
const MAX_QUEUED_COMMANDS: usize = 10_000;
/// Adapter messages buffered between fred's reader and the adapter's: every
/// node receives every cross-node message, and a ring that overflows drops
/// the oldest (logged by the driver as "lagged"). fred's default, 32, lagged
/// under a burst of relays; 4096 still lagged at ~30k msg/s on 3 nodes sharing
/// 2 cores (the bench's cluster3). fred allocates this ring for each of its
/// event channels, which is what a node's RSS pays for it.
pub const PUBSUB_RING: usize = 16_384;
/// Relays from other nodes buffered between fred's reader and their hand-over
/// to this node's sockets (`relay::listen`, which never waits): each node
/// receives only the relays for its own sockets. When the hand-over falls
/// this far behind (a node starved of CPU while others send it relays), the
/// oldest are dropped and counted. At most this many relays of up to 128 KiB
/// (512 MiB) are held here in the worst case. Like the adapter's, the ring is
/// allocated whole for each of fred's event channels: about 14 MB of a node's
/// RSS (1,024 would be 8 MB).
pub const RELAY_RING: usize = 4096;
/// The command client receives no messages.
const FRED_DEFAULT_RING: usize = 32;
/// The adapter's own queue behind it (grows as it fills).
pub const ADAPTER_QUEUE: usize = 16_384;
/// Delay between reconnection attempts.
const RECONNECT_DELAY_MS: u32 = 250;

#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct RedisError(#[from] fred::error::Error);

fn builder(settings: &RedisSettings, ring: usize) -> Result<Builder, RedisError> {
    let mut config = Config::from_url(&settings.url)?;
    // socketioxide-redis needs RESP3 (Redis 7); fred does not read it from the URL.
    config.version = RespVersion::RESP3;
    // Start-up fails when Redis is unreachable; later losses reconnect.
    config.fail_fast = true;
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(ReconnectPolicy::new_constant(0, RECONNECT_DELAY_MS))
        .with_connection_config(|c| {
            c.connection_timeout = settings.command_timeout;
            c.internal_command_timeout = settings.command_timeout;
            c.max_command_buffer_len = MAX_QUEUED_COMMANDS;
            c.tcp.nodelay = Some(true);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = settings.command_timeout;
            p.broadcast_channel_capacity = ring;
        });
    Ok(builder)
}

/// A connected command client (for the room registry).
pub async fn client(settings: &RedisSettings) -> Result<Client, RedisError> {
    let client = builder(settings, FRED_DEFAULT_RING)?.build()?;
    client.init().await?;
    Ok(client)
}

/// Whether the node's channels (the adapter's, and the relay channel) are
/// subscribed on live connections: until they are again after a reconnection,
/// messages for this node are lost, so the node is not ready.
#[derive(Clone)]
pub struct Subscriptions(Vec<Subscription>);

/// One subscriber connection's channels.
#[derive(Clone)]
struct Subscription {
    client: SubscriberClient,
    live: Arc<AtomicBool>,
}

impl Subscriptions {
    pub fn ready(&self) -> bool {
        self.0
            .iter()
            .all(|s| s.client.is_connected() && s.live.load(Ordering::Acquire))
    }

    /// Ready when both are.
    pub fn and(mut self, other: Subscriptions) -> Self {
        self.0.extend(other.0);
        self
    }
}

/// A subscriber client that resubscribes its shard channels after
/// reconnecting, with a ring of `ring` messages ([`PUBSUB_RING`] for the
/// adapter, [`RELAY_RING`] for the relay channel).
pub async fn subscriber(
    settings: &RedisSettings,
    ring: usize,
) -> Result<(SubscriberClient, Subscriptions), RedisError> {
    let client = builder(settings, ring)?.build_subscriber_client()?;
    let health = Subscription {
        client: client.clone(),
        live: Arc::new(AtomicBool::new(false)),
    };
    // The caller calls `init` (the adapter's driver, for its client). fred's
    // own `manage_subscriptions` cannot serve here: it first sends SUBSCRIBE
    // with the (empty) list of plain channels, which Redis refuses, and stops
    // before the shard channels, the only ones used here (SSUBSCRIBE).
    // Listening before the first connection, whose event counts too.
    let events = (client.reconnect_rx(), client.error_rx());
    tokio::spawn(resubscribe(health.clone(), events));
    Ok((client, Subscriptions(vec![health])))
}

/// On every (re)connection, subscribes the channels the client holds; a
/// connection error marks them lost until then.
async fn resubscribe(
    health: Subscription,
    (mut reconnects, mut errors): (
        broadcast::Receiver<fred::types::config::Server>,
        broadcast::Receiver<(fred::error::Error, Option<fred::types::config::Server>)>,
    ),
) {
    let client = &health.client;
    loop {
        tokio::select! {
            event = reconnects.recv() => {
                if let Err(RecvError::Closed) = event {
                    return;
                }
            }
            event = errors.recv() => {
                if let Err(RecvError::Closed) = event {
                    return;
                }
                health.live.store(false, Ordering::Release);
                continue;
            }
        }
        health.live.store(false, Ordering::Release);
        let channels: Vec<Key> = client
            .tracked_shard_channels()
            .into_iter()
            .map(Key::from)
            .collect();
        // None yet: they are subscribed at start-up by their owner.
        if !channels.is_empty() {
            if let Err(e) = client.ssubscribe(channels).await {
                tracing::error!(error = %e, "cannot subscribe the cluster's channels again");
                continue;
            }
            tracing::info!("cluster channels subscribed again after a reconnection");
        }
        health.live.store(true, Ordering::Release);
    }
}
