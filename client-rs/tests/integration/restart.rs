//! A gateway restarted under a 3-peer mesh: the clients reconnect, rejoin
//! the room the restart forgot (rooms live in memory), and every data
//! channel comes back.

use std::time::Duration;

use webrtc_signaling_client::signaling::SignalingEvent;
use webrtc_signaling_client::{Client, PeerEvent};

use crate::common::*;

/// A message from `from` reaches `to` (whose id in the room is `to_id`).
async fn passes(from: &Client, to: &Client, to_id: &str) {
    let mut inbox = to.peer_messages().await.expect("inbox");
    let body = format!("to {to_id}").into_bytes();
    let deadline = tokio::time::Instant::now() + SOON;
    // The channel may still be opening on the sender's side: retry the send.
    loop {
        if from.send_to_peer(to_id, body.clone()).await.is_ok() {
            let msg = tokio::time::timeout(SOON, inbox.recv())
                .await
                .expect("a message in time")
                .expect("inbox");
            assert_eq!(
                (msg.from, &msg.data[..]),
                (from.client_id().expect("id"), &body[..])
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no channel to {to_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_gets_the_mesh_back() {
    let mut gw = gateway().await;
    let clients = [
        client(&gw, "a").await,
        client(&gw, "b").await,
        client(&gw, "c").await,
    ];
    let room = clients[0].create_room(None).await.expect("create");
    let mut subs = Vec::new();
    for c in &clients {
        subs.push(c.data_channel_opened().await.expect("sub"));
    }
    for c in &clients {
        c.join_room(&room.room_code).await.expect("join");
    }
    for sub in &mut subs {
        opened(sub, 2).await;
    }

    let old_ids: Vec<String> = clients.iter().map(|c| c.client_id().expect("id")).collect();
    let mut events = Vec::new();
    for c in &clients {
        events.push(c.events().await.expect("events"));
    }
    gw.restart().await;

    // Every client reconnects and is back in the room under a new id...
    for (ev, old) in events.iter_mut().zip(&old_ids) {
        let rejoined = next_event(ev, "Reconnected", |e| match e {
            PeerEvent::Signaling(SignalingEvent::Reconnected { peer_id }) => Some(peer_id.clone()),
            _ => None,
        })
        .await;
        let new = rejoined.expect("rejoined the room, not left outside it");
        assert_ne!(&new, old);
    }
    // ...with channels to both others.
    for c in &clients {
        eventually(
            "all three back in the room with channels to both others",
            || async { c.client_id().is_some() && c.open_peers().await.expect("peers").len() == 2 },
        )
        .await;
    }
    let ids: Vec<String> = clients.iter().map(|c| c.client_id().expect("id")).collect();
    for (i, from) in clients.iter().enumerate() {
        for (j, to) in clients.iter().enumerate() {
            if i != j {
                passes(from, to, &ids[j]).await;
            }
        }
    }
    for c in clients {
        let _ = c.close().await;
    }
}
