//! An event packet socketioxide cannot parse (its name not a plain JSON
//! string, or the arguments after it not well-formed JSON) closes the
//! connection, as NestJS closes it. The gateway's event handler took that
//! check over from socketioxide (vendored `on_fallback_checked`,
//! vendor/PATCHES.md), so a relay's packet is read once: these cases hold on
//! every path an event takes (a relay on the hot path, an event no handler
//! has, another event, one over the rate limit). A packet that parses but
//! whose payload the event refuses is answered, the connection kept.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{SioClient, TestGateway, numbered_client};

/// A client in room `code` with a peer (the relays' target): both clients.
async fn pair(gw: &TestGateway, code: &str, n: u32) -> (SioClient, SioClient) {
    let mut a = numbered_client(gw.addr, n).await;
    let mut b = numbered_client(gw.addr, n + 1).await;
    let ack = a
        .call("create:room", json!({ "roomCode": code, "maxPeers": 2 }))
        .await;
    assert_eq!(ack["roomCode"], code, "{ack}");
    for c in [&mut a, &mut b] {
        let ack = c.call("join:room", json!({ "roomCode": code })).await;
        assert_eq!(ack["peerId"], c.sid, "{ack}");
    }
    (a, b)
}

/// Sends `packet` and tells whether the connection closed; if it did not,
/// the connection still answers a ping.
async fn closes(c: &mut SioClient, packet: &str) -> bool {
    c.send_raw(packet).await;
    if c.closed_within(Duration::from_millis(500)).await {
        return true;
    }
    let pong = c.emit_with_ack("ping", json!({})).await;
    assert!(pong.get("error").is_none(), "{packet}: {pong}");
    false
}

#[tokio::test]
async fn unparsable_event_packets_close_the_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = TestGateway::start(support::config(dir.path())).await;
    let (mut a, b) = pair(&gw, "parse", 1).await;
    let target = b.sid.clone();
    let ice = format!(r#"{{"targetPeerId":"{target}","candidate":"c"}}"#);

    // Parses: answered, the connection kept (a relay's read also checks
    // the end of the packet, which socketioxide's did not).
    for packet in [
        format!(r#"42["webrtc:ice",{ice}]"#),
        format!(r#"420["webrtc:ice",{ice}]"#),
        format!(r#"42["webrtc:ice",{ice}] x"#),
        format!(r#"42["webrtc:ice",{ice},2]"#),
        r#"42["webrtc:ice",{"candidate":"c"}]"#.to_owned(),
        r#"42["webrtc:ice"]"#.to_owned(),
        r#"42["no:such:event",{"a":[1,{}]}]"#.to_owned(),
        r#"42 ["ping",{}]"#.to_owned(),
    ] {
        assert!(!closes(&mut a, &packet).await, "closed on {packet}");
    }
    gw.stop().await;

    // Does not parse: closed, on each path.
    let packets = [
        // a relay (the hot path)
        format!(r#"42["webrtc:ice",{ice}"#),
        format!(r#"42["webrtc:ice",{{"targetPeerId":"{target}","candidate":}}]"#),
        r#"42["webrtc:offer",{"targetPeerId":"x","offer":{"type":"offer","sdp":"v=0\q"}}]"#
            .to_owned(),
        // names socketioxide did not read
        format!(r#"42["webrtc\u003aice",{ice}]"#),
        r#"42[1,{}]"#.to_owned(),
        r#"42[]"#.to_owned(),
        r#"42{"a":1}"#.to_owned(),
        "42\u{a0}[\"ping\",{}]".to_owned(),
        // an event no handler has, another event
        r#"42["no:such:event",{]"#.to_owned(),
        r#"42["join:room",{"roomCode":"parse",}]"#.to_owned(),
        r#"420["ping",[}]"#.to_owned(),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = TestGateway::start(support::config(dir.path())).await;
    for (i, packet) in packets.iter().enumerate() {
        let (mut a, _b) = pair(&gw, &format!("parse{i}"), 10 + 2 * i as u32).await;
        assert!(closes(&mut a, packet).await, "still open after {packet}");
    }
    gw.stop().await;

    // Over the rate limit: closed, not refused.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = support::config(dir.path());
    cfg.limits.rate_limit_burst = 3;
    cfg.limits.rate_limit_per_sec = 0.0;
    let gw = TestGateway::start(cfg).await;
    let (mut a, _b) = pair(&gw, "limited", 1).await;
    // create:room and join:room took two tokens; one ping more leaves none.
    let pong = a.emit_with_ack("ping", json!({})).await;
    assert!(pong.get("error").is_none(), "{pong}");
    let refused = a.emit_with_ack("ping", json!({})).await;
    assert_eq!(refused["error"]["code"], "RATE_LIMITED", "{refused}");
    assert!(closes(&mut a, &format!(r#"42["webrtc:ice",{ice}"#)).await);
    gw.stop().await;
}
