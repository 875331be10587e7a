//! Two negotiators wired by hand, in-process, over real webrtc-rs
//! connections on loopback: each side's signals are handed to the other
//! (or held back), its driver reports fed back to it.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::timeout;
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use super::super::command::Outgoing;
use super::super::peer;
use super::exchange::set_local;
use super::state::Signaling;
use super::*;
use crate::signaling::{PeerInfo, RoomJoined};

const SOON: Duration = Duration::from_secs(20);

/// One side of a pair: its negotiator, what it sent, what it told its
/// subscribers.
struct Side {
    id: &'static str,
    n: Negotiator,
    out: mpsc::UnboundedReceiver<OutgoingSignal>,
    reports: mpsc::UnboundedReceiver<Report>,
    messages: mpsc::Receiver<PeerMessage>,
    /// Every signal it sent, in order.
    sent: Vec<OutgoingSignal>,
    /// Its signals kept from the other side until [`release`].
    held: Vec<OutgoingSignal>,
    hold: fn(&OutgoingSignal) -> bool,
    /// The labels of the remote channels its driver reported.
    remote_channels: Vec<String>,
    opened: Vec<PeerId>,
    gone: Vec<PeerId>,
    writers: HashMap<PeerId, Writer>,
}

fn config() -> PeerConfig {
    PeerConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        mdns: crate::MdnsMode::Disabled,
        newcomer_offer_after: None,
        ..PeerConfig::default()
    }
}

/// A side that is in the room as `id`.
fn side(id: &'static str) -> Side {
    let mut s = unjoined(id);
    s.n.on_room_joined(&joined(id, &[]));
    s
}

fn unjoined(id: &'static str) -> Side {
    let (out_tx, out) = mpsc::unbounded_channel();
    let (reports_tx, reports) = mpsc::unbounded_channel();
    let (messages_tx, messages) = mpsc::channel(8);
    Side {
        id,
        n: Negotiator::new(config(), out_tx, reports_tx, messages_tx),
        out,
        reports,
        messages,
        sent: Vec::new(),
        held: Vec::new(),
        hold: |_| false,
        remote_channels: Vec::new(),
        opened: Vec::new(),
        gone: Vec::new(),
        writers: HashMap::new(),
    }
}

fn joined(me: &str, peers: &[&str]) -> RoomJoined {
    RoomJoined {
        room_id: "room_r".into(),
        room_code: "r".into(),
        peer_id: me.into(),
        peers: peers
            .iter()
            .map(|id| PeerInfo {
                id: (*id).into(),
                user_info: Default::default(),
            })
            .collect(),
        ice_servers: Vec::new(),
    }
}

impl Side {
    fn conn(&self, peer: &str) -> &Connection {
        self.n
            .peers
            .get(peer)
            .and_then(|p| p.conn.as_ref())
            .unwrap_or_else(|| panic!("{} has no connection with {peer}", self.id))
    }

    fn generation(&self, peer: &str) -> u64 {
        self.conn(peer).generation
    }

    fn pending(&self, peer: &str) -> usize {
        self.n.peers.get(peer).map_or(0, |p| p.pending.len())
    }

    fn count(&self, kind: fn(&OutgoingSignal) -> bool) -> usize {
        self.sent.iter().filter(|s| kind(s)).count()
    }

    async fn on_report(&mut self, report: Report) {
        if let Report::RemoteChannel { channel, .. } = &report {
            self.remote_channels
                .push(channel.label().await.unwrap_or_default());
        }
        self.n.on_report(report).await;
        self.collect();
    }

    /// Takes what the negotiator told its subscribers.
    fn collect(&mut self) {
        for change in self.n.take_changes() {
            match change {
                Change::Open(peer, writer) => {
                    self.writers.insert(peer.clone(), writer);
                    self.opened.push(peer);
                }
                Change::Gone(peer) => self.gone.push(peer),
            }
        }
    }

    /// The next signal it sent, already queued.
    fn next_sent(&mut self) -> OutgoingSignal {
        let signal = self.out.try_recv().expect("a queued signal");
        self.sent.push(signal.clone());
        signal
    }
}

