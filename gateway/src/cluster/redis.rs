//! The connections to Redis. One client crate, fred, serves the room
//! registry and the nodes' channels: it reconnects by itself with a policy,
//! the channel is subscribed again after a reconnection, and its commands
//! fail after a timeout instead of waiting for a Redis that is away. A node
//! holds two connections: commands (the registry; batches for other nodes
//! are published there) and the subscriber of its own channel.

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
/// The command client receives no messages.
const FRED_DEFAULT_RING: usize = 32;
/// Delay between reconnection attempts.
const RECONNECT_DELAY_MS: u32 = 250;

#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct RedisError(#[from] fred::error::Error);

fn builder(settings: &RedisSettings, ring: usize) -> Result<Builder, RedisError> {
    let mut config = Config::from_url(&settings.url)?;
    // Redis 7 is needed anyway (shard channels); RESP3 as the nodes were
    // always tested with. fred does not read it from the URL.
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

/// Whether the node's channel is subscribed on a live connection: until it
/// is again after a reconnection, messages for this node are lost, so the
/// node is not ready.
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
}

/// A subscriber client that resubscribes its shard channels after
/// reconnecting, with a ring of `ring` messages (`RELAY_RING`: it must
/// cover the wake-ups of `relay::forward` only, which does nothing else).
pub async fn subscriber(
    settings: &RedisSettings,
    ring: usize,
) -> Result<(SubscriberClient, Subscriptions), RedisError> {
    let client = builder(settings, ring)?.build_subscriber_client()?;
    let health = Subscription {
        client: client.clone(),
        live: Arc::new(AtomicBool::new(false)),
    };
    // The caller calls `init`, after taking the message stream. fred's
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
