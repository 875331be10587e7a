//! The way out to other nodes: one writer task per destination node, fed by a
//! queue that senders push to without waiting. The writer takes everything
//! queued (up to [`BATCH_BYTES`]) and publishes it as one batch
//! ([`wire::batch`]) on the destination's channel, then the next: batches to
//! one node leave one after another on the one command connection, so Redis
//! delivers them in the order they were queued, and a sender's relays (queued
//! in its order by its inbox) arrive in that order. Each batch carries its
//! number in the pair (this node → that one), so the receiver sees one missed.
//!
//! A relay is acked `{ ok: true }` only on the destination's receipt: each
//! node reports to each sender the highest batch number from it that it has
//! handed over to its sockets' outboxes, in the `ack` of its own next batch
//! to that node, or, when it has nothing to send, in an empty batch of its
//! own (one per publish of the sender's at most, coalesced). The receipt also
//! names the batches it found missing (numbers skipped: dropped unread, as
//! when its subscriber's ring overflowed on a resume), and it keeps naming
//! them for [`KEEP_MISSED`] × `NODE_TIMEOUT`, as the receipt that named them
//! first may be lost too; their relays fail (`Lost`), the others are acked.
//! Relays awaiting their receipt fail (`Dead`, `NoReceipt`: `PEER_NOT_FOUND`)
//! once the destination's liveness key is seen expired, or when no receipt
//! came within `NODE_TIMEOUT` of the publish (then a later receipt does not
//! count: it may come from past the time the losses are named): a frozen
//! node, whose socket Redis still fills, acks nothing. The bytes of the relays awaiting receipts count
//! in [`QUEUE_BYTES`], their number is bounded by [`MAX_AWAITING`].
//!
//! A writer whose last publish reached no subscriber (the node is gone, or
//! not subscribed again yet after Redis came back) or failed (Redis away)
//! makes further sends fail at once, until a publish (a probe, an empty
//! batch, every [`PROBE_EVERY`]) gets through.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::interfaces::{KeysInterface, PubsubInterface};
use tokio::sync::{Notify, mpsc, oneshot};

/// Told what became of the relay: its receipt came, or why not.
type Done = oneshot::Sender<u8>;

/// What a writer is given.
enum Out {
    /// An envelope; with `Some`, a relay whose sender waits for its receipt.
    Msg(Vec<u8>, Option<Done>),
    /// A receipt is owed to the destination (coalesced: see `Shared::owing`).
    Receipt,
}

use super::lost::{Missed, add_span};
use super::wire::{self, Envelope, Span};
use crate::rooms::redis::View;

/// What one node may queue for another before sends fail (`Full`): a few
/// hundred milliseconds of a saturated link, or 64 relays of the largest size.
pub const QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Envelopes joined into one publish at most (beyond one envelope).
pub const BATCH_BYTES: usize = 512 * 1024;
/// Relays awaiting their receipt from one node at most (beyond: `Full`), on
/// top of [`QUEUE_BYTES`]: the senders' oneshots are not in the bytes.
pub const MAX_AWAITING: usize = 65_536;
/// A receiver names a lost batch in its receipts for this many
/// `NODE_TIMEOUT`s: the sender's relays await a receipt for one, and it
/// detects the loss only after the batch's publish, so any receipt that no
/// longer names it reaches the sender past the relays' time.
pub const KEEP_MISSED: u32 = 2;
/// A batch this big goes out without waiting for `FLUSH_DELAY`.
const FLUSH_BYTES: usize = 16 * 1024;
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
    /// Published, but that node did not report it handed over within
    /// `NODE_TIMEOUT` (frozen, starved, or the receipt lost with Redis).
    #[error("node {0} sent no receipt in time")]
    NoReceipt(String),
    /// That node reported the batch lost: dropped before it was read (its
    /// subscriber fell behind, as on a resume from a freeze).
    #[error("node {0} lost the batch before handing it over")]
    Lost(String),
}

const HEALTHY: u8 = 0;
const UNHEARD: u8 = 1;
const UNREACHABLE: u8 = 2;
/// Outcomes of a relay awaiting its receipt (never a writer's state).
const DEAD: u8 = 3;
const NO_RECEIPT: u8 = 4;
const LOST: u8 = 5;

