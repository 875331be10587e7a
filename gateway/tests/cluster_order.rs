//! Order across nodes (issue 20, item 3): relays and room events between two
//! nodes travel in one ordered channel, so a member on one node always hears
//! `peer:joined` for a newcomer on another before the newcomer's first relay,
//! and a leaver's last relay before its `peer:left`.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::SioClient;
use support::cluster::{Node, TestCluster};

/// Rooms tried at once: each a newcomer racing its own news.
const ROUNDS: u32 = 200;

async fn client(node: &Node, n: u32) -> SioClient {
    support::numbered_client(node.addr, n).await
}

/// The names of the next `n` events among `of`, in the order they arrived
/// (anything else is skipped).
async fn order(c: &mut SioClient, of: &[&str], n: usize) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < n {
        let packet = tokio::time::timeout_at(deadline, c.recv())
            .await
            .unwrap_or_else(|_| panic!("only {seen:?} in time"))
            .expect("open");
        if let Some(body) = packet.strip_prefix("42") {
            let v: Value = serde_json::from_str(body).expect("event json");
            let name = v[0].as_str().unwrap_or_default();
            if of.contains(&name) {
                seen.push((name.to_owned(), v[1].clone()));
            }
        }
    }
    seen
}

#[tokio::test]
async fn a_newcomers_relays_come_after_its_join_and_before_its_leave() {
    let cluster = TestCluster::start(2, &[]).await;
    let (first, second) = (&cluster.nodes[0], &cluster.nodes[1]);
    let rounds = (0..ROUNDS).map(|i| async move {
        let code = format!("order-{i}");
        let mut a = client(first, 1000 + i).await;
        let mut b = client(second, 2000 + i).await;
        let ack = a
            .call("create:room", json!({ "roomCode": code, "maxPeers": 2 }))
            .await;
        assert_eq!(ack["roomCode"], code, "{ack}");
        let ack = a.call("join:room", json!({ "roomCode": code })).await;
        assert_eq!(ack["peerId"], a.sid, "{ack}");
        // The newcomer offers as soon as it has joined, then offers again
        // and leaves without waiting for anything.
        let ack = b.call("join:room", json!({ "roomCode": code })).await;
        assert_eq!(ack["peerId"], b.sid, "{ack}");
        let offer = |n: u32| json!({ "targetPeerId": a.sid, "offer": { "type": "offer", "sdp": format!("v={n}") } });
        b.send_together(&[
            format!("42{}", json!(["webrtc:offer", offer(1)])),
            format!("42{}", json!(["webrtc:offer", offer(2)])),
            format!("42{}", json!(["leave:room", {}])),
        ])
        .await;
        let seen = order(&mut a, &["peer:joined", "webrtc:offer", "peer:left"], 4).await;
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        (names == ["peer:joined", "webrtc:offer", "webrtc:offer", "peer:left"])
            .then_some(())
            .ok_or_else(|| format!("{i}: {names:?}"))
    });
    let results = futures_util::future::join_all(rounds).await;
    let wrong: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        wrong.is_empty(),
        "{} of {ROUNDS} out of order: {wrong:?}",
        wrong.len()
    );
}
