//! What a room shared with browsers needs of a client's session: its id
//! from its join, reconnection after a dropped connection, and the room's
//! ICE servers in the peer connections.

use webrtc_signaling_client::signaling::{IceServer, SignalingEvent};
use webrtc_signaling_client::{Client, PeerEvent};

use crate::common::*;

async fn ping(from: &Client, to: &Client, to_id: &str, body: &[u8]) {
    let mut inbox = to.peer_messages().await.expect("inbox");
    from.send_to_peer(to_id, body.to_vec()).await.expect("send");
    let msg = tokio::time::timeout(SOON, inbox.recv())
        .await
        .expect("in time")
        .expect("inbox");
    assert_eq!((Some(msg.from), &msg.data[..]), (from.client_id(), body));
}

/// The id comes from what the contract gives: `room:joined.peerId` (nothing
/// before a join needs it), and it is the id the other members hear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_id_is_the_peer_id_its_join_gives() {
    let gw = gateway().await;
    let a = client(&gw, "a").await;
    let b = client(&gw, "b").await;
    assert_eq!((a.client_id(), b.client_id()), (None, None));
    let room = b.create_room(None).await.expect("create");
    let b_id = b.join_room(&room.room_code).await.expect("join").peer_id;
    let mut b_events = b.events().await.expect("events");
    let joined = a.join_room(&room.room_code).await.expect("join");
    assert_eq!(a.client_id(), Some(joined.peer_id.clone()));
    assert_eq!(b.client_id(), Some(b_id.clone()));
    assert_ne!(joined.peer_id, b_id);
    let heard = next_event(&mut b_events, "peer:joined", |e| match e {
        PeerEvent::Signaling(SignalingEvent::PeerJoined { peer_id, .. }) => Some(peer_id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(heard, joined.peer_id);
    a.leave_room().await.expect("leave");
    assert_eq!(a.client_id(), None, "no id outside a room");
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_reconnects_rejoins_and_renegotiates() {
    let gw = gateway().await;
    let proxy = Proxy::to(&gw).await;
    let a = client_at(&proxy.url, "a").await;
    let b = client(&gw, "b").await;
    let room = a.create_room(None).await.expect("create");
    let mut b_open = b.data_channel_opened().await.expect("sub");
    let old_a = a.join_room(&room.room_code).await.expect("join a").peer_id;
    let b_id = b.join_room(&room.room_code).await.expect("join b").peer_id;
    assert_eq!(opened(&mut b_open, 1).await, vec![old_a.clone()]);
    ping(&a, &b, &b_id, b"before").await;

    let mut a_events = a.events().await.expect("events");
    let mut b_events = b.events().await.expect("events");
    proxy.cut();

    // a: disconnected, reconnected as a new socket, back in the room.
    let reason = next_event(&mut a_events, "Disconnected", |e| match e {
        PeerEvent::Signaling(SignalingEvent::Disconnected { reason }) => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, "transport close");
    let new_a = next_event(&mut a_events, "Reconnected", |e| match e {
        PeerEvent::Signaling(SignalingEvent::Reconnected { peer_id }) => Some(peer_id.clone()),
        PeerEvent::PeerGone(p) => {
            assert_eq!(*p, b_id);
            None
        }
        _ => None,
    })
    .await
    .expect("the rejoin's peer id");
    assert_ne!(new_a, old_a);
    assert_eq!(a.client_id(), Some(new_a.clone()));
    let rejoined = next_event(&mut a_events, "room:joined", |e| match e {
        PeerEvent::Signaling(SignalingEvent::RoomJoined(j)) => Some(j.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (rejoined.room_code.as_str(), rejoined.peer_id.as_str()),
        (room.room_code.as_str(), new_a.as_str())
    );
    assert_eq!(
        rejoined.peers.iter().map(|p| &p.id).collect::<Vec<_>>(),
        [&b_id]
    );

    // b: peer:left for the old id, then peer:joined for the new one.
    let left = next_event(&mut b_events, "peer:left", |e| match e {
        PeerEvent::Signaling(SignalingEvent::PeerLeft { peer_id }) => Some(peer_id.clone()),
        PeerEvent::Signaling(SignalingEvent::PeerJoined { .. }) => {
            panic!("peer:joined before peer:left")
        }
        _ => None,
    })
    .await;
    assert_eq!(left, old_a);
    let joined = next_event(&mut b_events, "peer:joined", |e| match e {
        PeerEvent::Signaling(SignalingEvent::PeerJoined { peer_id, .. }) => Some(peer_id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(joined, new_a);

    // The peers negotiated again and data flows both ways.
    let reopened = next_event(&mut b_events, "ChannelOpen", |e| match e {
        PeerEvent::ChannelOpen(p) => Some(p.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reopened, new_a);
    assert_eq!(b.open_peers().await.expect("peers"), vec![new_a.clone()]);
    eventually("a's channel to b is open", || async {
        a.open_peers().await.expect("peers") == [b_id.clone()]
    })
    .await;
    ping(&a, &b, &b_id, b"after, a to b").await;
    ping(&b, &a, &new_a, b"after, b to a").await;
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rooms_ice_servers_configure_the_peer_connections() {
    // Nothing listens there: host candidates still connect on loopback.
    let gw = gateway_with(|cfg| {
        cfg.rooms.stun_urls = vec!["stun:127.0.0.1:19302".into()];
        cfg.rooms.turn_urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        cfg.rooms.turn_secret = Some("turn-secret".into());
    })
    .await;
    let a = client(&gw, "a").await;
    let b = client(&gw, "b").await;
    let room = a.create_room(None).await.expect("create");
    let a_joined = a.join_room(&room.room_code).await.expect("join");
    let mut b_open = b.data_channel_opened().await.expect("sub");
    let b_joined = b.join_room(&room.room_code).await.expect("join");
    let stun = IceServer {
        urls: vec!["stun:127.0.0.1:19302".into()],
        username: None,
        credential: None,
    };
    assert_eq!(a_joined.ice_servers.len(), 2);
    assert_eq!(a_joined.ice_servers[0], stun);
    assert_eq!(
        b_joined.ice_servers[1]
            .username
            .as_deref()
            .map(|u| u.ends_with(":b")),
        Some(true)
    );
    opened(&mut b_open, 1).await;
    // Each side's RTCPeerConnection carries exactly its own room:joined list.
    let configured = |c: &Client, peer: String| {
        let pm = c.peer_manager().clone();
        async move { pm.ice_servers_of(&peer).await.expect("actor") }
    };
    assert_eq!(
        configured(&b, a_joined.peer_id.clone()).await,
        Some(b_joined.ice_servers.clone())
    );
    assert_eq!(
        configured(&a, b_joined.peer_id.clone()).await,
        Some(a_joined.ice_servers.clone())
    );
    assert_eq!(configured(&a, "nobody".into()).await, None);
    let _ = a.close().await;
    let _ = b.close().await;
}