struct Shared {
    queued: AtomicUsize,
    state: AtomicU8,
    /// The node's liveness key was seen (a node of an older version sets none).
    seen: AtomicBool,
    /// The node's liveness key expired since: it missed its heartbeats.
    dead: AtomicBool,
    /// Relays queued or published and awaiting their receipt.
    awaiting: AtomicUsize,
    /// The node's receipt: the highest of our batches it handed over or
    /// found lost; stored after `refused`.
    receipt: AtomicU64,
    /// Our batches the node reported lost, the spans a batch awaiting
    /// receipts may be in (sorted, disjoint).
    refused: Mutex<Vec<Span>>,
    /// Its batches to us found missing, with when: named in our receipts.
    missed: Mutex<Missed>,
    /// The highest of its batches (with envelopes) we handed over: owed to it.
    owed: AtomicU64,
    /// An `Out::Receipt` is queued and not taken yet.
    owing: AtomicBool,
    /// Wakes the writer: a receipt came, or the node was seen dead.
    wake: Notify,
}

struct Writer {
    queue: mpsc::UnboundedSender<Out>,
    shared: Arc<Shared>,
}

/// A queued relay's outcome: its destination's receipt, or why none came.
pub struct Receipt {
    route: String,
    receipt: oneshot::Receiver<u8>,
}

impl Receipt {
    pub async fn wait(self) -> Result<(), SendError> {
        let route = self.route;
        match self.receipt.await {
            Ok(HEALTHY) => Ok(()),
            Ok(UNHEARD) | Err(_) => Err(SendError::Unheard(route)),
            Ok(DEAD) => Err(SendError::Dead(route)),
            Ok(NO_RECEIPT) => Err(SendError::NoReceipt(route)),
            Ok(LOST) => Err(SendError::Lost(route)),
            Ok(_) => Err(SendError::Unreachable(route)),
        }
    }
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
    /// How long a published relay may await its receipt (`NODE_TIMEOUT`).
    receipt_within: Duration,
    /// How long a writer waits for more after a batch's first message.
    flush_delay: Duration,
}

impl RelayLink {
    /// `check_every`: how often the destinations' liveness keys are read;
    /// `receipt_within`: how long a relay may await its receipt;
    /// `flush_delay`: how long a writer waits for more after a batch's
    /// first message (`FLUSH_DELAY`).
    pub fn new(
        client: Client,
        prefix: &str,
        route: &str,
        view: Arc<View>,
        check_every: Duration,
        (receipt_within, flush_delay): (Duration, Duration),
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
            receipt_within,
            flush_delay,
        }
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    /// Queues `envelope` for the node of `route` (its place among the
    /// relays to that node is fixed now); the [`Receipt`] tells, later, when
    /// that node has handed it to the target's outbox (or found the target
    /// gone). Relays of other senders queued meanwhile share the publish and
    /// the receipt.
    pub fn send(&self, route: &str, envelope: &Envelope<'_>) -> Result<Receipt, SendError> {
        let (done, receipt) = oneshot::channel();
        self.queue(route, envelope.encode()?, Some(done))?;
        Ok(Receipt {
            route: route.to_owned(),
            receipt,
        })
    }

    /// Queues one encoded envelope for the node of `route`, without waiting.
    pub fn push(&self, route: &str, bytes: Vec<u8>) -> Result<(), SendError> {
        self.queue(route, bytes, None)
    }

    /// A batch from the node of `from` was handed over (the receipt hook of
    /// `relay::listen`).
    pub fn heard(&self, from: &str, batch: Handed<'_>) {
        let Handed {
            seq,
            ack,
            lost,
            missed,
            carried,
        } = batch;
        if ack.is_none() && !carried && missed.is_none() {
            return;
        }
        let mut writers = self.writers();
        let writer = self.writer(&mut writers, from);
        // Before `owed` moves past it: a receipt that covers it names it.
        if let Some(span) = missed {
            lock(&writer.shared.missed).push(span);
        }
        if let Some(ack) = ack {
            // Before the receipt moves: settling reads them in the other order.
            if !lost.is_empty() {
                let mut refused = lock(&writer.shared.refused);
                for &span in lost {
                    add_span(&mut refused, span);
                }
            }
            if writer.shared.receipt.fetch_max(ack, Ordering::AcqRel) < ack {
                writer.shared.wake.notify_one();
            }
        }
        if carried {
            writer.shared.owed.fetch_max(seq, Ordering::AcqRel);
            // One receipt queued at a time: the writer takes the latest.
            if !writer.shared.owing.swap(true, Ordering::AcqRel) {
                let _ = writer.queue.send(Out::Receipt);
            }
        }
    }

