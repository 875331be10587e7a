//! Native peers in one room through a real gateway: every pair connects,
//! messages arrive intact, in order and from the right sender.

use std::collections::HashMap;

use crate::common::*;
use webrtc_signaling_client::{Client, PeerMessage, Subscription};

struct Member {
    client: Client,
    id: String,
    inbox: Subscription<PeerMessage>,
}

async fn mesh(n: usize) -> (TestGateway, Vec<Member>) {
    let gw = gateway().await;
    let mut clients = Vec::new();
    for i in 0..n {
        clients.push(client(&gw, &format!("user{i}")).await);
    }
    let room = clients[0].create_room(None).await.expect("create");
    let mut opened = Vec::new();
    let mut members = Vec::new();
    for c in clients {
        let sub = c.data_channel_opened().await.expect("sub");
        let inbox = c.peer_messages().await.expect("inbox");
        let joined = c.join_room(&room.room_code).await.expect("join");
        assert_eq!(joined.peers.len(), members.len(), "peers already there");
        assert_eq!(c.client_id(), Some(joined.peer_id.clone()));
        opened.push(sub);
        members.push(Member {
            id: joined.peer_id.clone(),
            client: c,
            inbox,
        });
    }
    for (i, sub) in opened.iter_mut().enumerate() {
        let peers = crate::common::opened(sub, n - 1).await;
        let mut expected: Vec<String> = members
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, m)| m.id.clone())
            .collect();
        expected.sort();
        assert_eq!(peers, expected, "member {i} sees every other member");
    }
    (gw, members)
}

/// Everyone sends `count` numbered messages to everyone; every receiver gets
/// each sender's messages complete and in order.
async fn exchange(members: &mut [Member], count: usize) {
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    let sends = members.iter().map(|m| {
        let ids = ids.clone();
        async move {
            for k in 0..count {
                for to in ids.iter().filter(|t| **t != m.id) {
                    let body = format!("{}:{k}", m.id);
                    m.client
                        .send_to_peer(to, body.into_bytes())
                        .await
                        .expect("send");
                }
            }
        }
    });
    futures_util::future::join_all(sends).await;
    for m in members.iter_mut() {
        let mut next: HashMap<String, usize> = HashMap::new();
        let expected = count * (ids.len() - 1);
        for _ in 0..expected {
            let msg = tokio::time::timeout(SOON, m.inbox.recv())
                .await
                .expect("message in time")
                .expect("open inbox");
            let text = String::from_utf8(msg.data.to_vec()).expect("utf8");
            let (sender, k) = text.split_once(':').expect("shape");
            assert_eq!(sender, msg.from, "message attributed to its sender");
            let k: usize = k.parse().expect("number");
            let n = next.entry(sender.to_owned()).or_default();
            assert_eq!(k, *n, "in order from {sender}");
            *n += 1;
        }
        assert!(next.values().all(|v| *v == count));
    }
}

async fn close_all(members: Vec<Member>) {
    for m in members {
        let _ = m.client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_exchange_messages_and_4_mib() {
    let (_gw, mut members) = mesh(2).await;
    exchange(&mut members, 50).await;

    let big: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    send_intact(&mut members, 0, 1, big).await;
    close_all(members).await;
}

/// `members[from]` sends `big` to `members[to]`, which gets it whole, from
/// the right sender.
async fn send_intact(members: &mut [Member], from: usize, to: usize, big: Vec<u8>) {
    let (digest, len) = (sha256(&big), big.len());
    let to_id = members[to].id.clone();
    members[from]
        .client
        .send_to_peer(&to_id, big)
        .await
        .expect("big send");
    let msg = tokio::time::timeout(SOON, members[to].inbox.recv())
        .await
        .expect("big message in time")
        .expect("inbox");
    assert_eq!(msg.from, members[from].id);
    assert_eq!(msg.data.len(), len);
    assert_eq!(sha256(&msg.data), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_form_a_mesh() {
    let (_gw, mut members) = mesh(3).await;
    exchange(&mut members, 20).await;
    close_all(members).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_peers_form_a_mesh_and_move_4_mib() {
    let (_gw, mut members) = mesh(4).await;
    exchange(&mut members, 20).await;
    // The last joiner sends 4 MiB to the first (a data channel it answered).
    let big: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    send_intact(&mut members, 3, 0, big).await;
    close_all(members).await;
}
