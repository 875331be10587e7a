//! Requests in flight at once over one signaling connection, on each of
//! rust_socketio's transports: every request gets its own ack in time.

use std::time::Duration;

use webrtc_signaling_client::signaling::{
    Credential, SignalingClient, SignalingOptions, Transport,
};

use crate::common::*;

async fn connected(gw: &TestGateway, transport: Transport) -> SignalingClient {
    let options = SignalingOptions {
        timeout: Duration::from_secs(5),
        transport,
        ..SignalingOptions::default()
    };
    let (client, mut events) =
        SignalingClient::connect(&gw.url, &Credential::Token(jwt("acks")), options)
            .await
            .expect("connects");
    // Nobody reads the events here; keep the reader from waiting on them.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    client
}

/// Long-polling (no WebSocket at all) carries the same requests and events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_carries_requests_and_events() {
    let gw = gateway().await;
    let a = connected(&gw, Transport::Polling).await;
    let room = a.create_room(None, None).await.expect("create");
    let joined = a.join_room(&room.room_code).await.expect("join");
    assert_eq!(a.peer_id(), Some(joined.peer_id));
    assert!(!a.ping().await.expect("pong").is_empty());
    let _ = a.disconnect().await;
}
