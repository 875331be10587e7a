//! No relay acked and lost (issue 20, item 4): a relay to another node is
//! acked `{ ok: true }` only once that node has handed it to the target's
//! outbox (its receipt), so a relay to a frozen node is never acked ok; it is
//! refused with `PEER_NOT_FOUND` once the node is seen dead or no receipt came
//! within the bound (README "Cluster"). A node frozen for less than its
//! timeout hands the relays over on resume, and they are acked then.
//!
//! Real gateway processes on a redis-server of the test's own; one test at a
//! time (they measure time bounds).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::cluster::{SWEEP, TIMEOUT, TestCluster};
use support::{SioClient, peer_ids};
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// The README's bound for a relay to a node that stopped answering: its
/// `NODE_TIMEOUT`, plus a sweep, plus slack for a busy 2-core machine.
fn bound() -> Duration {
    TIMEOUT + SWEEP + Duration::from_millis(700)
}

/// `n` nodes, `a` on the first, `c` on the second, in one room.
async fn nodes(n: usize, code: &str) -> (TestCluster, SioClient, SioClient) {
    nodes_with(n, code, &[]).await
}

/// [`nodes`] with `settings` on every node.
async fn nodes_with(
    n: usize,
    code: &str,
    settings: &[(&str, &str)],
) -> (TestCluster, SioClient, SioClient) {
    let cluster = TestCluster::start(n, settings).await;
    let mut a = support::numbered_client(cluster.nodes[0].addr, 1).await;
    let mut c = support::numbered_client(cluster.nodes[1].addr, 2).await;
    let ack = a
        .call("create:room", json!({ "roomCode": code, "maxPeers": 4 }))
        .await;
    assert_eq!(ack["roomCode"], code, "{ack}");
    for x in [&mut a, &mut c] {
        let ack = x.call("join:room", json!({ "roomCode": code })).await;
        assert_eq!(ack["peerId"], x.sid, "{ack}");
    }
    assert_eq!(a.next("peer:joined").await["peerId"], c.sid);
    // The path is warm: one relay there and its ack.
    let ok = a
        .call(
            "webrtc:ice",
            json!({ "targetPeerId": c.sid, "candidate": "warm" }),
        )
        .await;
    assert_eq!(ok, json!({ "ok": true }));
    assert_eq!(c.next("webrtc:ice").await["candidate"], "warm");
    (cluster, a, c)
}

/// What became of the relays `a` sent: each ack by relay number, with when it
/// came; the `peer:left`s received meanwhile.
#[derive(Default)]
struct Outcome {
    sent: Vec<Instant>,
    acks: BTreeMap<u64, (Instant, Value)>,
    peer_left: Vec<(Instant, String)>,
}

/// Sends an acked `webrtc:ice` numbered 0, 1, ... from `a` to `target` every
/// `every` for `during`, reading acks meanwhile, then reads until every relay
/// is answered.
async fn relay_for(a: &mut SioClient, target: &str, every: Duration, during: Duration) -> Outcome {
    let mut out = Outcome::default();
    let start = Instant::now();
    let mut next = start;
    let deadline = start + during + Duration::from_secs(10);
    let first_id = 1_000u64;
    loop {
        let sending = next.duration_since(start) < during;
        if sending && Instant::now() >= next {
            let n = out.sent.len() as u64;
            let relay =
                json!(["webrtc:ice", { "targetPeerId": target, "candidate": n.to_string() }]);
            a.send_raw(&format!("42{}{relay}", first_id + n)).await;
            out.sent.push(Instant::now());
            next += every;
            continue;
        }
        if !sending && out.acks.len() == out.sent.len() {
            return out;
        }
        let wait_until = if sending { next } else { deadline };
        let now = Instant::now();
        assert!(
            now < deadline,
            "relays unanswered: {} of {}",
            out.sent.len() - out.acks.len(),
            out.sent.len()
        );
        let Ok(packet) =
            tokio::time::timeout(wait_until.saturating_duration_since(now), a.recv()).await
        else {
            continue;
        };
        let packet = packet.expect("the sender stays connected");
        if let Some(rest) = packet.strip_prefix("43") {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let id: u64 = rest[..digits].parse().expect("ack id");
            let args: Value = serde_json::from_str(&rest[digits..]).expect("ack json");
            let n = id.checked_sub(first_id).expect("an ack of this flood");
            assert!(
                out.acks
                    .insert(n, (Instant::now(), args[0].clone()))
                    .is_none(),
                "relay {n} answered twice"
            );
        } else if let Some(body) = packet.strip_prefix("42") {
            let v: Value = serde_json::from_str(body).expect("event json");
            if v[0] == "peer:left" {
                let peer = v[1]["peerId"].as_str().unwrap_or_default().to_owned();
                out.peer_left.push((Instant::now(), peer));
            }
        }
    }
}

