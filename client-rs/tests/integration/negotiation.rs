//! Negotiation edge cases, driven without a gateway: two peer managers wired
//! by a harness that can reorder, duplicate and hold signaling messages.

use std::sync::Arc;

use tokio::sync::{Barrier, mpsc};
use webrtc_signaling_client::signaling::{OutgoingSignal, RoomJoined, UserInfo};
use webrtc_signaling_client::{PeerConfig, PeerEvent, PeerManager, SignalingEvent};

use crate::common::*;

#[derive(Clone)]
enum Mode {
    /// Forward everything as it comes.
    Normal,
    /// Forward everything twice.
    Duplicate,
    /// Hold the offer until a candidate went out first.
    IceBeforeOffer,
    /// Hold the first offer until the other side produced its own (glare).
    Crossing(Arc<Barrier>),
    /// Forward everything, and a copy here.
    Tap(mpsc::UnboundedSender<OutgoingSignal>),
}

struct Node {
    id: String,
    pm: PeerManager,
    input: mpsc::Sender<SignalingEvent>,
    output: Option<mpsc::UnboundedReceiver<OutgoingSignal>>,
}

fn node(id: &str) -> Node {
    init_logs();
    let (input, input_rx) = mpsc::channel(webrtc_signaling_client::signaling::EVENT_QUEUE);
    let (out_tx, output) = mpsc::unbounded_channel();
    let config = PeerConfig {
        newcomer_offer_after: None,
        ..peer_config()
    };
    let pm = PeerManager::spawn(config, input_rx, out_tx);
    input
        .try_send(SignalingEvent::RoomJoined(RoomJoined {
            room_id: "room_test".into(),
            room_code: "TEST".into(),
            peer_id: id.into(),
            peers: vec![],
            ice_servers: vec![],
        }))
        .expect("input");
    Node {
        id: id.into(),
        pm,
        input,
        output: Some(output),
    }
}

/// Relays `from`'s output to `to`'s input under `mode`.
fn pump(from: &mut Node, to: &Node, mode: Mode) {
    let mut output = from.output.take().expect("one pump per node");
    let input = to.input.clone();
    let from_id = from.id.clone();
    tokio::spawn(async move {
        let mut held_offer: Option<OutgoingSignal> = None;
        let mut crossed = false;
        while let Some(signal) = output.recv().await {
            let relay = |s: &OutgoingSignal| input.try_send(s.relayed_from(&from_id)).is_ok();
            match (&mode, &signal) {
                (Mode::Duplicate, _) => {
                    let _ = relay(&signal);
                    let _ = relay(&signal);
                }
                (Mode::IceBeforeOffer, OutgoingSignal::Offer { .. }) if held_offer.is_none() => {
                    held_offer = Some(signal);
                }
                (Mode::IceBeforeOffer, OutgoingSignal::Ice { .. }) => {
                    let _ = relay(&signal);
                    if let Some(offer) = held_offer.take() {
                        let _ = relay(&offer);
                    }
                }
                (Mode::Tap(copy), _) => {
                    let _ = copy.send(signal.clone());
                    let _ = relay(&signal);
                }
                (Mode::Crossing(barrier), OutgoingSignal::Offer { .. }) if !crossed => {
                    crossed = true;
                    barrier.wait().await;
                    let _ = relay(&signal);
                }
                _ => {
                    let _ = relay(&signal);
                }
            }
        }
    });
}

