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
            // Long enough for news that is late: under load (two cores, load
            // 10) a `peer:joined` came more than 300 ms after the other
            // joiner's ack, which its own task writes at once, while the news
            // waits for the peer's task. A duplicate would still show.
            let window = Duration::from_millis(3000);
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

/// The room events a socket receives within `window`, in arrival order, as
/// (event, peerId); `room:joined` as one entry per peer it lists (its own id
/// first).
async fn events_in_order(c: &mut SioClient, window: Duration) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    // Until the socket's own `room:joined` (however loaded the machine), then
    // `window` more for the news that may follow it.
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while let Ok(Some(packet)) = tokio::time::timeout_at(deadline, c.recv()).await {
        let Some(body) = packet.strip_prefix("42") else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(body).expect("event json");
        let name = v[0].as_str().unwrap_or_default().to_owned();
        if name.starts_with("room:") || name.starts_with("peer:") {
            seen.push((
                name.clone(),
                v[1]["peerId"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        if name == "room:joined" {
            deadline = deadline.min(tokio::time::Instant::now() + window);
            seen.extend(
                peer_ids(&v[1])
                    .into_iter()
                    .map(|p| ("listed".to_owned(), p)),
            );
        }
    }
    seen
}

/// What a socket was told about the room, in order, is consistent: its own
/// `room:joined` first (never a `peer:joined` before it), then news of peers
/// it did not know, a `peer:left` only for a peer it knew. 200 rooms where
/// one socket joins while another joins and a third leaves, all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_hears_its_own_room_joined_before_any_news_of_the_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    // 600 sockets from one loopback address.
    config.limits.max_sockets_per_address = 5000;
    config.limits.max_connections_per_address = 5000;
    let gw = TestGateway::start(config).await;
    let rooms = (0..200u32).map(|i| {
        let gw = &gw;
        async move {
            let code = format!("ORDER{i}");
            let mut a = numbered_client(gw.addr, 3000 + i).await;
            let mut b = numbered_client(gw.addr, 4000 + i).await;
            let mut c = numbered_client(gw.addr, 5000 + i).await;
            let ack = c
                .call("create:room", json!({ "roomCode": code, "maxPeers": 3 }))
                .await;
            assert_eq!(ack["roomCode"], code, "{ack}");
            c.call("join:room", json!({ "roomCode": code })).await;
            // Raw sends, so that nothing is read before the order is recorded.
            let join = format!("42{}", json!(["join:room", { "roomCode": code }]));
            let leave = format!("42{}", json!(["leave:room"]));
            tokio::join!(a.send_raw(&join), b.send_raw(&join), c.send_raw(&leave));
            let window = Duration::from_millis(400);
            let (ea, eb) = tokio::join!(
                events_in_order(&mut a, window),
                events_in_order(&mut b, window)
            );
            [(a.sid.clone(), ea), (b.sid.clone(), eb)]
                .into_iter()
                .filter_map(|(me, events)| consistent(&me, &events).err().map(|e| (me, e, events)))
                .collect::<Vec<_>>()
        }
    });
    let outcomes: Vec<_> = futures_util::future::join_all(rooms)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        outcomes.is_empty(),
        "{} sockets heard the room out of order, e.g. {:?}",
        outcomes.len(),
        outcomes.first()
    );
    gw.stop().await;
}

/// Checks one socket's view: `room:joined` first; `peer:joined` only for a
/// peer it does not know yet; `peer:left` only for a peer it knows.
fn consistent(me: &str, events: &[(String, String)]) -> Result<(), String> {
    let Some(first) = events.first() else {
        return Err("no room:joined".into());
    };
    if first.0 != "room:joined" {
        return Err(format!("{me} first heard {first:?}"));
    }
    let mut known = std::collections::BTreeSet::new();
    for (event, peer) in &events[1..] {
        let fine = match event.as_str() {
            "listed" | "peer:joined" => known.insert(peer.clone()),
            "peer:left" => known.remove(peer),
            _ => false,
        };
        if !fine {
            return Err(format!("{me} heard {event} of {peer}, knowing {known:?}"));
        }
    }
    Ok(())
}
