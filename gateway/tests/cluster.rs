//! A cluster of real gateway processes on a redis-server of this test's own:
//! clients on different nodes behave as on one node, seats and codes are
//! atomic across nodes, a killed or frozen node's peers are told `peer:left`
//! once within the bound, and Redis restarts are survived without a restart
//! of the nodes.
//!
//! The tests run one at a time: they measure time bounds, and each starts
//! four processes.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::cluster::{HEARTBEAT, Node, REDIS_TIMEOUT, SWEEP, TIMEOUT, TestCluster};
use support::{SioClient, peer_ids};
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// Nothing arrives within this (loopback round trips take well under a millisecond).
const QUIET: Duration = Duration::from_millis(300);

/// When a dead node's peers hear `peer:left`, measured from its death: its key
/// was refreshed at most one heartbeat before, so it expires between
/// `TIMEOUT - HEARTBEAT` and `TIMEOUT` after; the next sweep reports it. The
/// slack is for a busy 2-core machine.
fn peer_left_window() -> (Duration, Duration) {
    (
        TIMEOUT - HEARTBEAT,
        TIMEOUT + SWEEP + Duration::from_millis(800),
    )
}

async fn client(node: &Node, n: u32) -> SioClient {
    support::numbered_client(node.addr, n).await
}

fn user(n: u32) -> Value {
    json!({ "userId": format!("u{n}"), "username": format!("user{n}") })
}

async fn create(c: &mut SioClient, code: &str, max: u32) {
    let ack = c
        .call("create:room", json!({ "roomCode": code, "maxPeers": max }))
        .await;
    assert_eq!(ack["roomCode"], code, "{ack}");
}

async fn join(c: &mut SioClient, code: &str) -> Value {
    let ack = c.call("join:room", json!({ "roomCode": code })).await;
    assert_eq!(ack["peerId"], c.sid, "{ack}");
    ack
}

/// `GET /rooms/{code}` as user `u1` (the creator of most rooms here, so the
/// answer lists the peers).
async fn get_room(node: &Node, code: &str) -> (u16, Value) {
    get_room_as(node, code, "u1").await
}