async fn connected(a: &Node, b: &Node) {
    for (me, other) in [(a, b), (b, a)] {
        let mut events = me.pm.events().await.expect("events");
        tokio::time::timeout(SOON, async {
            loop {
                match events.recv().await {
                    Some(PeerEvent::ChannelOpen(p)) if p == other.id => break,
                    Some(_) => continue,
                    None => panic!("events closed"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} never opened a channel to {}", me.id, other.id));
        assert_eq!(
            me.pm.open_peers().await.expect("peers"),
            vec![other.id.clone()]
        );
    }
    // Both directions carry data, once.
    for (me, other) in [(a, b), (b, a)] {
        let mut inbox = other.pm.messages().await.expect("inbox");
        let body = format!("from {}", me.id);
        me.pm
            .send(&other.id, body.clone().into_bytes().into())
            .await
            .expect("send");
        let msg = tokio::time::timeout(SOON, inbox.recv())
            .await
            .expect("message in time")
            .expect("inbox");
        assert_eq!(
            (msg.from.as_str(), &msg.data[..]),
            (me.id.as_str(), body.as_bytes())
        );
    }
}

fn joined(id: &str) -> SignalingEvent {
    SignalingEvent::PeerJoined {
        peer_id: id.into(),
        user_info: UserInfo::default(),
    }
}

async fn close(nodes: [Node; 2]) {
    for n in nodes {
        let _ = n.pm.close().await;
    }
}

/// Wires a and b under the given modes, tells a (and with `both_offer`, b
/// too) that the other joined, and checks they connect both ways.
async fn pair_connects(a_to_b: Mode, b_to_a: Mode, both_offer: bool) {
    let (mut a, mut b) = (node("peer-a"), node("peer-b"));
    pump(&mut a, &b, a_to_b);
    pump(&mut b, &a, b_to_a);
    a.input.try_send(joined("peer-b")).expect("input");
    if both_offer {
        b.input.try_send(joined("peer-a")).expect("input");
    }
    connected(&a, &b).await;
    close([a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_arriving_before_the_offer_are_kept() {
    pair_connects(Mode::IceBeforeOffer, Mode::Normal, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_signaling_is_ignored() {
    pair_connects(Mode::Duplicate, Mode::Duplicate, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_offers_resolve() {
    // Both believe the other is the newcomer: both offer.
    let barrier = Arc::new(Barrier::new(2));
    pair_connects(
        Mode::Crossing(barrier.clone()),
        Mode::Crossing(barrier),
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_peer_is_cleaned_up() {
    let (mut a, mut b) = (node("peer-a"), node("peer-b"));
    pump(&mut a, &b, Mode::Normal);
    pump(&mut b, &a, Mode::Normal);
    a.input.try_send(joined("peer-b")).expect("input");
    connected(&a, &b).await;
    let mut events = a.pm.events().await.expect("events");
    // b goes away without any signaling: a notices from the connection.
    b.pm.close().await.expect("close");
    tokio::time::timeout(SOON, async {
        loop {
            match events.recv().await {
                Some(PeerEvent::PeerGone(p)) if p == "peer-b" => break,
                Some(_) => continue,
                None => panic!("events closed"),
            }
        }
    })
    .await
    .expect("a drops b");
    assert!(a.pm.open_peers().await.expect("peers").is_empty());
    let _ = a.pm.close().await;
}

/// What Chromium needs of a native peer: the answerer takes the DTLS server
/// role, and candidates go out as `RTCIceCandidateInit` with the mid and
/// ufrag of the local description.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_take_the_dtls_server_role_and_candidates_keep_the_browser_shape() {
    let (mut a, mut b) = (node("peer-a"), node("peer-b"));
    let (a_tx, mut from_a) = mpsc::unbounded_channel();
    let (b_tx, mut from_b) = mpsc::unbounded_channel();
    pump(&mut a, &b, Mode::Tap(a_tx));
    pump(&mut b, &a, Mode::Tap(b_tx));
    a.input.try_send(joined("peer-b")).expect("input");
    connected(&a, &b).await;
    let signals = |rx: &mut mpsc::UnboundedReceiver<OutgoingSignal>| {
        std::iter::from_fn(|| rx.try_recv().ok()).collect::<Vec<_>>()
    };
    let (from_a, from_b) = (signals(&mut from_a), signals(&mut from_b));
    let sdp_of = |signals: &[OutgoingSignal]| {
        signals.iter().find_map(|s| match s {
            OutgoingSignal::Offer { description, .. }
            | OutgoingSignal::Answer { description, .. } => Some(description.clone()),
            _ => None,
        })
    };
    let offer = sdp_of(&from_a).expect("a offered");
    let answer = sdp_of(&from_b).expect("b answered");
    assert_eq!(
        (offer.kind.as_str(), answer.kind.as_str()),
        ("offer", "answer")
    );
    assert!(offer.sdp.contains("a=setup:actpass"), "{}", offer.sdp);
    assert!(answer.sdp.contains("a=setup:passive"), "{}", answer.sdp);
    for (signals, sdp) in [(&from_a, &offer.sdp), (&from_b, &answer.sdp)] {
        let line = |prefix: &str| {
            sdp.lines()
                .find_map(|l| l.trim_end().strip_prefix(prefix).map(str::to_owned))
        };
        let (mid, ufrag) = (line("a=mid:"), line("a=ice-ufrag:"));
        let candidates: Vec<_> = signals
            .iter()
            .filter_map(|s| match s {
                OutgoingSignal::Ice { candidate, .. } => Some(candidate.clone()),
                _ => None,
            })
            .collect();
        assert!(!candidates.is_empty());
        for c in &candidates {
            assert!(c.candidate.starts_with("candidate:"), "{c:?}");
            assert_eq!((&c.sdp_mid, c.sdp_m_line_index), (&mid, Some(0)));
            assert_eq!(c.username_fragment, ufrag);
        }
        let (_, wire) = signals
            .iter()
            .find(|s| matches!(s, OutgoingSignal::Ice { .. }))
            .map(OutgoingSignal::to_wire)
            .expect("a candidate");
        let mut keys: Vec<_> = wire["candidate"]
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["candidate", "sdpMLineIndex", "sdpMid", "usernameFragment"]
        );
    }
    close([a, b]).await;
}
