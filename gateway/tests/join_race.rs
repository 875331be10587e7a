//! Two sockets joining one room at the same moment on one node: each hears
//! about the other exactly once, either in its own `room:joined.peers` or as
//! a `peer:joined`, never both. (Hearing both made both peers offer: the
//! native client's 4-peer mesh then stalled on glare now and then.)

mod support;

use std::time::Duration;

use serde_json::json;
use support::{SioClient, TestGateway, numbered_client, peer_ids};

/// Every `peer:joined` that arrives within `window`, by peer id.
async fn heard(c: &mut SioClient, window: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(p) = c.next_within("peer:joined", window).await {
        ids.push(p["peerId"].as_str().unwrap_or_default().to_owned());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_joiners_hear_of_each_other_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = TestGateway::start(support::config(dir.path())).await;
    let rooms = (0..200u32).map(|i| {
        let gw = &gw;
        async move {
            let code = format!("RACE{i}");
            let mut a = numbered_client(gw.addr, 1000 + i).await;
            let mut b = numbered_client(gw.addr, 2000 + i).await;
            let ack = a
                .call("create:room", json!({ "roomCode": code, "maxPeers": 2 }))
                .await;
            assert_eq!(ack["roomCode"], code, "{ack}");
            let (ja, jb) = tokio::join!(
                a.call("join:room", json!({ "roomCode": code })),
                b.call("join:room", json!({ "roomCode": code }))
            );
            let window = Duration::from_millis(300);
            let (ha, hb) = tokio::join!(heard(&mut a, window), heard(&mut b, window));
            let (mut of_b, mut of_a) = (peer_ids(&ja), peer_ids(&jb));
            of_b.extend(ha);
            of_a.extend(hb);
            (of_b == [b.sid.clone()], of_a == [a.sid.clone()], of_b, of_a)
        }
    });
    let outcomes = futures_util::future::join_all(rooms).await;
    let wrong: Vec<_> = outcomes.iter().filter(|o| !(o.0 && o.1)).collect();
    assert!(
        wrong.is_empty(),
        "{} of 200 rooms: {:?}",
        wrong.len(),
        wrong.first()
    );
    gw.stop().await;
}