async fn get_room_as(node: &Node, code: &str, user: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(node.url(&format!("/rooms/{code}")))
        .bearer_auth(support::token(user, user))
        .send()
        .await
        .expect("GET /rooms");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wait_ready(node: &Node, want: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = node.ready().await;
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {status}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many `event`s arrive within `window`.
async fn count(c: &mut SioClient, event: &str, window: Duration) -> usize {
    let end = Instant::now() + window;
    let mut n = 0;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if c.next_within(event, left).await.is_none() {
            break;
        }
        n += 1;
    }
    n
}

#[tokio::test]
async fn peers_on_different_nodes_see_each_other_as_on_one_node() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(3, &[]).await;
    let [n0, n1, n2] = &cluster.nodes[..] else {
        unreachable!()
    };
    let mut a = client(n0, 1).await;
    let mut b = client(n1, 2).await;
    let mut c = client(n2, 3).await;
    create(&mut a, "Mixed", 10).await;
    // One code, one room: another node refuses it, REST included.
    let again = b.call("create:room", json!({ "roomCode": "mixed" })).await;
    assert_eq!(again["error"]["code"], "ROOM_EXISTS");

    assert_eq!(peer_ids(&join(&mut a, "Mixed").await), Vec::<String>::new());
    let joined_b = join(&mut b, "mixed").await;
    assert_eq!(joined_b["roomCode"], "Mixed");
    assert_eq!(
        joined_b["peers"],
        json!([{ "id": a.sid, "userInfo": user(1) }])
    );
    assert_eq!(
        a.next("peer:joined").await,
        json!({ "peerId": b.sid, "userInfo": user(2) })
    );
    let joined_c = join(&mut c, "MIXED").await;
    assert_eq!(peer_ids(&joined_c), [a.sid.clone(), b.sid.clone()]);
    for x in [&mut a, &mut b] {
        assert_eq!(x.next("peer:joined").await["peerId"], c.sid);
    }

    // Relays reach exactly their target, on another node, with fromPeerId.
    let offer = json!({ "type": "offer", "sdp": "v=0\r\n" });
    let ok = a
        .call(
            "webrtc:offer",
            json!({ "targetPeerId": b.sid, "offer": offer }),
        )
        .await;
    assert_eq!(ok, json!({ "ok": true }));
    assert_eq!(
        b.next("webrtc:offer").await,
        json!({ "fromPeerId": a.sid, "targetPeerId": b.sid, "offer": offer })
    );
    let answer = json!({ "type": "answer", "sdp": "v=0\r\n" });
    b.call(
        "webrtc:answer",
        json!({ "targetPeerId": a.sid, "answer": answer }),
    )
    .await;
    assert_eq!(
        a.next("webrtc:answer").await,
        json!({ "fromPeerId": b.sid, "targetPeerId": a.sid, "answer": answer })
    );
    c.call(
        "webrtc:ice",
        json!({ "targetPeerId": a.sid, "candidate": "candidate:1" }),
    )
    .await;
    assert_eq!(
        a.next("webrtc:ice").await,
        json!({ "fromPeerId": c.sid, "targetPeerId": a.sid, "candidate": "candidate:1" })
    );
    assert!(c.next_within("webrtc:offer", QUIET).await.is_none());
    assert!(
        c.next_within("webrtc:answer", Duration::ZERO)
            .await
            .is_none()
    );
    assert!(b.next_within("webrtc:ice", Duration::ZERO).await.is_none());

    // media:state reaches the others on both other nodes, not the sender.
    b.call(
        "media:state",
        json!({ "isVideoEnabled": false, "isAudioEnabled": true }),
    )
    .await;
    let changed = json!({ "peerId": b.sid, "isVideoEnabled": false, "isAudioEnabled": true });
    assert_eq!(a.next("media:state_changed").await, changed);
    assert_eq!(c.next("media:state_changed").await, changed);
    assert!(b.next_within("media:state_changed", QUIET).await.is_none());

    // REST on the third node sees the room as it is.
    let (status, room) = get_room(n2, "mixed").await;
    assert_eq!(status, 200);
    assert_eq!(room["maxPeers"], 10);
    assert_eq!(
        room["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect::<Vec<_>>(),
        [json!(a.sid), json!(b.sid), json!(c.sid)]
    );

    // Leaving: room:left to the leaver, peer:left to the others, once.
    assert_eq!(b.call("leave:room", json!({})).await, json!({ "ok": true }));
    assert_eq!(b.next("room:left").await, json!({ "roomId": "room_mixed" }));
    for x in [&mut a, &mut c] {
        assert_eq!(x.next("peer:left").await, json!({ "peerId": b.sid }));
    }
    assert_eq!(count(&mut a, "peer:left", QUIET).await, 0);
    // A relay to a peer that left, from any node: PEER_NOT_FOUND.
    for x in [&mut a, &mut c] {
        let err = x
            .call(
                "webrtc:ice",
                json!({ "targetPeerId": b.sid, "candidate": "late" }),
            )
            .await;
        assert_eq!(err["error"]["code"], "PEER_NOT_FOUND", "{err}");
    }
    assert!(b.next_within("webrtc:ice", QUIET).await.is_none());

    // Disconnecting is leaving, wherever the others are.
    drop(c);
    assert_eq!(a.next("peer:left").await["peerId"], joined_c["peerId"]);
}

#[tokio::test]
async fn a_thousand_ice_candidates_cross_nodes_in_order() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(2, &[]).await;
    let mut a = client(&cluster.nodes[0], 1).await;
    let mut b = client(&cluster.nodes[1], 2).await;
    create(&mut a, "order", 2).await;
    join(&mut a, "order").await;
    join(&mut b, "order").await;
    for i in 0..1000 {
        a.emit(
            "webrtc:ice",
            json!({ "targetPeerId": b.sid, "candidate": format!("candidate:{i}") }),
        )
        .await;
    }
    for i in 0..1000 {
        let got = b.next("webrtc:ice").await;
        assert_eq!(got["candidate"], format!("candidate:{i}"));
        assert_eq!(got["fromPeerId"], a.sid);
    }
    assert!(b.next_within("webrtc:ice", QUIET).await.is_none());
    assert!(a.next_within("error", Duration::ZERO).await.is_none());
}

