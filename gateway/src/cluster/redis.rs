//! The connections to Redis. One client crate, fred, serves both the room
//! registry and the Socket.IO adapter (socketioxide-redis's fred driver):
//! it reconnects by itself with a policy and resubscribes the adapter's
//! channels after a reconnection, and its commands fail after a timeout
//! instead of waiting for a Redis that is away.

use std::time::Duration;

use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::{Builder, Config, ReconnectPolicy};
use fred::types::Key;
use fred::types::RespVersion;
use tokio::sync::broadcast::error::RecvError;

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    /// How long one command may take, queued or sent, before it fails.
    pub command_timeout: Duration,
}

/// Commands queued while Redis is away, beyond which they fail at once.
const MAX_QUEUED_COMMANDS: usize = 10_000;
/// Adapter messages buffered between fred and the adapter's reader. Under a
/// burst of relays a smaller buffer lags and drops messages.
pub const PUBSUB_BUFFER: usize = 16_384;
/// Delay between reconnection attempts.
const RECONNECT_DELAY_MS: u32 = 250;

#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct RedisError(#[from] fred::error::Error);

fn builder(settings: &RedisSettings) -> Result<Builder, RedisError> {
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
            p.broadcast_channel_capacity = PUBSUB_BUFFER;
        });
    Ok(builder)
}

/// A connected command client (for the room registry).
pub async fn client(settings: &RedisSettings) -> Result<Client, RedisError> {
    let client = builder(settings)?.build()?;
    client.init().await?;
    Ok(client)
}

/// A subscriber client (for the adapter) that resubscribes after reconnecting.
pub async fn subscriber(settings: &RedisSettings) -> Result<SubscriberClient, RedisError> {
    let client = builder(settings)?.build_subscriber_client()?;
    // The adapter's driver calls `init`. fred's own `manage_subscriptions`
    // cannot serve here: it first sends SUBSCRIBE with the (empty) list of
    // plain channels, which Redis refuses, and stops before the shard
    // channels, the only ones the adapter uses (SSUBSCRIBE).
    let resubscriber = client.clone();
    tokio::spawn(async move {
        let mut reconnects = resubscriber.reconnect_rx();
        loop {
            match reconnects.recv().await {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
            let channels: Vec<Key> = resubscriber
                .tracked_shard_channels()
                .into_iter()
                .map(Key::from)
                .collect();
            if channels.is_empty() {
                continue;
            }
            match resubscriber.ssubscribe(channels).await {
                Ok(()) => tracing::info!("adapter channels subscribed again after a reconnection"),
                Err(e) => {
                    tracing::error!(error = %e, "cannot subscribe the adapter's channels again")
                }
            }
        }
    });
    Ok(client)
}
