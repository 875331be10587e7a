//! Peers leaving, dying and coming back.

use crate::common::*;
use webrtc_signaling_client::{Client, PeerEvent};

async fn room_of(gw: &TestGateway, names: &[&str]) -> (String, Vec<Client>, Vec<String>) {
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    let mut subs = Vec::new();
    let mut code = None;
    for name in names {
        let c = client(gw, name).await;
        if code.is_none() {
            code = Some(c.create_room(None).await.expect("create").room_code);
        }
        let code = code.clone().unwrap_or_default();
        subs.push(c.data_channel_opened().await.expect("sub"));
        ids.push(c.join_room(&code).await.expect("join").peer_id);
        clients.push(c);
    }
    for sub in &mut subs {
        opened(sub, names.len() - 1).await;
    }
    (code.unwrap_or_default(), clients, ids)
}

async fn ping_pong(a: &Client, b: &Client, a_id: &str, b_id: &str) {
    let mut inbox = b.peer_messages().await.expect("inbox");
    a.send_to_peer(b_id, b"still here".to_vec())
        .await
        .expect("send");
    let msg = tokio::time::timeout(SOON, inbox.recv())
        .await
        .expect("in time")
        .expect("inbox");
    assert_eq!(
        (msg.from.as_str(), &msg.data[..]),
        (a_id, &b"still here"[..])
    );
}

async fn gone_from(c: &Client, id: &str) {
    let id = id.to_owned();
    eventually("the peer is dropped", || async {
        !c.open_peers().await.expect("peers").contains(&id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_leaves_and_rejoins() {
    let gw = gateway().await;
    let (code, clients, ids) = room_of(&gw, &["a", "b", "c"]).await;
    let mut events = clients[0].events().await.expect("events");

    clients[2].leave_room().await.expect("leave");
    gone_from(&clients[0], &ids[2]).await;
    gone_from(&clients[1], &ids[2]).await;
    assert!(clients[2].open_peers().await.expect("peers").is_empty());
    // The others stay usable.
    ping_pong(&clients[0], &clients[1], &ids[0], &ids[1]).await;
    // a saw c go.
    tokio::time::timeout(SOON, async {
        loop {
            match events.recv().await {
                Some(PeerEvent::PeerGone(p)) if p == ids[2] => break,
                Some(_) => continue,
                None => panic!("events closed"),
            }
        }
    })
    .await
    .expect("PeerGone in time");

    // c comes back with the same socket.
    let mut subs = Vec::new();
    for c in &clients {
        subs.push(c.data_channel_opened().await.expect("sub"));
    }
    let joined = clients[2].join_room(&code).await.expect("rejoin");
    assert_eq!(joined.peers.len(), 2);
    opened(&mut subs[2], 2).await;
    assert!(opened(&mut subs[0], 2).await.contains(&ids[2]));
    assert!(opened(&mut subs[1], 2).await.contains(&ids[2]));
    ping_pong(&clients[2], &clients[0], &ids[2], &ids[0]).await;
    ping_pong(&clients[1], &clients[2], &ids[1], &ids[2]).await;
    for c in clients {
        let _ = c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_peer_is_dropped_and_can_come_back() {
    let gw = gateway().await;
    let (code, mut clients, ids) = room_of(&gw, &["a", "b", "c"]).await;

    // Dropped without leave: the gateway reports peer:left to the others.
    let killed = clients.pop().expect("c");
    drop(killed);
    gone_from(&clients[0], &ids[2]).await;
    gone_from(&clients[1], &ids[2]).await;
    ping_pong(&clients[1], &clients[0], &ids[1], &ids[0]).await;

    // A new process for the same user joins again.
    let back = client(&gw, "c").await;
    let mut sub = back.data_channel_opened().await.expect("sub");
    let mut sub_a = clients[0].data_channel_opened().await.expect("sub");
    let mut sub_b = clients[1].data_channel_opened().await.expect("sub");
    let joined = back.join_room(&code).await.expect("rejoin");
    assert_ne!(joined.peer_id, ids[2], "a new socket");
    opened(&mut sub, 2).await;
    assert!(opened(&mut sub_a, 2).await.contains(&joined.peer_id));
    assert!(opened(&mut sub_b, 2).await.contains(&joined.peer_id));
    ping_pong(&back, &clients[0], &joined.peer_id, &ids[0]).await;
    ping_pong(&clients[1], &back, &ids[1], &joined.peer_id).await;
    for c in clients {
        let _ = c.close().await;
    }
    let _ = back.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signaling_errors_are_typed() {
    use webrtc_signaling_client::{ClientError, Credential, SignalingError};
    let gw = gateway().await;
    let refused = Client::connect(&gw.url, Credential::Token("not-a-jwt".into())).await;
    match refused {
        Err(ClientError::Signaling(SignalingError::ConnectRefused { message })) => {
            assert_eq!(message, "Unauthorized")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a bad token connected"),
    }
    // Nobody listening: a transport error, quickly.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let unreachable = Client::connect(
        &format!("http://127.0.0.1:{closed_port}"),
        Credential::Token(jwt("a")),
    )
    .await;
    assert!(matches!(
        unreachable,
        Err(ClientError::Signaling(SignalingError::Transport(_)))
    ));
    let c = client(&gw, "a").await;
    match c.join_room("NOPE42").await {
        Err(ClientError::Signaling(SignalingError::Server { code, message })) => {
            assert_eq!(
                (code.as_str(), message.as_str()),
                ("ROOM_NOT_FOUND", "Room not found")
            );
        }
        other => panic!("unexpected {:?}", other.map(|j| j.room_code)),
    }
    let mut events = c.events().await.expect("events");
    c.create_room(Some("TAKEN1")).await.expect("create");
    assert!(matches!(
        c.create_room(Some("TAKEN1")).await,
        Err(ClientError::Signaling(SignalingError::Server { ref code, .. })) if code == "ROOM_EXISTS"
    ));
    // The error event comes through the stream too, typed.
    let err = tokio::time::timeout(SOON, async {
        loop {
            if let Some(PeerEvent::Signaling(webrtc_signaling_client::SignalingEvent::Error(e))) =
                events.recv().await
                && e.code == "ROOM_EXISTS"
            {
                break e;
            }
        }
    })
    .await
    .expect("error event");
    assert_eq!(err.message, "Room already exists");
    assert_eq!(err.event.as_deref(), Some("create:room"));
    assert!(!c.signaling().ping().await.expect("pong").is_empty());
    let _ = c.close().await;
}