/// A member whose node recorded no route (joined through a node of the
/// version that read the Socket.IO adapter: README "Cluster", no rolling
/// upgrade from it) cannot be reached: relays to it are refused, not acked
/// and lost.
#[tokio::test]
async fn a_member_without_a_route_is_refused_not_acked() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(2, &[]).await;
    let mut a = client(&cluster.nodes[0], 1).await;
    let mut b = client(&cluster.nodes[1], 2).await;
    create(&mut b, "upgrade", 2).await;
    join(&mut b, "upgrade").await;
    assert_eq!(
        cluster
            .redis
            .cli(&["HDEL", "{gw}:route:room_upgrade", &b.sid]),
        "1"
    );
    // A's view is filled from Redis at its join: B has no route there.
    join(&mut a, "upgrade").await;
    let err = a
        .call(
            "webrtc:ice",
            json!({ "targetPeerId": b.sid, "candidate": "c" }),
        )
        .await;
    assert_eq!(err["error"]["code"], "PEER_NOT_FOUND", "{err}");
    assert!(b.next_within("webrtc:ice", QUIET).await.is_none());
    // B's own relays to A (whose route is recorded) go on A's channel.
    let ok = b
        .call(
            "webrtc:ice",
            json!({ "targetPeerId": a.sid, "candidate": "back" }),
        )
        .await;
    assert_eq!(ok, json!({ "ok": true }));
    assert_eq!(a.next("webrtc:ice").await["fromPeerId"], b.sid);
}

/// No Socket.IO adapter crosses nodes: each node reads its own channel and
/// nothing else, on two connections (commands, its channel's subscriber).
#[tokio::test]
async fn a_node_reads_one_channel_on_two_connections() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(2, &[]).await;
    let mut shard: Vec<String> = cluster
        .redis
        .cli(&["PUBSUB", "SHARDCHANNELS"])
        .lines()
        .map(str::to_owned)
        .collect();
    shard.sort();
    assert_eq!(shard.len(), 2, "{shard:?}");
    assert!(
        shard.iter().all(|c| c.starts_with("gw-relay:")),
        "{shard:?}"
    );
    assert_eq!(cluster.redis.cli(&["PUBSUB", "CHANNELS"]), "");
    assert_eq!(cluster.redis.cli(&["PUBSUB", "NUMPAT"]), "0");
    // Every client but this redis-cli.
    let clients = cluster.redis.cli(&["CLIENT", "LIST"]).lines().count() - 1;
    assert_eq!(clients, 4, "{}", cluster.redis.cli(&["CLIENT", "LIST"]));
}

#[tokio::test]
async fn thirty_clients_on_three_nodes_take_exactly_ten_seats() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(3, &[]).await;
    let mut clients = Vec::new();
    for i in 0..30 {
        clients.push(client(&cluster.nodes[i % 3], i as u32).await);
    }
    create(&mut clients[0], "seats", 10).await;
    let joins = clients.into_iter().map(|mut c| {
        tokio::spawn(async move {
            let ack = c.call("join:room", json!({ "roomCode": "seats" })).await;
            (ack, c)
        })
    });
    let mut results = Vec::new();
    for j in joins {
        results.push(j.await.expect("join task"));
    }
    let joined = results
        .iter()
        .filter(|(ack, _)| ack["roomId"] == "room_seats")
        .count();
    let full = results
        .iter()
        .filter(|(ack, _)| ack["error"]["code"] == "ROOM_FULL")
        .count();
    assert_eq!((joined, full), (10, 20));
    let (_, room) = get_room_as(&cluster.nodes[2], "seats", "u0").await;
    assert_eq!(room["peers"].as_array().map(Vec::len), Some(10));
}

#[tokio::test]
async fn one_create_of_a_code_wins_when_two_nodes_race() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(2, &[]).await;
    let mut a = client(&cluster.nodes[0], 1).await;
    let mut b = client(&cluster.nodes[1], 2).await;
    for round in 0..10 {
        let code = format!("race{round}");
        let payload = json!({ "roomCode": code });
        let (x, y) = tokio::join!(
            a.call("create:room", payload.clone()),
            b.call("create:room", payload.clone()),
        );
        let mut outcomes = [
            x["roomCode"].as_str().map_or_else(
                || x["error"]["code"].as_str().unwrap_or("?").to_owned(),
                |_| "created".to_owned(),
            ),
            y["roomCode"].as_str().map_or_else(
                || y["error"]["code"].as_str().unwrap_or("?").to_owned(),
                |_| "created".to_owned(),
            ),
        ];
        outcomes.sort();
        assert_eq!(outcomes, ["ROOM_EXISTS", "created"], "round {round}");
    }
}