    fn writers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Writer>> {
        self.writers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn writer<'w>(&self, writers: &'w mut HashMap<String, Writer>, route: &str) -> &'w Writer {
        if !writers.contains_key(route) {
            let w = self.spawn(route);
            writers.insert(route.to_owned(), w);
        }
        &writers[route]
    }

    fn queue(&self, route: &str, bytes: Vec<u8>, done: Option<Done>) -> Result<(), SendError> {
        let mut writers = self.writers();
        let writer = self.writer(&mut writers, route);
        if writer.shared.dead.load(Ordering::Acquire) {
            return Err(SendError::Dead(route.to_owned()));
        }
        match writer.shared.state.load(Ordering::Acquire) {
            HEALTHY => {}
            UNHEARD => return Err(SendError::Unheard(route.to_owned())),
            _ => return Err(SendError::Unreachable(route.to_owned())),
        }
        let shared = &writer.shared;
        let len = bytes.len();
        if shared.queued.fetch_add(len, Ordering::AcqRel) + len > QUEUE_BYTES {
            shared.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(SendError::Full(route.to_owned()));
        }
        if done.is_some() && shared.awaiting.fetch_add(1, Ordering::AcqRel) >= MAX_AWAITING {
            shared.awaiting.fetch_sub(1, Ordering::AcqRel);
            shared.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(SendError::Full(route.to_owned()));
        }
        // Closed only once its node was unheard for GIVE_UP_AFTER: refused above.
        writer
            .queue
            .send(Out::Msg(bytes, done))
            .map_err(|_| SendError::Unheard(route.to_owned()))
    }

    fn spawn(&self, route: &str) -> Writer {
        let (queue, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            state: AtomicU8::new(HEALTHY),
            seen: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            awaiting: AtomicUsize::new(0),
            receipt: AtomicU64::new(0),
            refused: Mutex::new(Vec::new()),
            missed: Mutex::new(Missed::default()),
            owed: AtomicU64::new(0),
            owing: AtomicBool::new(false),
            wake: Notify::new(),
        });
        tokio::spawn(write(
            self.client.clone(),
            channel(&self.prefix, route),
            self.route.clone(),
            rx,
            shared.clone(),
            (self.receipt_within, self.flush_delay),
        ));
        Writer { queue, shared }
    }
}

/// What `relay::listen` tells of a batch from another node it handed over.
pub struct Handed<'a> {
    /// Its number.
    pub seq: u64,
    /// The receipt it carried for our batches, and the ones of them lost.
    pub ack: Option<u64>,
    pub lost: &'a [Span],
    /// Its sender's batches found missing before it.
    pub missed: Option<Span>,
    /// It held envelopes: a receipt is owed for it (empty batches, receipts
    /// and probes, get none).
    pub carried: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The relays of one published batch, awaiting its receipt.
struct Awaiting {
    seq: u64,
    done: Vec<Done>,
    /// Their bytes, still counted in `Shared::queued`.
    bytes: usize,
    by: Instant,
}

/// Answers the relays whose batch the receipt covers (refusing those of a
/// batch reported lost), and fails those of a node seen dead or past their
/// time, in batch order. `published`: the last batch number published.
fn settle(shared: &Shared, awaiting: &mut VecDeque<Awaiting>, published: u64) {
    let receipt = shared.receipt.load(Ordering::Acquire);
    let dead = shared.dead.load(Ordering::Acquire);
    let now = Instant::now();
    let mut refused = lock(&shared.refused);
    while let Some(first) = awaiting.front() {
        let outcome = if now >= first.by {
            // Past its time a receipt may no longer name the batch if lost.
            if dead { DEAD } else { NO_RECEIPT }
        } else if first.seq <= receipt {
            let lost = super::lost::covers(&refused, first.seq);
            if lost { LOST } else { HEALTHY }
        } else if dead {
            DEAD
        } else {
            break;
        };
        let Some(batch) = awaiting.pop_front() else {
            break;
        };
        answer(shared, batch.done, batch.bytes, outcome);
    }
    // Spans no batch awaiting receipts can be in any more.
    let below = awaiting
        .front()
        .map_or(published.saturating_add(1), |a| a.seq);
    refused.retain(|&(_, b)| b >= below);
}

