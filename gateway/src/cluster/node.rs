//! This node's life in the cluster, one task: the heartbeat that keeps its
//! liveness key, the sweep that reaps nodes whose key expired, and the
//! reconciliation after Redis came back.
//!
//! Bounds: a live node refreshes its key every `heartbeat`; a node that died
//! or froze at `t` has its key gone by `t + timeout`, and the next sweep (every
//! [`sweep_every`]) of any node reports its members, so their peers hear
//! `peer:left` by `t + timeout + sweep_every(heartbeat)`.
//!
//! A sweeper reaps only after its own connection has been healthy for a whole
//! `timeout`: after a Redis outage every live node first gets the time to
//! beat again, so none is taken for dead because Redis was, and to subscribe
//! its channels again, so that none misses the `peer:left` it sends. Leaves
//! that failed during the outage are reported then too ([`RedisRooms::settle`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::interfaces::EventInterface;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::rooms::Departed;
use crate::rooms::redis::{Heartbeat, RedisRooms};

/// The liveness settings (`NODE_HEARTBEAT`, `NODE_TIMEOUT`).
#[derive(Debug, Clone, Copy)]
pub struct NodeSettings {
    pub heartbeat: Duration,
    pub timeout: Duration,
}

/// How often a node looks for dead ones: often enough to add little to the
/// timeout, at most every second.
pub fn sweep_every(heartbeat: Duration) -> Duration {
    (heartbeat / 2).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// What the rest of the gateway does when the cluster changes.
pub trait NodeEvents: Send + Sync + 'static {
    /// Members of a dead node, removed from the registry: tell their rooms.
    fn members_gone(&self, gone: Vec<Departed>) -> impl Future<Output = ()> + Send;
    /// This node was reaped by another (it was frozen or cut off past the
    /// timeout): its members were reported gone, so its sockets must go.
    fn evicted(&self) -> impl Future<Output = ()> + Send;
}

/// Runs until `stop` is cancelled.
pub async fn run(
    rooms: Arc<RedisRooms>,
    settings: NodeSettings,
    events: impl NodeEvents,
    stop: CancellationToken,
) {
    let mut beat = tokio::time::interval(settings.heartbeat);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(sweep_every(settings.heartbeat));
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reconnects = rooms.client().reconnect_rx();
    // Registered at start-up (`RedisRooms::reconcile`).
    let mut healthy_since = Some(Instant::now());
    loop {
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            _ = beat.tick() => match rooms.heartbeat().await {
                // Back after failures: the key survived, but Redis may have
                // restarted from an older snapshot.
                Ok(Heartbeat::Alive) if healthy_since.is_none() => rooms.reconcile().await,
                other => other,
            },
            reconnected = reconnects.recv() => match reconnected {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    tracing::info!("reconnected to Redis; reconciling this node's members");
                    healthy_since = None;
                    rooms.reconcile().await
                }
                Err(RecvError::Closed) => {
                    reconnects = tokio::sync::broadcast::channel(1).1;
                    continue;
                }
            },
            _ = sweep.tick() => {
                if healthy_since.is_some_and(|t| t.elapsed() >= settings.timeout) {
                    // Writes that failed (Redis away or slow) are made good,
                    // and the peers of members that left meanwhile told.
                    match rooms.settle().await {
                        Ok(departed) if !departed.is_empty() => events.members_gone(departed).await,
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, "settling failed writes must wait"),
                    }
                    match rooms.reap().await {
                        Ok(gone) if !gone.is_empty() => {
                            tracing::warn!(members = gone.len(), "reaped the members of dead nodes");
                            events.members_gone(gone).await;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, "sweep failed"),
                    }
                }
                continue;
            }
        };
        match outcome {
            Ok(Heartbeat::Alive) => {
                healthy_since.get_or_insert_with(Instant::now);
            }
            Ok(Heartbeat::Restored) => {
                tracing::warn!("this node's key was gone (Redis lost its data?): members put back");
                healthy_since = Some(Instant::now());
            }
            Ok(Heartbeat::Evicted) => {
                tracing::error!(
                    "this node was evicted from the cluster (frozen or cut off past NODE_TIMEOUT): closing its sockets"
                );
                events.evicted().await;
                healthy_since = Some(Instant::now());
            }
            Err(e) => {
                if healthy_since.take().is_some() {
                    tracing::error!(error = %e, "Redis unreachable; events that need it fail until it is back");
                }
            }
        }
    }
}