fn is_offer(s: &OutgoingSignal) -> bool {
    matches!(s, OutgoingSignal::Offer { .. })
}

fn is_answer(s: &OutgoingSignal) -> bool {
    matches!(s, OutgoingSignal::Answer { .. })
}

fn is_description(s: &OutgoingSignal) -> bool {
    is_offer(s) || is_answer(s)
}

fn ufrag(s: &OutgoingSignal) -> Option<String> {
    match s {
        OutgoingSignal::Offer { description, .. } | OutgoingSignal::Answer { description, .. } => {
            peer::mid_and_ufrag(&description.sdp).1
        }
        OutgoingSignal::Ice { candidate, .. } => candidate.username_fragment.clone(),
    }
}

/// Hands one signal of `from` to `to`, as the gateway would relay it.
async fn deliver(from: &str, signal: OutgoingSignal, to: &mut Side) {
    match signal {
        OutgoingSignal::Offer { description, .. } => to.n.on_offer(from, description).await,
        OutgoingSignal::Answer { description, .. } => to.n.on_answer(from, description).await,
        OutgoingSignal::Ice { candidate, .. } => to.n.on_remote_candidate(from, candidate).await,
    }
    to.collect();
}

/// Hands `from`'s held signals to `to`, in order, descriptions stripped
/// of any candidates (webrtc-rs puts none in today): only trickled
/// candidates can connect the pair.
async fn release(from: &mut Side, to: &mut Side) {
    for mut signal in std::mem::take(&mut from.held) {
        if let OutgoingSignal::Offer { description, .. }
        | OutgoingSignal::Answer { description, .. } = &mut signal
        {
            description.sdp = description
                .sdp
                .split_inclusive('\n')
                .filter(|l| !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates"))
                .collect();
        }
        deliver(from.id, signal, to).await;
    }
}

/// Runs both sides (their reports; their signals, each to the other
/// unless held) until `done` holds.
async fn run_until(a: &mut Side, b: &mut Side, what: &str, done: impl Fn(&Side, &Side) -> bool) {
    let run = async {
        while !done(a, b) {
            tokio::select! {
                Some(r) = a.reports.recv() => a.on_report(r).await,
                Some(r) = b.reports.recv() => b.on_report(r).await,
                Some(s) = a.out.recv() => route(a, s, b).await,
                Some(s) = b.out.recv() => route(b, s, a).await,
            }
        }
    };
    timeout(SOON, run)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"));
}

async fn route(from: &mut Side, signal: OutgoingSignal, to: &mut Side) {
    from.sent.push(signal.clone());
    if (from.hold)(&signal) {
        from.held.push(signal);
    } else {
        deliver(from.id, signal, to).await;
    }
}

fn connected(a: &Side, b: &Side) -> bool {
    a.opened == [b.id] && b.opened == [a.id]
}

/// One text message from `from` reaches `to`, once, from `from`.
async fn carries_text(from: &Side, to: &mut Side) {
    let writer = from.writers.get(to.id).expect("an open channel").clone();
    let text = format!("hello from {}", from.id);
    let (done, sent) = oneshot::channel();
    writer
        .send(WriteRequest {
            data: Outgoing::Text(text.clone()),
            done,
        })
        .await
        .expect("writer task");
    timeout(SOON, sent)
        .await
        .expect("sent in time")
        .expect("writer answers")
        .expect("sent");
    let msg = timeout(SOON, to.messages.recv())
        .await
        .expect("a message in time")
        .expect("messages");
    assert_eq!(
        (msg.from.as_str(), msg.text()),
        (from.id, Some(text.as_str()))
    );
    assert!(to.messages.try_recv().is_err(), "delivered once");
}

/// Both ends connected, each opened once, nobody gone, data both ways.
async fn assert_connected(a: &mut Side, b: &mut Side) {
    assert_eq!(
        (&a.opened[..], &b.opened[..]),
        (&[b.id.to_owned()][..], &[a.id.to_owned()][..])
    );
    assert!(
        a.gone.is_empty() && b.gone.is_empty(),
        "{:?} {:?}",
        a.gone,
        b.gone
    );
    assert_eq!(a.n.open_peers(), [b.id]);
    assert_eq!(b.n.open_peers(), [a.id]);
    carries_text(a, b).await;
    carries_text(b, a).await;
}

async fn shutdown(a: Side, b: Side) {
    for mut s in [a, b] {
        s.n.shutdown().await;
    }
}

/// Issue 22 item 4: a `peer:joined` that overtakes our own `room:joined`
/// names a peer the snapshot could not list; the snapshot must not drop it.
#[tokio::test]
async fn room_joined_keeps_a_peer_that_peer_joined_announced() {
    let mut a = unjoined("a");
    a.n.on_peer_joined("b").await;
    assert!(matches!(a.out.try_recv(), Ok(OutgoingSignal::Offer { ref to, .. }) if to == "b"));
    a.n.on_room_joined(&joined("a", &[]));
    assert!(
        a.n.peers.get("b").is_some_and(|p| p.conn.is_some()),
        "the offer to b was dropped"
    );
    assert!(a.n.take_changes().is_empty());
    a.n.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_offer_and_its_answer_connect_a_pair() {
    let (mut a, mut b) = (side("a"), side("b"));
    a.n.on_peer_joined("b").await;
    run_until(&mut a, &mut b, "connected", connected).await;
    assert_eq!((a.count(is_offer), a.count(is_answer)), (1, 0));
    assert_eq!((b.count(is_offer), b.count(is_answer)), (0, 1));
    assert_connected(&mut a, &mut b).await;
    shutdown(a, b).await;
}

/// Both offer at once. "a" < "b": a is impolite and keeps its offer,
/// ignoring b's; b is polite, withdraws its own offer (its connection is
/// replaced by a fresh one: this negotiator's rollback) and answers a's.
/// Whichever side hears the other's offer first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glare_the_impolite_side_keeps_its_offer_and_the_polite_side_rolls_back_and_answers() {
    for polite_hears_first in [true, false] {
        let (mut a, mut b) = (side("a"), side("b"));
        a.n.on_peer_joined("b").await;
        b.n.on_peer_joined("a").await;
        let (a_offer, b_offer) = (a.next_sent(), b.next_sent());
        assert!(is_offer(&a_offer) && is_offer(&b_offer));
        assert!(a.conn("b").offering() && b.conn("a").offering());
        let (a_generation, b_generation) = (a.generation("b"), b.generation("a"));
        let b_withdrawn = b.conn("a").pc.clone();

        let impolite_ignores = |a: &mut Side| {
            assert!(a.out.try_recv().is_err(), "the impolite side answered");
            assert_eq!(a.generation("b"), a_generation);
            assert!(
                a.conn("b").offering(),
                "the impolite side gave up its offer"
            );
            assert_eq!(a.n.peers["b"].last_remote_offer, None);
        };
        if polite_hears_first {
            deliver("a", a_offer, &mut b).await;
            deliver("b", b_offer, &mut a).await;
            impolite_ignores(&mut a);
        } else {
            deliver("b", b_offer, &mut a).await;
            impolite_ignores(&mut a);
            deliver("a", a_offer, &mut b).await;
        }
        // The polite side rolled back: a fresh connection, its
        // description applied, and an answer (with the fresh ufrag) sent.
        assert!(b.generation("a") > b_generation);
        assert!(b.conn("a").remote_set());
        let answer = b.next_sent();
        assert!(is_answer(&answer), "the polite side answers");
        assert_ne!(ufrag(&answer), ufrag(&b.sent[0]));
        deliver("b", answer, &mut a).await;

        run_until(&mut a, &mut b, "connected after glare", connected).await;
        assert_eq!((a.count(is_offer), a.count(is_answer)), (1, 0));
        assert_eq!((b.count(is_offer), b.count(is_answer)), (1, 1));
        assert_eq!(a.generation("b"), a_generation);
        assert_connected(&mut a, &mut b).await;
        // The withdrawn connection is closed.
        timeout(SOON, async {
            while b_withdrawn.create_offer(None).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the polite side's withdrawn connection is closed");
        shutdown(a, b).await;
    }
}

/// Candidates that come before the remote description (for the answerer
/// even before the offer; for the offerer before the answer) wait for it,
/// then connect the pair: the descriptions carry none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_arriving_before_the_remote_description_are_queued_then_applied() {
    let (mut a, mut b) = (side("a"), side("b"));
    a.hold = is_description;
    b.hold = is_description;
    a.n.on_peer_joined("b").await;
    run_until(&mut a, &mut b, "a's candidates reach b first", |a, b| {
        a.count(is_offer) == 1 && b.pending("a") > 0
    })
    .await;
    assert!(
        b.n.peers["a"].conn.is_none(),
        "b has no connection before the offer"
    );
    let queued = b.pending("a");
    assert_eq!(queued, a.sent.iter().filter(|s| !is_description(s)).count());

    release(&mut a, &mut b).await;
    assert_eq!(b.pending("a"), 0, "applied with the offer");
    assert!(b.conn("a").remote_set());
    run_until(&mut a, &mut b, "b's candidates reach a first", |a, b| {
        b.count(is_answer) == 1 && a.pending("b") > 0
    })
    .await;
    assert!(a.conn("b").offering(), "a has no answer yet");
    assert!(a.opened.is_empty() && b.opened.is_empty());

    release(&mut b, &mut a).await;
    assert_eq!(a.pending("b"), 0, "applied with the answer");
    a.hold = |_| false;
    b.hold = |_| false;
    run_until(&mut a, &mut b, "connected on queued candidates", connected).await;
    assert_connected(&mut a, &mut b).await;
    shutdown(a, b).await;
}

/// A second offer on `peer`'s connection, adding a data channel
/// `label`: what an application renegotiating would send.
async fn renegotiate(s: &mut Side, peer: &str, label: &str) -> Arc<dyn DataChannel> {
    let pc = s.conn(peer).pc.clone();
    let channel = pc
        .create_data_channel(label, None)
        .await
        .expect("a second channel");
    let offer = pc.create_offer(None).await.expect("a second offer");
    let applied = set_local(&*pc, offer).await.expect("applied");
    s.n.send_description(peer, Signaling::Offering, applied);
    channel
}

async fn opens(channel: Arc<dyn DataChannel>) {
    timeout(SOON, async {
        loop {
            match channel.poll().await {
                Some(DataChannelEvent::OnOpen) => break,
                Some(_) => continue,
                None => panic!("the channel ended before opening"),
            }
        }
    })
    .await
    .expect("the renegotiated channel opens");
}

/// After connecting, each side in turn offers again on the same
/// connection (adding a channel): the other answers on it, nothing is
/// rebuilt, the first channel keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renegotiation_on_a_connected_pair_keeps_the_connection() {
    let (mut a, mut b) = (side("a"), side("b"));
    a.n.on_peer_joined("b").await;
    run_until(&mut a, &mut b, "connected", connected).await;
    let generations = (a.generation("b"), b.generation("a"));

    for (round, label) in [(2, "from-a"), (3, "from-b")] {
        let (offerer, answerer) = if round == 2 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let peer = answerer.id;
        let extra = renegotiate(offerer, peer, label).await;
        let (offers, answers) = (offerer.count(is_offer), answerer.count(is_answer));
        let remote = offerer.id;
        run_until(offerer, answerer, "renegotiated", |o, other| {
            o.conn(peer).remote_set() && other.remote_channels.iter().any(|l| l == label)
        })
        .await;
        assert_eq!(offerer.count(is_offer), offers + 1, "round {round}");
        assert_eq!(answerer.count(is_answer), answers + 1, "round {round}");
        assert!(answerer.conn(remote).remote_set());
        opens(extra).await;
    }
    assert_eq!((a.generation("b"), b.generation("a")), generations);
    assert_eq!((a.count(is_offer), a.count(is_answer)), (2, 1));
    assert_eq!((b.count(is_offer), b.count(is_answer)), (1, 2));
    assert_connected(&mut a, &mut b).await;
    shutdown(a, b).await;
}
