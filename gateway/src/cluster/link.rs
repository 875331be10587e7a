//! The way out to other nodes: one writer task per destination node, fed by a
//! queue that senders push to without waiting. The writer takes everything
//! queued (up to [`BATCH_BYTES`]) and publishes it as one batch
//! ([`wire::batch`]) on the destination's channel, then the next: batches to
//! one node leave one after another on the one command connection, so Redis
//! delivers them in the order they were queued, and a sender's relays (queued
//! in its order by its inbox) arrive in that order. Each batch carries its
//! number in the pair (this node → that one), so the receiver sees one missed.
//!
//! A relay is acked once queued. A writer whose last publish reached no
//! subscriber (the node is gone, or not subscribed again yet after Redis came
//! back) or failed (Redis away) makes further sends fail at once, until a
//! publish (a probe, an empty batch, every [`PROBE_EVERY`]) gets through: the
//! relays already queued then are lost, as relays in flight to a node that
//! dies are.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::interfaces::{KeysInterface, PubsubInterface};
use tokio::sync::{mpsc, oneshot};

/// Told what became of the batch an envelope went in.
type Done = oneshot::Sender<u8>;

use super::wire::{self, Envelope};
use crate::rooms::redis::View;

/// What one node may queue for another before sends fail (`Full`): a few
/// hundred milliseconds of a saturated link, or 64 relays of the largest size.
pub const QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Envelopes joined into one publish at most (beyond one envelope).
pub const BATCH_BYTES: usize = 512 * 1024;
/// How often an unhealthy writer tries its destination again.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// A writer unheard for this long stops (its node is gone for good: routes
/// are drawn per process); sends to it keep failing.
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// The node's channel, `<REDIS_PREFIX>-relay:<route>`. Not hash-tagged: in a
/// Redis Cluster the nodes' channels spread over the shards.
pub fn channel(prefix: &str, route: &str) -> String {
    format!("{prefix}-relay:{route}")
}

/// Why a message for another node was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("relay envelope: {0}")]
    Encode(#[from] serde_json::Error),
    /// The queue to that node holds [`QUEUE_BYTES`].
    #[error("the queue to node {0} is full")]
    Full(String),
    /// No node read that channel at the last publish.
    #[error("no node reads the channel of {0}")]
    Unheard(String),
    /// That node's liveness key expired: it missed its heartbeats (frozen,
    /// cut off, or dead and not reaped yet).
    #[error("node {0} missed its heartbeats")]
    Dead(String),
    /// The last publish failed.
    #[error("publishing to node {0} failed: Redis unreachable")]
    Unreachable(String),
}

const HEALTHY: u8 = 0;
const UNHEARD: u8 = 1;
const UNREACHABLE: u8 = 2;

struct Shared {
    queued: AtomicUsize,
    state: AtomicU8,
    /// The node's liveness key was seen (a node of an older version sets none).
    seen: AtomicBool,
    /// The node's liveness key expired since: it missed its heartbeats.
    dead: AtomicBool,
}

struct Writer {
    queue: mpsc::UnboundedSender<(Vec<u8>, Option<Done>)>,
    shared: Arc<Shared>,
}

/// Publishes to other nodes' channels (on the registry's command client).
pub struct RelayLink {
    client: Client,
    prefix: String,
    /// This node's route: who the batches are from.
    route: String,
    writers: Arc<Mutex<HashMap<String, Writer>>>,
    /// The node's view of its rooms (`ClusterDelivery` reaches it here).
    view: Arc<View>,
}

impl RelayLink {
    /// `check_every`: how often the destinations' liveness keys are read.
    pub fn new(
        client: Client,
        prefix: &str,
        route: &str,
        view: Arc<View>,
        check_every: Duration,
    ) -> Self {
        let writers = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(watch(
            client.clone(),
            format!("{{{prefix}}}:alive:"),
            Arc::downgrade(&writers),
            view.clone(),
            check_every,
        ));
        Self {
            view,
            client,
            prefix: prefix.to_owned(),
            route: route.to_owned(),
            writers,
        }
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    /// Queues `envelope` for the node of `route` and waits for the publish
    /// of the batch it went in: `Ok` once Redis handed it to that node's
    /// subscriber. Relays of other senders queued meanwhile share that publish.
    pub async fn send(&self, route: &str, envelope: &Envelope<'_>) -> Result<(), SendError> {
        let (done, published) = oneshot::channel();
        self.queue(route, envelope.encode()?, Some(done))?;
        match published.await {
            Ok(HEALTHY) => Ok(()),
            Ok(UNHEARD) | Err(_) => Err(SendError::Unheard(route.to_owned())),
            Ok(_) => Err(SendError::Unreachable(route.to_owned())),
        }
    }

    /// Queues one encoded envelope for the node of `route`, without waiting.
    pub fn push(&self, route: &str, bytes: Vec<u8>) -> Result<(), SendError> {
        self.queue(route, bytes, None)
    }

    fn queue(&self, route: &str, bytes: Vec<u8>, done: Option<Done>) -> Result<(), SendError> {
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        let writer = match writers.get(route) {
            Some(w) => w,
            None => {
                let w = self.spawn(route);
                writers.entry(route.to_owned()).or_insert(w)
            }
        };
        if writer.shared.dead.load(Ordering::Acquire) {
            return Err(SendError::Dead(route.to_owned()));
        }
        match writer.shared.state.load(Ordering::Acquire) {
            HEALTHY => {}
            UNHEARD => return Err(SendError::Unheard(route.to_owned())),
            _ => return Err(SendError::Unreachable(route.to_owned())),
        }
        let len = bytes.len();
        if writer.shared.queued.fetch_add(len, Ordering::AcqRel) + len > QUEUE_BYTES {
            writer.shared.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(SendError::Full(route.to_owned()));
        }
        // Closed only once its node was unheard for GIVE_UP_AFTER: refused above.
        writer
            .queue
            .send((bytes, done))
            .map_err(|_| SendError::Unheard(route.to_owned()))
    }

    fn spawn(&self, route: &str) -> Writer {
        let (queue, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            state: AtomicU8::new(HEALTHY),
            seen: AtomicBool::new(false),
            dead: AtomicBool::new(false),
        });
        tokio::spawn(write(
            self.client.clone(),
            channel(&self.prefix, route),
            self.route.clone(),
            rx,
            shared.clone(),
        ));
        Writer { queue, shared }
    }
}