/// Tells relays' senders `outcome` and releases what the relays held.
fn answer(shared: &Shared, done: Vec<Done>, bytes: usize, outcome: u8) {
    shared.queued.fetch_sub(bytes, Ordering::AcqRel);
    shared.awaiting.fetch_sub(done.len(), Ordering::AcqRel);
    for done in done {
        let _ = done.send(outcome);
    }
}

/// The writer of one destination: a batch per publish, in queue order, each
/// with the receipt owed to the destination; then its relays await the
/// destination's receipt.
async fn write(
    client: Client,
    channel: String,
    from: String,
    mut rx: mpsc::UnboundedReceiver<Out>,
    shared: Arc<Shared>,
    (receipt_within, flush_delay): (Duration, Duration),
) {
    let mut seq = 0u64;
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let mut waiting: Vec<Done> = Vec::new();
    let mut awaiting: VecDeque<Awaiting> = VecDeque::new();
    // The last receipt sent to the destination.
    let mut receipt_sent = 0u64;
    let mut unhealthy_since: Option<Instant> = None;
    loop {
        settle(&shared, &mut awaiting, seq);
        let by = awaiting.front().map(|a| a.by);
        let first = tokio::select! {
            first = rx.recv() => match first {
                Some(m) => Some(m),
                None => return,
            },
            () = shared.wake.notified() => continue,
            () = tokio::time::sleep_until(by.unwrap_or_else(Instant::now).into()), if by.is_some() => continue,
            () = tokio::time::sleep(PROBE_EVERY), if unhealthy_since.is_some() => None,
        };
        let probe = first.is_none();
        let (mut bytes, mut held) = (0, 0);
        let mut take = |out: Out| {
            if let Out::Msg(m, done) = out {
                bytes += m.len();
                if done.is_some() {
                    held += m.len();
                }
                msgs.push(m);
                waiting.extend(done);
            }
            bytes
        };
        let (mut next, mut size) = (first, 0);
        while let Some(out) = next.take() {
            size = take(out);
            if size < BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        // A publish costs Redis and both nodes far more than a relay: at a
        // low rate, wait a little for more to share it (FLUSH_DELAY).
        if !probe && !flush_delay.is_zero() && size < FLUSH_BYTES {
            let until = tokio::time::Instant::now() + flush_delay;
            loop {
                tokio::select! {
                    out = rx.recv() => match out {
                        Some(out) => {
                            if take(out) >= FLUSH_BYTES {
                                break;
                            }
                        }
                        None => break,
                    },
                    () = tokio::time::sleep_until(until) => break,
                }
            }
        }
        // The relays' bytes stay counted until their receipt.
        shared.queued.fetch_sub(bytes - held, Ordering::AcqRel);
        shared.owing.store(false, Ordering::Release);
        let owed = shared.owed.load(Ordering::Acquire);
        let ack = (owed > receipt_sent).then_some(owed);
        let lost = match ack {
            Some(_) => lock(&shared.missed).recent(receipt_within * KEEP_MISSED),
            None => Vec::new(),
        };
        if msgs.is_empty() && ack.is_none() && !probe {
            // A receipt already sent with an earlier batch.
            continue;
        }
        seq += 1;
        let payload = wire::batch(&from, seq, ack, &lost, &msgs);
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
        if state == HEALTHY {
            receipt_sent = receipt_sent.max(owed);
            if !waiting.is_empty() {
                awaiting.push_back(Awaiting {
                    seq,
                    done: std::mem::take(&mut waiting),
                    bytes: held,
                    by: Instant::now() + receipt_within,
                });
            }
        } else {
            answer(&shared, std::mem::take(&mut waiting), held, state);
            // No subscriber: no receipt will come for what it was sent before.
            if state == UNHEARD {
                for batch in awaiting.drain(..) {
                    answer(&shared, batch.done, batch.bytes, UNHEARD);
                }
            }
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
                // Relays awaiting its receipt fail now.
                shared.wake.notify_one();
            }
        }
    }
}
