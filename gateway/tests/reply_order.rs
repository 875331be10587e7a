//! Replies keep the order of the events they answer, the rate limit's
//! refusals included (found by the differential fuzzer, conformance/fuzz/: a
//! refused event was answered at once, ahead of the events queued before it).

mod support;

use serde_json::{Value, json};
use support::{SioClient, TestGateway};

/// The events of one read, answered in order: three `create:room` that wait on
/// the room store, then a `ping` over the budget.
#[tokio::test(flavor = "current_thread")]
async fn a_refused_event_is_answered_after_the_events_before_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = support::config(dir.path());
    cfg.limits.rate_limit_burst = 3;
    cfg.limits.rate_limit_per_sec = 0.0;
    let gw = TestGateway::start(cfg).await;
    let mut c = SioClient::connect(gw.addr, json!({ "token": support::token("1", "ann") }), &[])
        .await
        .expect("connects");

    let mut packets: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "42{i}{}",
                json!(["create:room", { "roomCode": format!("order-{i}") }])
            )
        })
        .collect();
    packets.push(format!("423{}", json!(["ping"])));
    c.send_together(&packets).await;

    let mut seen = Vec::new();
    while seen.len() < 8 {
        let packet = c.next_packet().await;
        let (kind, body) = packet.split_at(2);
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        let (id, json) = body.split_at(digits);
        let args: Value = serde_json::from_str(json).expect("json");
        seen.push(match kind {
            "42" => format!(
                "{} {}",
                args[0].as_str().unwrap_or_default(),
                args[1]["code"]
                    .as_str()
                    .or(args[1]["roomCode"].as_str())
                    .unwrap_or_default()
            ),
            "43" => format!(
                "ack {id} {}",
                args[0]["error"]["code"]
                    .as_str()
                    .or(args[0]["roomCode"].as_str())
                    .unwrap_or_default()
            ),
            other => format!("packet {other}"),
        });
    }
    assert_eq!(
        seen,
        [
            "room:created order-0",
            "ack 0 order-0",
            "room:created order-1",
            "ack 1 order-1",
            "room:created order-2",
            "ack 2 order-2",
            "error RATE_LIMITED",
            "ack 3 RATE_LIMITED",
        ]
    );
    gw.stop().await;
}
