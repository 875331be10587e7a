//! The connections to Redis. One client crate, fred, serves both the room
//! registry and the Socket.IO adapter (socketioxide-redis's fred driver):
//! it reconnects by itself with a policy and resubscribes the adapter's
//! channels after a reconnection, and its commands fail after a timeout
//! instead of waiting for a Redis that is away.

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
const PUBSUB_RING: usize = 16_384;
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

/// Whether the adapter's channels are subscribed on a live connection: until
/// they are again after a reconnection, messages for this node are lost, so
/// the node is not ready.
#[derive(Clone)]
pub struct Subscriptions {
    client: SubscriberClient,
    live: Arc<AtomicBool>,
}

impl Subscriptions {
    pub fn ready(&self) -> bool {
        self.client.is_connected() && self.live.load(Ordering::Acquire)
    }
}

/// A subscriber client (for the adapter) that resubscribes after reconnecting.
pub async fn subscriber(
    settings: &RedisSettings,
) -> Result<(SubscriberClient, Subscriptions), RedisError> {
    let client = builder(settings, PUBSUB_RING)?.build_subscriber_client()?;
    let health = Subscriptions {
        client: client.clone(),
        live: Arc::new(AtomicBool::new(false)),
    };
    // The adapter's driver calls `init`. fred's own `manage_subscriptions`
    // cannot serve here: it first sends SUBSCRIBE with the (empty) list of
    // plain channels, which Redis refuses, and stops before the shard
    // channels, the only ones the adapter uses (SSUBSCRIBE).
    // Listening before the first connection, whose event counts too.
    let events = (client.reconnect_rx(), client.error_rx());
    tokio::spawn(resubscribe(health.clone(), events));
    Ok((client, health))
}

/// On every (re)connection, subscribes the channels the adapter holds; a
/// connection error marks them lost until then.
async fn resubscribe(
    health: Subscriptions,
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
        // None yet: the adapter subscribes them itself at start-up.
        if !channels.is_empty() {
            if let Err(e) = client.ssubscribe(channels).await {
                tracing::error!(error = %e, "cannot subscribe the adapter's channels again");
                continue;
            }
            tracing::info!("adapter channels subscribed again after a reconnection");
        }
        health.live.store(true, Ordering::Release);
    }
}