#[tokio::test]
async fn room_ttl_and_rest_creation_are_cluster_wide() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(3, &[("ROOM_TTL", "1s")]).await;
    let [n0, n1, n2] = &cluster.nodes[..] else {
        unreachable!()
    };
    let resp = reqwest::Client::new()
        .post(n0.url("/rooms"))
        .bearer_auth(support::token("rest", "rest"))
        .json(&json!({ "roomCode": "Brief", "maxPeers": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let mut a = client(n1, 1).await;
    assert_eq!(join(&mut a, "brief").await["roomCode"], "Brief");
    let (status, room) = get_room(n2, "brief").await;
    assert_eq!((status, room["maxPeers"].clone()), (200, json!(3)));
    // Occupied past the TTL: still there. Empty from the leave: gone one TTL later.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(get_room(n0, "brief").await.0, 200);
    a.call("leave:room", json!({})).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(get_room(n2, "brief").await.0, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get_room(n2, "brief").await.0, 404);
    let mut b = client(n0, 2).await;
    let err = b.call("join:room", json!({ "roomCode": "brief" })).await;
    assert_eq!(err["error"]["code"], "ROOM_NOT_FOUND");
    create(&mut b, "brief", 2).await;
}

#[tokio::test]
async fn auto_created_rooms_are_cluster_wide() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(2, &[("AUTO_CREATE_ROOMS", "true")]).await;
    let mut a = client(&cluster.nodes[0], 1).await;
    let mut b = client(&cluster.nodes[1], 2).await;
    assert_eq!(peer_ids(&join(&mut a, "Auto").await), Vec::<String>::new());
    assert_eq!(peer_ids(&join(&mut b, "auto").await), [a.sid.clone()]);
}

#[tokio::test]
async fn a_killed_nodes_peers_are_told_once_and_its_seats_free() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = TestCluster::start(3, &[]).await;
    let mut a = client(&cluster.nodes[0], 1).await;
    let mut b = client(&cluster.nodes[1], 2).await;
    let mut c = client(&cluster.nodes[2], 3).await;
    let mut d = client(&cluster.nodes[2], 4).await;
    create(&mut a, "doomed", 4).await;
    for x in [&mut a, &mut b, &mut c, &mut d] {
        join(x, "doomed").await;
    }
    let gone = [c.sid.clone(), d.sid.clone()];
    while a.next_within("peer:joined", QUIET).await.is_some() {}
    while b.next_within("peer:joined", Duration::ZERO).await.is_some() {}

    cluster.nodes[2].kill().await;
    let killed = Instant::now();
    let (earliest, latest) = peer_left_window();
    // Before it is reaped, a relay to its member reaches nobody: refused, not
    // acked and lost (as soon as Redis has seen the node's connection close).
    loop {
        let ack = b
            .call(
                "webrtc:ice",
                json!({ "targetPeerId": gone[1], "candidate": "c" }),
            )
            .await;
        if ack["error"]["code"] == "PEER_NOT_FOUND" {
            break;
        }
        assert_eq!(ack, json!({ "ok": true }));
        assert!(killed.elapsed() < earliest / 2, "still acked: {ack}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(killed.elapsed() < earliest, "{:?}", killed.elapsed());
    assert_eq!(b.next("error").await["code"], "PEER_NOT_FOUND");
    for x in [&mut a, &mut b] {
        let mut told = Vec::new();
        for _ in 0..2 {
            let left = x
                .next_within("peer:left", latest.saturating_sub(killed.elapsed()))
                .await
                .unwrap_or_else(|| panic!("no peer:left within {latest:?}"));
            told.push(left["peerId"].as_str().unwrap().to_owned());
        }
        told.sort();
        let mut want = gone.to_vec();
        want.sort();
        assert_eq!(told, want);
    }
    assert!(
        killed.elapsed() >= earliest,
        "peer:left after {:?}, before the key could expire",
        killed.elapsed()
    );
    // Exactly once: nothing more, even after several more sweeps.
    assert_eq!(count(&mut a, "peer:left", TIMEOUT).await, 0);
    assert_eq!(count(&mut b, "peer:left", Duration::ZERO).await, 0);
    let (_, room) = get_room(&cluster.nodes[1], "doomed").await;
    assert_eq!(room["peers"].as_array().map(Vec::len), Some(2));
    // The seats are free again.
    let mut e = client(&cluster.nodes[0], 5).await;
    let mut f = client(&cluster.nodes[1], 6).await;
    join(&mut e, "doomed").await;
    let last = join(&mut f, "doomed").await;
    assert_eq!(
        peer_ids(&last),
        [a.sid.clone(), b.sid.clone(), e.sid.clone()]
    );
    // And a relay to a member of the dead node is refused.
    let err = a
        .call(
            "webrtc:ice",
            json!({ "targetPeerId": gone[0], "candidate": "c" }),
        )
        .await;
    assert_eq!(err["error"]["code"], "PEER_NOT_FOUND");
}

#[tokio::test]
async fn a_frozen_node_is_reaped_then_evicted_when_it_resumes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(3, &[]).await;
    let [n0, n1, n2] = &cluster.nodes[..] else {
        unreachable!()
    };
    let mut a = client(n0, 1).await;
    let mut b = client(n1, 2).await;
    let mut c = client(n2, 3).await;
    create(&mut a, "frozen", 3).await;
    for x in [&mut a, &mut b, &mut c] {
        join(x, "frozen").await;
    }
    while a.next_within("peer:joined", QUIET).await.is_some() {}
    while b.next_within("peer:joined", Duration::ZERO).await.is_some() {}

    n2.freeze();
    let frozen = Instant::now();
    let (earliest, latest) = peer_left_window();
    for x in [&mut a, &mut b] {
        let left = x
            .next_within("peer:left", latest.saturating_sub(frozen.elapsed()))
            .await
            .expect("peer:left for the frozen node's member in time");
        assert_eq!(left, json!({ "peerId": c.sid }));
    }
    assert!(frozen.elapsed() >= earliest);
    // Its seat is free: the room (3 seats) takes a new member.
    let mut d = client(n0, 4).await;
    assert_eq!(
        peer_ids(&join(&mut d, "frozen").await),
        [a.sid.clone(), b.sid.clone()]
    );
    a.next("peer:joined").await;
    b.next("peer:joined").await;

    // Resumed, it finds itself evicted and closes its sockets rather than
    // serving them a stale view; its old member never comes back.
    n2.resume();
    assert!(
        c.closed_within(Duration::from_secs(3)).await,
        "the evicted node kept its socket"
    );
    assert_eq!(count(&mut a, "peer:left", QUIET).await, 0);
    let (_, room) = get_room(n1, "frozen").await;
    let seated: Vec<Value> = room["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(seated, [json!(a.sid), json!(b.sid), json!(d.sid)]);
    // The client reconnects (to the same node, serving again) and can take a
    // seat once one is free.
    let mut c2 = client(n2, 3).await;
    let full = c2.call("join:room", json!({ "roomCode": "frozen" })).await;
    assert_eq!(full["error"]["code"], "ROOM_FULL");
    d.call("leave:room", json!({})).await;
    assert_eq!(
        peer_ids(&join(&mut c2, "frozen").await),
        [a.sid.clone(), b.sid.clone()]
    );
    assert_eq!(a.next("peer:left").await["peerId"], d.sid);
    assert_eq!(a.next("peer:joined").await["peerId"], c2.sid);
    // The resumed node hears the cluster again under its new identity.
    a.call(
        "webrtc:ice",
        json!({ "targetPeerId": c2.sid, "candidate": "welcome back" }),
    )
    .await;
    assert_eq!(c2.next("webrtc:ice").await["fromPeerId"], a.sid);
}

#[tokio::test]
async fn a_node_shut_down_gracefully_reports_its_sockets_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = TestCluster::start(2, &[]).await;
    let mut a = client(&cluster.nodes[0], 1).await;
    let mut c = client(&cluster.nodes[1], 3).await;
    create(&mut a, "drained", 2).await;
    join(&mut a, "drained").await;
    join(&mut c, "drained").await;
    a.next("peer:joined").await;

    assert!(cluster.nodes[1].terminate().await, "clean exit on SIGTERM");
    assert!(c.closed_within(Duration::from_secs(2)).await);
    assert_eq!(a.next("peer:left").await, json!({ "peerId": c.sid }));
    // Its member left by itself: the reaper, past the timeout, finds nothing.
    assert_eq!(count(&mut a, "peer:left", TIMEOUT + SWEEP * 3).await, 0);
    let (_, room) = get_room(&cluster.nodes[0], "drained").await;
    assert_eq!(room["peers"].as_array().map(Vec::len), Some(1));
}

/// The outage and the recovery common to both restarts: relays fail with an
/// error (never hang), `/readyz` is false while Redis is away and true after,
/// then the room is whole again and works; the one socket that left during
/// the outage is reported once, and nobody else.
async fn survive_a_redis_restart(with_data: bool) {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = TestCluster::start(2, &[]).await;
    let mut a = client(&cluster.nodes[0], 1).await;
    let mut b = client(&cluster.nodes[1], 2).await;
    let mut d = client(&cluster.nodes[1], 4).await;
    create(&mut a, "durable", 5).await;
    join(&mut a, "durable").await;
    join(&mut b, "durable").await;
    join(&mut d, "durable").await;
    let gone = d.sid.clone();
    while a.next_within("peer:joined", QUIET).await.is_some() {}
    while b.next_within("peer:joined", Duration::ZERO).await.is_some() {}

    if with_data {
        cluster.redis.save();
    }
    cluster.redis.kill();
    // A socket that goes while Redis is away is reported once it is back.
    drop(d);
    let asked = Instant::now();
    let err = a
        .call(
            "webrtc:ice",
            json!({ "targetPeerId": b.sid, "candidate": "during" }),
        )
        .await;
    assert_eq!(err["error"]["code"], "INTERNAL_ERROR", "{err}");
    assert!(asked.elapsed() < REDIS_TIMEOUT * 4, "{:?}", asked.elapsed());
    assert_eq!(a.next("error").await["code"], "INTERNAL_ERROR");
    for (event, payload) in [
        ("create:room", json!({ "roomCode": "never" })),
        ("join:room", json!({ "roomCode": "durable" })),
        (
            "media:state",
            json!({ "isVideoEnabled": true, "isAudioEnabled": true }),
        ),
    ] {
        let err = b.call(event, payload).await;
        assert_eq!(err["error"]["code"], "INTERNAL_ERROR", "{event}: {err}");
    }
    let pong = b.call("ping", json!({})).await;
    assert!(pong["timestamp"].is_string(), "ping needs no Redis: {pong}");
    for node in &cluster.nodes {
        wait_ready(node, 503, Duration::from_secs(3)).await;
    }
    // Away for longer than the node timeout: no node may be taken for dead.
    tokio::time::sleep(TIMEOUT).await;
    cluster.redis.restart(with_data);
    // Ready again: the registry answers and the adapter's channels are
    // subscribed again (until then a node would miss what others send it).
    for node in &cluster.nodes {
        wait_ready(node, 200, Duration::from_secs(5)).await;
    }
    // Each node put its members back (at once on reconnection, or at its next
    // heartbeat), without the one that left; its peers are told now.
    for x in [&mut a, &mut b] {
        assert_eq!(
            x.next("peer:left").await,
            json!({ "peerId": gone }),
            "the socket that left during the outage"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (_, room) = get_room(&cluster.nodes[1], "durable").await;
        if room["peers"].as_array().map(Vec::len) == Some(2) {
            assert_eq!(room["maxPeers"], 5);
            break;
        }
        assert!(Instant::now() < deadline, "room not rebuilt: {room}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ok = a
        .call(
            "webrtc:ice",
            json!({ "targetPeerId": b.sid, "candidate": "after" }),
        )
        .await;
    assert_eq!(ok, json!({ "ok": true }));
    assert_eq!(b.next("webrtc:ice").await["candidate"], "after");
    assert!(b.next_within("webrtc:ice", Duration::ZERO).await.is_none());
    let mut c = client(&cluster.nodes[1], 3).await;
    let mut seated = peer_ids(&join(&mut c, "durable").await);
    seated.sort();
    let mut want = vec![a.sid.clone(), b.sid.clone()];
    want.sort();
    assert_eq!(seated, want);
    // Nobody else was reported gone, even after the reap grace has passed.
    tokio::time::sleep(TIMEOUT + SWEEP * 2).await;
    assert_eq!(count(&mut a, "peer:left", QUIET).await, 0);
    assert_eq!(count(&mut b, "peer:left", Duration::ZERO).await, 0);
}

#[tokio::test]
async fn a_redis_restart_without_its_data_is_survived() {
    survive_a_redis_restart(false).await;
}

#[tokio::test]
async fn a_redis_restart_with_its_data_is_survived() {
    survive_a_redis_restart(true).await;
}

#[tokio::test]
async fn a_node_does_not_start_without_its_redis_or_with_a_too_short_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path());
    config.cluster.redis_url = Some(format!(
        "redis://127.0.0.1:{}",
        support::redis_server::free_port()
    ));
    config.cluster.redis_timeout = Duration::from_millis(300);
    let err = gateway::Gateway::build(&config)
        .await
        .err()
        .expect("no Redis, no cluster node");
    assert!(err.to_string().starts_with("cluster: redis:"), "{err}");

    config.cluster.node_heartbeat = Duration::from_secs(2);
    config.cluster.node_timeout = Duration::from_secs(3);
    let err = gateway::Gateway::build(&config)
        .await
        .err()
        .expect("refused");
    assert_eq!(
        err.to_string(),
        "cluster: NODE_TIMEOUT (3s) must be at least twice NODE_HEARTBEAT (2s)"
    );
}

/// A room-wide event reaches only who was a member when it happened: a peer
/// that joins on another node right after someone else's join must not get
/// that earlier `peer:joined` (it is already in its `room:joined.peers`) when
/// the broadcast crosses Redis after the newcomer's own join.
#[tokio::test]
async fn a_newcomer_on_another_node_never_hears_the_join_before_its_own() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(2, &[]).await;
    let (first, second) = (&cluster.nodes[0], &cluster.nodes[1]);
    let pairs = (0..150u32).map(|i| async move {
        let code = format!("race-{i}");
        let mut a = client(first, 1000 + i).await;
        let mut b = client(second, 2000 + i).await;
        create(&mut a, &code, 10).await;
        join(&mut a, &code).await;
        let joined = join(&mut b, &code).await;
        assert_eq!(peer_ids(&joined), [a.sid.clone()]);
        assert_eq!(
            a.next("peer:joined").await,
            json!({ "peerId": b.sid, "userInfo": user(2000 + i) })
        );
        (
            count(&mut b, "peer:joined", QUIET).await,
            count(&mut a, "peer:joined", QUIET).await,
        )
    });
    let heard = futures_util::future::join_all(pairs).await;
    assert!(
        heard.iter().all(|&(b, a)| (b, a) == (0, 0)),
        "stale or extra peer:joined (newcomer, first): {heard:?}"
    );
}

/// What a sender saw of relays sent back to back with ack ids `0..n`.
#[derive(Debug, Default)]
struct Acks {
    ok: usize,
    peer_not_found: usize,
    /// `peer:left` events received meanwhile, by peer id.
    peer_left: Vec<String>,
}

/// Sends `n` offers of about `pad` bytes from `a` to `target` without waiting,
/// then reads every ack (and any `peer:left`).
async fn flood_offers(a: &mut SioClient, target: &str, n: u64, pad: usize) -> Acks {
    let offer = json!({
        "targetPeerId": target,
        "offer": { "type": "offer", "sdp": "v=0\r\n", "pad": "x".repeat(pad) },
    });
    let packet = json!(["webrtc:offer", offer]).to_string();
    for id in 0..n {
        a.send_raw(&format!("42{id}{packet}")).await;
    }
    let mut acks = Acks::default();
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered < n {
        let packet = tokio::time::timeout_at(deadline.into(), a.recv())
            .await
            .expect("every ack in time")
            .expect("the sender stays connected");
        if let Some(rest) = packet.strip_prefix("43") {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let args: Value = serde_json::from_str(&rest[digits..]).expect("ack json");
            answered += 1;
            if args[0] == json!({ "ok": true }) {
                acks.ok += 1;
            } else {
                assert_eq!(args[0]["error"]["code"], "PEER_NOT_FOUND", "{args}");
                acks.peer_not_found += 1;
            }
        } else if let Some(body) = packet.strip_prefix("42") {
            let v: Value = serde_json::from_str(body).expect("event json");
            if v[0] == "peer:left" {
                acks.peer_left
                    .push(v[1]["peerId"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    acks
}

/// The slow-reader bound holds across nodes (issue 11, High #1): relays
/// from another node reach a socket through its outbox on its own node, so a
/// peer that stops reading is cut off there past `MAX_SEND_BUFFER` instead of
/// making its node hold whatever a sender elsewhere sends it. Its peers hear
/// `peer:left`; another socket on that node is not disturbed.
#[tokio::test]
async fn a_slow_reader_is_cut_off_on_its_own_node_for_relays_from_another() {
    const BUDGET: u64 = 256 * 1024;
    const MIB: u64 = 1024 * 1024;
    /// What node 2's RSS may move by with nothing held: its allocator takes
    /// memory from the system in steps of 2 MiB (0 to 4 MiB seen here).
    const NOISE: u64 = 6 * MIB;
    const OFFERS: u64 = 300;
    let _one = ONE_AT_A_TIME.lock().await;
    let budget = BUDGET.to_string();
    // One worker thread, as the benchmarks run it: one allocator heap, so
    // that RSS follows what the process holds.
    let settings = [
        ("MAX_SEND_BUFFER", budget.as_str()),
        ("WORKER_THREADS", "1"),
    ];
    let cluster = TestCluster::start(2, &settings).await;
    let [n1, n2] = &cluster.nodes[..] else {
        unreachable!()
    };
    let mut a = client(n1, 1).await;
    let b = {
        let mut b = client(n2, 2).await;
        create(&mut a, "slow", 2).await;
        join(&mut a, "slow").await;
        join(&mut b, "slow").await;
        assert_eq!(a.next("peer:joined").await["peerId"], b.sid);
        b
    };
    // C on B's node, in a room of its own with D on A's node.
    let mut c = client(n2, 3).await;
    let mut d = client(n1, 4).await;
    create(&mut d, "bystander", 2).await;
    join(&mut d, "bystander").await;
    join(&mut c, "bystander").await;
    assert_eq!(d.next("peer:joined").await["peerId"], c.sid);
    // Offers of the same size that C reads, one at a time: node 2 has
    // relayed such offers before it is measured.
    let big = json!({ "type": "offer", "sdp": "v=0\r\n", "pad": "x".repeat(120 * 1024) });
    for _ in 0..20 {
        let ok = d
            .call(
                "webrtc:offer",
                json!({ "targetPeerId": c.sid, "offer": big }),
            )
            .await;
        assert_eq!(ok, json!({ "ok": true }));
        assert_eq!(c.next("webrtc:offer").await["fromPeerId"], d.sid);
    }

    // B reads nothing from here on: 300 offers of 120 KiB are 36 MiB.
    let before = n2.rss();
    let started = Instant::now();
    let mut acks = flood_offers(&mut a, &b.sid, OFFERS, 120 * 1024).await;
    // B is cut off on its node, and its room is told.
    if acks.peer_left.is_empty()
        && let Some(left) = a.next_within("peer:left", Duration::from_secs(3)).await
    {
        acks.peer_left
            .push(left["peerId"].as_str().unwrap_or_default().to_owned());
    }
    let grown = n2.rss().saturating_sub(before);
    let peak = n2.peak_rss().saturating_sub(before);
    eprintln!(
        "node 2: RSS +{} KiB (peak +{} KiB) over {} KiB; {acks:?} in {:?}",
        grown / 1024,
        peak / 1024,
        before / 1024,
        started.elapsed()
    );
    assert!(
        grown < 4 * BUDGET + NOISE,
        "node 2 grew by {} KiB for a reader that reads nothing: {acks:?}",
        grown / 1024
    );
    assert_eq!(acks.peer_left, vec![b.sid.clone()], "{acks:?}");
    assert_eq!(acks.ok + acks.peer_not_found, OFFERS as usize);
    assert!(acks.peer_not_found > 0, "{acks:?}");
    assert!(
        n2.metrics()
            .await
            .contains("gateway_send_buffer_overflows_total 1"),
        "B was cut off by its own node"
    );
    // Relays to B are refused from now on, from every node.
    for x in [&mut c, &mut d] {
        let err = x
            .call(
                "webrtc:ice",
                json!({ "targetPeerId": b.sid, "candidate": "c" }),
            )
            .await;
        assert_eq!(err["error"]["code"], "PEER_NOT_FOUND", "{err}");
    }

    // C, on the same node, is untouched: it still receives relays from
    // across the cluster, in order, and is answered.
    for i in 0..3 {
        let ok = d
            .call(
                "webrtc:ice",
                json!({ "targetPeerId": c.sid, "candidate": format!("candidate:{i}") }),
            )
            .await;
        assert_eq!(ok, json!({ "ok": true }));
    }
    for i in 0..3 {
        assert_eq!(
            c.next("webrtc:ice").await,
            json!({ "fromPeerId": d.sid, "targetPeerId": c.sid, "candidate": format!("candidate:{i}") })
        );
    }
    let pong = c.call("ping", json!({})).await;
    assert!(pong["timestamp"].is_string(), "{pong}");
    assert!(c.next_within("peer:left", Duration::ZERO).await.is_none());
    assert!(d.next_within("peer:left", Duration::ZERO).await.is_none());
    drop(b);
}

/// A cluster node starts under 40 MB resident (README "Cluster"): its one
/// subscriber's ring is sized for the batches it carries, and no Socket.IO
/// adapter holds a ring of its own. Checked on what the node allocates
/// (`RssAnon`), which a build profile barely changes: the rest is the
/// binary's code, 12.5-13.3 MB resident for the release build (a debug
/// build's is 28 MB), so 40 MB leaves 26 MB for it.
#[tokio::test]
async fn a_cluster_node_starts_under_40_mb() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start(1, &[]).await;
    // Start-up is over once it serves: a socket in a room, then settled.
    let mut a = client(&cluster.nodes[0], 1).await;
    create(&mut a, "small", 2).await;
    join(&mut a, "small").await;
    tokio::time::sleep(QUIET).await;
    let node = &cluster.nodes[0];
    let (rss, anon) = (node.rss() as f64 / 1e6, node.rss_anon() as f64 / 1e6);
    eprintln!("cluster node after start-up: {rss:.1} MB resident, {anon:.1} MB allocated");
    assert!(anon < 26.0, "{anon:.1} MB allocated");
}