/// The writer of one destination: a batch per publish, in queue order.
async fn write(
    client: Client,
    channel: String,
    from: String,
    mut rx: mpsc::UnboundedReceiver<(Vec<u8>, Option<Done>)>,
    shared: Arc<Shared>,
) {
    let mut seq = 0u64;
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let mut waiting: Vec<Done> = Vec::new();
    let mut unhealthy_since: Option<Instant> = None;
    loop {
        let first = tokio::select! {
            first = rx.recv() => match first {
                Some(m) => Some(m),
                None => return,
            },
            _ = tokio::time::sleep(PROBE_EVERY), if unhealthy_since.is_some() => None,
        };
        let mut bytes = 0;
        let mut next = first;
        while let Some((m, done)) = next.take() {
            bytes += m.len();
            msgs.push(m);
            waiting.extend(done);
            if bytes < BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        shared.queued.fetch_sub(bytes, Ordering::AcqRel);
        seq += 1;
        let payload = wire::batch(&from, seq, &msgs);
        let count = msgs.len();
        msgs.clear();
        let state = match client
            .spublish::<i64, _, _>(channel.as_str(), payload)
            .await
        {
            Ok(n) if n > 0 => HEALTHY,
            Ok(_) => UNHEARD,
            Err(e) => {
                tracing::debug!(error = %e, channel, "publishing a batch failed");
                UNREACHABLE
            }
        };
        for done in waiting.drain(..) {
            let _ = done.send(state);
        }
        let was = shared.state.swap(state, Ordering::AcqRel);
        if state == HEALTHY {
            unhealthy_since = None;
            continue;
        }
        if was == HEALTHY || count > 0 {
            tracing::warn!(
                channel,
                lost = count,
                unheard = state == UNHEARD,
                "a node's channel is not reached: relays to it fail until it is"
            );
        }
        let since = *unhealthy_since.get_or_insert_with(Instant::now);
        if state == UNHEARD && since.elapsed() >= GIVE_UP_AFTER {
            tracing::info!(channel, "stopped writing to a node unheard for long");
            return;
        }
    }
}

/// Reads the liveness key of every destination every `every`: a node whose
/// key was seen and is gone missed its heartbeats, and sends to it fail
/// until it beats again. Redis away: nothing changes.
async fn watch(
    client: Client,
    key_prefix: String,
    writers: Weak<Mutex<HashMap<String, Writer>>>,
    view: Arc<View>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let Some(writers) = writers.upgrade() else {
            return;
        };
        let (routes, shared): (Vec<String>, Vec<Arc<Shared>>) = writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(route, w)| (route.clone(), w.shared.clone()))
            .unzip();
        let keys: Vec<String> = routes.iter().map(|r| format!("{key_prefix}{r}")).collect();
        drop(writers);
        if keys.is_empty() {
            continue;
        }
        let Ok(alive) = client.mget::<Vec<Option<String>>, _>(keys).await else {
            continue;
        };
        for ((route, shared), alive) in routes.iter().zip(&shared).zip(alive) {
            if alive.is_some() {
                shared.seen.store(true, Ordering::Release);
                shared.dead.store(false, Ordering::Release);
            } else if shared.seen.load(Ordering::Acquire)
                && !shared.dead.swap(true, Ordering::AcqRel)
            {
                tracing::warn!(
                    route,
                    "a node missed its heartbeats: relays to its members fail until it is back"
                );
                // Its members leave the view: should it resume (evicted), its
                // old members are not routed to.
                view.forget_route(route);
            }
        }
    }
}
