//! Issue 23, case 2, the part the byte budget does not see: a long-polling
//! session that keeps POSTing (pongs) but never GETs what is queued for it.
//! Under `MAX_SEND_BUFFER` nothing cuts it off, and its pongs used to
//! satisfy Engine.IO's heartbeat, so it held its queue for as long as it
//! posted. A pong now counts only once the ping it answers has been
//! collected: such a session is closed within one heartbeat (pingInterval
//! 25 s + pingTimeout 20 s) and its bytes are freed, while a session that
//! polls is served throughout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::slow_reader::{polling_pair_of, send_offers};
use crate::support::process::GatewayProcess;
use serde_json::json;

/// pingInterval + pingTimeout: the heartbeat's bound on an unanswered ping.
const HEARTBEAT: Duration = Duration::from_secs(25 + 20);

fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {metrics}"))
}

#[tokio::test]
async fn a_polling_session_that_only_posts_is_closed_within_a_heartbeat_and_its_bytes_freed() {
    let gw = GatewayProcess::start(&[]).await;
    let (mut a, b) = polling_pair_of(&gw, "post-only", "a", "b").await;
    let (mut c, d) = polling_pair_of(&gw, "polls", "c", "d").await;
    // B's last GET was its join's ack.
    let stopped = Instant::now();

    // B answers, every second, the pings it never collects.
    let b = Arc::new(b);
    let poster = tokio::spawn({
        let b = b.clone();
        async move {
            for _ in 0..70 {
                let status = b.post(&["3"]).await;
                if status != 200 {
                    return Some((status, Instant::now()));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            None
        }
    });
    // D polls as a client does (its pings answered after each GET).
    let d_sid = d.sid.clone();
    let (count, mut got) = tokio::sync::watch::channel(0usize);
    let poller = tokio::spawn(async move {
        loop {
            match d.poll().await {
                Ok(packets) => {
                    let offers = packets
                        .iter()
                        .filter(|p| p.contains("webrtc:offer"))
                        .count();
                    count.send_modify(|n| *n += offers);
                }
                Err(refused) => return refused,
            }
        }
    });

    // Well under B's budget (2 MiB): only time can free it.
    let queued = send_offers(&mut a, &b.sid, 5).await;
    assert_eq!((queued.ok, queued.peer_not_found), (5, 0), "{queued:?}");
    let held = metric(&gw.metrics().await, "gateway_node_send_buffer_bytes");
    assert!(held > 5 * 64 * 1024, "B's relays are held: {held}");

    // C reads meanwhile, so that it answers its own pings.
    let wait = HEARTBEAT + Duration::from_secs(10);
    let left = tokio::select! {
        left = a.next_within("peer:left", wait) => left,
        _ = c.next_within("no such event", wait + Duration::from_secs(1)) => None,
    }
    .unwrap_or_else(|| {
        panic!(
            "B still open {} s after its last GET",
            stopped.elapsed().as_secs()
        )
    });
    let closed_after = stopped.elapsed();
    assert_eq!(left["peerId"], json!(b.sid));
    assert!(
        closed_after <= HEARTBEAT + Duration::from_secs(3),
        "closed {closed_after:?} after B's last GET"
    );
    // Its bytes are given back, and its next POST is refused.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let held = metric(&gw.metrics().await, "gateway_node_send_buffer_bytes");
        if held == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{held} bytes still held");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, refused_at) = poster
        .await
        .expect("poster")
        .expect("B's POSTs are refused once it is closed");
    assert_eq!(status, 400);
    assert!(refused_at.duration_since(stopped) <= HEARTBEAT + Duration::from_secs(5));

    // D, polling across the same heartbeats, is still served.
    assert!(!poller.is_finished(), "{:?}", poller.await);
    let ok = send_offers(&mut c, &d_sid, 1).await;
    assert_eq!(ok.ok, 1, "{ok:?}");
    tokio::time::timeout(Duration::from_secs(5), got.wait_for(|&n| n >= 1))
        .await
        .expect("D receives the relay")
        .expect("D's poller alive");
    poller.abort();
}
