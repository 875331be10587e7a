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
}

struct Node {
    id: String,
    pm: PeerManager,
    input: mpsc::Sender<SignalingEvent>,
    output: Option<mpsc::UnboundedReceiver<OutgoingSignal>>,
}

fn node(id: &str) -> Node {
    init_logs();
    let (input, input_rx) = mpsc::channel(webrtc_signaling_client::peer_manager::SIGNALING_QUEUE);
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