/// The candidates `c` receives within `window`, as relay numbers.
async fn received(c: &mut SioClient, window: Duration) -> Vec<u64> {
    let end = Instant::now() + window;
    let mut got = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Some(ice) = c.next_within("webrtc:ice", left).await else {
            break;
        };
        got.push(
            ice["candidate"]
                .as_str()
                .and_then(|n| n.parse().ok())
                .expect("numbered"),
        );
    }
    got
}

/// Frozen past its timeout: nothing sent to its member during the freeze is
/// acked ok (nothing reached that member), every relay is refused with
/// `PEER_NOT_FOUND` within the bound, the member's peer hears `peer:left`
/// once; resumed, the node finds itself reaped and closes its socket.
#[tokio::test]
async fn relays_to_a_node_frozen_past_its_timeout_are_refused_not_acked_and_lost() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (cluster, mut a, mut c) = nodes(2, "icy").await;
    let frozen_node = &cluster.nodes[1];
    frozen_node.freeze();
    let frozen = Instant::now();
    // The signal has surely stopped it: whatever is sent now reaches nobody.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let out = relay_for(&mut a, &c.sid, Duration::from_millis(20), TIMEOUT * 2).await;

    let bound = bound();
    for (n, sent) in out.sent.iter().enumerate() {
        let (at, ack) = &out.acks[&(n as u64)];
        let ms = sent.duration_since(frozen).as_millis();
        assert_ne!(
            *ack,
            json!({ "ok": true }),
            "relay {n}, sent {ms} ms after the SIGSTOP, acked ok while its target's node was frozen"
        );
        assert_eq!(ack["error"]["code"], "PEER_NOT_FOUND", "relay {n}: {ack}");
        // Refused within the bound of the freeze, or at once after it.
        let late = at.duration_since(frozen);
        assert!(
            late <= bound || at.duration_since(*sent) <= Duration::from_millis(300),
            "relay {n}, sent {ms} ms after the SIGSTOP, refused only {late:?} after it"
        );
    }
    assert!(out.sent.len() >= 50, "{} relays", out.sent.len());
    let told: Vec<&str> = out.peer_left.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        told,
        [c.sid.as_str()],
        "peer:left once for the frozen member"
    );
    assert!(out.peer_left[0].0.duration_since(frozen) <= bound);

    // Resumed, it finds itself reaped: its socket is closed, nothing it may
    // still hand over counts (none of those relays was acked ok).
    frozen_node.resume();
    assert!(
        c.closed_within(Duration::from_secs(3)).await,
        "the reaped node kept its socket"
    );
    let err = a
        .call(
            "webrtc:ice",
            json!({ "targetPeerId": c.sid, "candidate": "gone" }),
        )
        .await;
    assert_eq!(err["error"]["code"], "PEER_NOT_FOUND");
    assert!(
        a.next_within("peer:left", Duration::from_millis(300))
            .await
            .is_none()
    );
    // The member reconnects to the resumed node and is reached again.
    let mut c2 = support::numbered_client(frozen_node.addr, 2).await;
    let ack = c2.call("join:room", json!({ "roomCode": "icy" })).await;
    assert_eq!(peer_ids(&ack), [a.sid.clone()]);
    assert_eq!(a.next("peer:joined").await["peerId"], c2.sid);
    let ok = a
        .call(
            "webrtc:ice",
            json!({ "targetPeerId": c2.sid, "candidate": "back" }),
        )
        .await;
    assert_eq!(ok, json!({ "ok": true }));
    assert_eq!(c2.next("webrtc:ice").await["candidate"], "back");
}

