//! Requests in flight at once over one signaling connection, on each of
//! rust_socketio's transports: every request gets its own ack in time.

use std::time::Duration;

use webrtc_signaling_client::signaling::{
    Credential, SignalingClient, SignalingError, SignalingOptions, Transport,
};

use crate::common::*;

/// Requests in flight together; far more than rust_socketio 0.6's 999
/// random ack ids leave room for without a collision (~1 - e^-80).
const IN_FLIGHT: usize = 400;

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

/// Before the vendored fix, two requests drew the same ack id now and then:
/// the first answer resolved both, and removing them by index dropped a
/// third request's ack, which then timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_in_flight_each_get_their_ack() {
    // Room for 3 rounds within the per-socket event rate limit.
    let gw = gateway_with(|cfg| cfg.limits.rate_limit_burst = 4 * IN_FLIGHT as u32).await;
    let client = connected(&gw, Transport::Websocket).await;
    for round in 0..3 {
        let pings = (0..IN_FLIGHT).map(|_| client.ping());
        let answers = futures_util::future::join_all(pings).await;
        let failed: Vec<&SignalingError> =
            answers.iter().filter_map(|a| a.as_ref().err()).collect();
        assert!(
            failed.is_empty(),
            "round {round}: {} of {IN_FLIGHT} pings failed, e.g. {:?}",
            failed.len(),
            failed.first()
        );
        assert!(
            answers
                .iter()
                .all(|a| a.as_ref().is_ok_and(|t| !t.is_empty()))
        );
    }
    let _ = client.disconnect().await;
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