/// Frozen for less than its timeout: the relays sent meanwhile are acked ok
/// only after the resume (once handed over), every one is delivered, in
/// order, and nobody hears `peer:left`.
#[tokio::test]
async fn relays_to_a_node_frozen_briefly_are_acked_once_handed_over() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (cluster, mut a, mut c) = nodes(2, "brr").await;
    let frozen_node = &cluster.nodes[1];
    frozen_node.freeze();
    let frozen = Instant::now();
    let pause = TIMEOUT * 2 / 5;
    let resumer = {
        let pid = frozen_node.pid();
        tokio::spawn(async move {
            tokio::time::sleep(pause).await;
            // SAFETY: resumes the child process this test froze.
            unsafe { libc_kill(pid, 18) };
            Instant::now()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let out = relay_for(&mut a, &c.sid, Duration::from_millis(10), TIMEOUT * 3 / 5).await;
    let resumed = resumer.await.expect("resumed");

    for (n, sent) in out.sent.iter().enumerate() {
        let (at, ack) = &out.acks[&(n as u64)];
        assert_eq!(*ack, json!({ "ok": true }), "relay {n}");
        if *sent < resumed {
            assert!(
                *at > resumed,
                "relay {n}, sent {} ms after the SIGSTOP, acked before the resume",
                sent.duration_since(frozen).as_millis()
            );
        }
    }
    let want: Vec<u64> = (0..out.sent.len() as u64).collect();
    assert_eq!(received(&mut c, Duration::from_secs(2)).await, want);
    assert!(out.peer_left.is_empty(), "{:?}", out.peer_left);
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Pipelined: a relay awaiting its receipt from a frozen node does not hold
/// the sender's next relay, which reaches its target on a third node at once;
/// the acks still come in the order of the relays (the first on the resume).
#[tokio::test]
async fn a_relay_awaiting_its_receipt_does_not_hold_the_next_one() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (cluster, mut a, mut c) = nodes(3, "pipe").await;
    let mut b = support::numbered_client(cluster.nodes[2].addr, 3).await;
    let ack = b.call("join:room", json!({ "roomCode": "pipe" })).await;
    assert_eq!(ack["peerId"], b.sid, "{ack}");
    assert_eq!(a.next("peer:joined").await["peerId"], b.sid);
    assert_eq!(c.next("peer:joined").await["peerId"], b.sid);

    cluster.nodes[1].freeze();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let to_c = json!(["webrtc:ice", { "targetPeerId": c.sid, "candidate": "held" }]);
    let to_b = json!(["webrtc:ice", { "targetPeerId": b.sid, "candidate": "next" }]);
    a.send_together(&[format!("4270{to_c}"), format!("4271{to_b}")])
        .await;
    let got = b
        .next_within("webrtc:ice", Duration::from_millis(400))
        .await
        .expect("the next relay is not held behind the frozen node's receipt");
    assert_eq!(got["candidate"], "next");
    // Neither is acked yet: the first waits for its receipt, the second for the first.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), a.recv())
            .await
            .is_err(),
        "an ack while the first relay's node is frozen"
    );
    cluster.nodes[1].resume();
    assert_eq!(a.next_packet().await, r#"4370[{"ok":true}]"#);
    assert_eq!(a.next_packet().await, r#"4371[{"ok":true}]"#);
    assert_eq!(c.next("webrtc:ice").await["candidate"], "held");
}

/// A node's `gateway_cluster_relays_dropped_total{reason}`.
async fn dropped(node: &support::cluster::Node, reason: &str) -> u64 {
    let metrics = node.metrics().await;
    let line = format!("gateway_cluster_relays_dropped_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .map_or(0, |v| v.trim().parse::<f64>().expect("a count") as u64)
}

/// Frozen for less than its timeout while more batches pile up for it than
/// its subscriber's ring holds (`RELAY_RING`, tiny here): on the resume fred
/// overwrites its ring and the batches it drops are lost. Their relays are
/// refused, `PEER_NOT_FOUND`; every relay acked ok reached its target (the
/// receipt, cumulative, covered the dropped batches and acked them ok: 1,883
/// relays acked and lost in the bench's freeze at the default liveness).
#[tokio::test]
async fn relays_dropped_by_a_lagging_node_on_its_resume_are_refused_the_rest_acked() {
    let _one = ONE_AT_A_TIME.lock().await;
    let settings = [
        ("NODE_TIMEOUT", "6"),
        ("RELAY_RING", "4"),
        ("RATE_LIMIT_BURST", "100000"),
        ("RATE_LIMIT_PER_SEC", "100000"),
    ];
    let (cluster, mut a, mut c) = nodes_with(2, "lag", &settings).await;
    let frozen_node = &cluster.nodes[1];
    frozen_node.freeze();
    let resumer = {
        let pid = frozen_node.pid();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            // SAFETY: resumes the child process this test froze.
            unsafe { libc_kill(pid, 18) };
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let out = relay_for(
        &mut a,
        &c.sid,
        Duration::from_millis(1),
        Duration::from_secs(2),
    )
    .await;
    resumer.await.expect("resumed");
    let got = received(&mut c, Duration::from_secs(2)).await;

    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, got, "delivered in order, once each");
    let delivered: std::collections::BTreeSet<u64> = got.into_iter().collect();
    let (mut acked_then_lost, mut refused, mut acked) = (Vec::new(), 0, 0);
    for (n, (_, ack)) in &out.acks {
        if *ack == json!({ "ok": true }) {
            acked += 1;
            if !delivered.contains(n) {
                acked_then_lost.push(*n);
            }
        } else {
            assert_eq!(ack["error"]["code"], "PEER_NOT_FOUND", "relay {n}: {ack}");
            assert!(!delivered.contains(n), "relay {n} refused and delivered");
            refused += 1;
        }
    }
    let lagged = dropped(frozen_node, "lagged").await;
    eprintln!(
        "{} sent, {acked} acked ok, {refused} refused, {} delivered, {lagged} batches lagged",
        out.sent.len(),
        delivered.len()
    );
    assert!(
        acked_then_lost.is_empty(),
        "{} relays acked ok and lost (of {} sent, {lagged} batches lagged): {:?}",
        acked_then_lost.len(),
        out.sent.len(),
        &acked_then_lost[..acked_then_lost.len().min(20)]
    );
    // The test saw what it is about: batches dropped on the resume.
    assert!(
        lagged > 0 && refused > 0,
        "{lagged} lagged, {refused} refused"
    );
    assert_eq!(acked + refused, out.sent.len());
    assert_eq!(acked, delivered.len(), "every relay delivered was acked ok");
    assert!(out.peer_left.is_empty(), "{:?}", out.peer_left);
}
