//! The Redis room registry against a real `redis-server` of this test's own,
//! with several registry instances standing for several nodes: the atomic
//! checks (create race, seats), TTL, reaping a dead node, and Redis restarts.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::auth::Identity;
use gateway::cluster::redis::{RedisSettings, client};
use gateway::rooms::Departed;
use gateway::rooms::redis::{Heartbeat, Liveness, RedisRooms};
use gateway::rooms::{Member, RoomCode, RoomError, RoomPolicy, RoomRegistry, Whereabouts};
use support::redis_server::RedisServer;

/// The liveness timeout of nodes that a test lets die.
const TIMEOUT: Duration = Duration::from_millis(600);
/// The timeout of nodes that live through the test without heartbeats.
const FOREVER: Duration = Duration::from_secs(120);

fn policy(ttl: Duration, max: u32, auto_create: bool) -> RoomPolicy {
    RoomPolicy {
        ttl,
        auto_create,
        max_room_size: max,
    }
}

async fn node(redis: &RedisServer, policy: RoomPolicy) -> Arc<RedisRooms> {
    node_with(redis, policy, FOREVER).await
}

async fn node_with(redis: &RedisServer, policy: RoomPolicy, timeout: Duration) -> Arc<RedisRooms> {
    let settings = RedisSettings {
        url: redis.url(),
        command_timeout: Duration::from_millis(500),
    };
    let rooms = RedisRooms::new(
        client(&settings).await.expect("connect"),
        "t",
        policy,
        Liveness {
            timeout,
            tombstone: Duration::from_secs(60),
        },
    );
    assert_eq!(rooms.reconcile().await, Ok(Heartbeat::Alive));
    Arc::new(rooms)
}

async fn nodes(redis: &RedisServer, n: usize, policy: RoomPolicy) -> Vec<Arc<RedisRooms>> {
    nodes_with(redis, n, policy, FOREVER).await
}

async fn nodes_with(
    redis: &RedisServer,
    n: usize,
    policy: RoomPolicy,
    timeout: Duration,
) -> Vec<Arc<RedisRooms>> {
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(node_with(redis, policy, timeout).await);
    }
    all
}

fn member(id: &str) -> Member {
    Member {
        id: id.into(),
        user_info: Identity {
            user_id: format!("u-{id}"),
            username: id.into(),
        },
    }
}

fn code(c: &str) -> RoomCode {
    RoomCode::parse(c).unwrap()
}

fn ids(members: &[Member]) -> Vec<&str> {
    members.iter().map(|m| m.id.as_str()).collect()
}

async fn peers_of(rooms: &RedisRooms, c: &str) -> Option<Vec<String>> {
    rooms
        .snapshot(&code(c))
        .await
        .unwrap()
        .map(|s| s.peers.into_iter().map(|m| m.id).collect())
}

/// Waits until the registry answers again after Redis came back.
async fn until_reachable(rooms: &RedisRooms) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while rooms.count().await.is_err() {
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn create_join_and_snapshot_behave_as_in_memory() {
    let redis = RedisServer::start();
    let r = node(&redis, policy(Duration::from_secs(60), 10, false)).await;
    let info = r.create(code("ABC123"), None, "creator").await.unwrap();
    assert_eq!(
        (
            info.room_id.as_str(),
            info.room_code.as_str(),
            info.max_peers
        ),
        ("room_abc123", "ABC123", 10)
    );
    assert_eq!(
        r.create(code("abc123"), None, "creator").await,
        Err(RoomError::Exists)
    );
    assert_eq!(
        r.create(code("big"), Some(50), "creator")
            .await
            .unwrap()
            .max_peers,
        10
    );

    let a = r.join(&code("abc123"), member("a")).await.unwrap();
    assert!(a.peers.is_empty() && !a.rejoined);
    assert_eq!(a.room.room_code, "ABC123");
    r.join(&code("ABC123"), member("b")).await.unwrap();
    let c = r.join(&code("Abc123"), member("c")).await.unwrap();
    assert_eq!(c.peers, vec![member("a"), member("b")]);
    assert!(r.join(&code("ABC123"), member("b")).await.unwrap().rejoined);

    let snap = r.snapshot(&code("abc123")).await.unwrap().unwrap();
    assert_eq!(snap.room, info);
    assert_eq!(ids(&snap.peers), ["a", "b", "c"]);
    assert_eq!(r.snapshot(&code("nope")).await, Ok(None));
    assert_eq!(
        r.join(&code("nope"), member("a")).await,
        Err(RoomError::NotFound)
    );

    assert!(r.is_member("room_abc123", "b").await.unwrap());
    assert!(r.leave("room_abc123", "b").await.unwrap());
    assert!(!r.leave("room_abc123", "b").await.unwrap());
    assert!(!r.is_member("room_abc123", "b").await.unwrap());
    assert_eq!(r.count().await, Ok(2));
}

/// Redis answers where a member is: here, or the route of the node it is
/// connected to, kept through leaves, reaps and Redis restarts. (A relay's
/// check reads the node's view first, which the join fills from the same
/// routes: checked at the end.)
#[tokio::test]
async fn members_are_located_by_their_nodes_route() {
    let mut redis = RedisServer::start();
    let all = nodes(&redis, 2, policy(Duration::from_secs(60), 10, false)).await;
    let (a, b) = (&all[0], &all[1]);
    assert_ne!(a.route(), b.route());
    a.create(code("r"), None, "creator").await.unwrap();
    a.join(&code("r"), member("a1")).await.unwrap();
    b.join(&code("r"), member("b1")).await.unwrap();
    let at = |rooms: &Arc<RedisRooms>, pid: &'static str| {
        let rooms = rooms.clone();
        async move { rooms.locate_in_redis("room_r", pid).await }
    };
    assert_eq!(at(a, "a1").await, Ok(Whereabouts::Here));
    assert_eq!(at(a, "b1").await, Ok(Whereabouts::Node(b.route().into())));
    assert_eq!(at(b, "a1").await, Ok(Whereabouts::Node(a.route().into())));
    assert_eq!(at(a, "nobody").await, Ok(Whereabouts::Absent));
    // A member whose node recorded no route (an older version's join) is
    // still a member, reached another way.
    assert_eq!(redis.cli(&["HDEL", "{t}:route:room_r", "b1"]), "1");
    assert_eq!(at(a, "b1").await, Ok(Whereabouts::Unrouted));
    // A rejoin records it again; a leave forgets it.
    b.join(&code("r"), member("b1")).await.unwrap();
    assert_eq!(at(a, "b1").await, Ok(Whereabouts::Node(b.route().into())));
    assert!(b.leave("room_r", "b1").await.unwrap());
    assert_eq!(at(a, "b1").await, Ok(Whereabouts::Absent));
    assert_eq!(redis.cli(&["HEXISTS", "{t}:route:room_r", "b1"]), "0");
    b.join(&code("r"), member("b2")).await.unwrap();

    // Redis restarts empty: each node puts its members back, routes included.
    redis.restart(false);
    until_reachable(a).await;
    assert_eq!(a.heartbeat().await, Ok(Heartbeat::Restored));
    assert_eq!(b.heartbeat().await, Ok(Heartbeat::Restored));
    assert_eq!(at(a, "b2").await, Ok(Whereabouts::Node(b.route().into())));
    assert_eq!(at(b, "a1").await, Ok(Whereabouts::Node(a.route().into())));
    assert_eq!(at(b, "b2").await, Ok(Whereabouts::Here));

    // The view: a join holds Redis's members with their routes; later joins
    // elsewhere reach it through the node's channel (not here), and until
    // they do a target the view does not know is Redis's to answer.
    b.join(&code("r"), member("b3")).await.unwrap();
    assert_eq!(
        b.locate("room_r", "a1").await,
        Ok(Whereabouts::Node(a.route().into()))
    );
    assert_eq!(b.locate("room_r", "b3").await, Ok(Whereabouts::Here));
    assert_eq!(
        a.locate("room_r", "b3").await,
        Ok(Whereabouts::Node(b.route().into()))
    );
    assert_eq!(a.locate("room_r", "nobody").await, Ok(Whereabouts::Absent));
    // A room with no member here: Redis answers.
    a.create(code("other"), None, "creator").await.unwrap();
    b.join(&code("other"), member("b4")).await.unwrap();
    assert_eq!(
        a.locate("room_other", "b4").await,
        Ok(Whereabouts::Node(b.route().into()))
    );
}

#[tokio::test]
async fn auto_create_makes_the_room_on_first_join() {
    let redis = RedisServer::start();
    let r = node(&redis, policy(Duration::from_secs(60), 4, true)).await;
    let j = r.join(&code("Fresh"), member("a")).await.unwrap();
    assert_eq!(
        (
            j.room.room_id.as_str(),
            j.room.room_code.as_str(),
            j.room.max_peers
        ),
        ("room_fresh", "Fresh", 4)
    );
    assert_eq!(j.room.created_by, "u-a", "the first joiner's user");
}

#[tokio::test]
async fn one_create_of_a_code_wins_across_nodes() {
    let redis = RedisServer::start();
    let all = nodes(&redis, 3, policy(Duration::from_secs(60), 10, false)).await;
    let tries = (0..12).map(|i| {
        let r = all[i % 3].clone();
        tokio::spawn(async move { r.create(code("Race"), None, "creator").await })
    });
    let results: Vec<_> = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert_eq!(
        results
            .iter()
            .filter(|r| **r == Err(RoomError::Exists))
            .count(),
        11
    );
}

#[tokio::test]
async fn thirty_joins_on_three_nodes_fill_ten_seats_exactly() {
    let redis = RedisServer::start();
    let all = nodes(&redis, 3, policy(Duration::from_secs(60), 10, false)).await;
    all[0].create(code("seats"), None, "creator").await.unwrap();
    let joins = (0..30).map(|i| {
        let r = all[i % 3].clone();
        tokio::spawn(async move { r.join(&code("seats"), member(&format!("p{i}"))).await })
    });
    let results: Vec<_> = futures_util::future::join_all(joins)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    assert_eq!(
        results
            .iter()
            .filter(|r| **r == Err(RoomError::Full))
            .count(),
        20
    );
    let seated = peers_of(&all[1], "seats").await.unwrap();
    assert_eq!(seated.len(), 10);
    // The joins were serialised: each saw exactly the members seated before it.
    let mut seen: Vec<usize> = results.iter().flatten().map(|j| j.peers.len()).collect();
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn empty_rooms_expire_after_the_ttl_on_every_node() {
    let redis = RedisServer::start();
    let all = nodes(&redis, 2, policy(Duration::from_millis(300), 10, false)).await;
    let (a, b) = (&all[0], &all[1]);
    a.create(code("gone"), None, "creator").await.unwrap();
    a.create(code("kept"), None, "creator").await.unwrap();
    a.create(code("left"), None, "creator").await.unwrap();
    b.join(&code("kept"), member("k")).await.unwrap();
    b.join(&code("left"), member("l")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The TTL starts again from the last leave.
    assert!(b.leave("room_left", "l").await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        a.join(&code("gone"), member("x")).await,
        Err(RoomError::NotFound)
    );
    assert_eq!(b.snapshot(&code("gone")).await, Ok(None));
    assert!(a.snapshot(&code("left")).await.unwrap().is_some());
    assert_eq!(a.count().await, Ok(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.snapshot(&code("left")).await, Ok(None));
    assert!(a.join(&code("kept"), member("y")).await.is_ok());
    assert_eq!(b.count().await, Ok(1));
    b.create(code("gone"), None, "creator")
        .await
        .expect("an expired code can be created again");
}

#[tokio::test]
async fn a_dead_nodes_members_are_reaped_once_and_never_come_back() {
    let redis = RedisServer::start();
    let all = nodes_with(
        &redis,
        3,
        policy(Duration::from_secs(60), 3, false),
        TIMEOUT,
    )
    .await;
    let (dead, a, b) = (&all[0], &all[1], &all[2]);
    a.create(code("r1"), None, "creator").await.unwrap();
    a.create(code("r2"), None, "creator").await.unwrap();
    dead.join(&code("r1"), member("d1")).await.unwrap();
    dead.join(&code("r1"), member("d2")).await.unwrap();
    dead.join(&code("r2"), member("d3")).await.unwrap();
    a.join(&code("r1"), member("a1")).await.unwrap();
    assert_eq!(
        b.join(&code("r1"), member("b1")).await,
        Err(RoomError::Full)
    );

    // The others keep beating; `dead` does not. Nothing is reaped before its key expires.
    let start = Instant::now();
    assert_eq!(a.reap().await, Ok(vec![]));
    while start.elapsed() < TIMEOUT + Duration::from_millis(100) {
        assert_eq!(a.heartbeat().await, Ok(Heartbeat::Alive));
        assert_eq!(b.heartbeat().await, Ok(Heartbeat::Alive));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ra, rb) = tokio::join!(a.reap(), b.reap());
    let mut reaped: Vec<Departed> = ra.unwrap().into_iter().chain(rb.unwrap()).collect();
    reaped.sort_by(|x, y| x.peer_id.cmp(&y.peer_id));
    let reaped: Vec<(&str, &str)> = reaped
        .iter()
        .map(|r| (r.room_id.as_str(), r.peer_id.as_str()))
        .collect();
    assert_eq!(
        reaped,
        [("room_r1", "d1"), ("room_r1", "d2"), ("room_r2", "d3")]
    );
    assert_eq!(a.reap().await, Ok(vec![]));

    // The seats are free; the room of d3 is empty and waits for its TTL.
    assert_eq!(peers_of(b, "r1").await.unwrap(), ["a1"]);
    assert_eq!(peers_of(b, "r2").await.unwrap(), Vec::<String>::new());
    // Their routes went with them.
    assert_eq!(redis.cli(&["HKEYS", "{t}:route:room_r1"]), "a1");
    assert_eq!(redis.cli(&["EXISTS", "{t}:route:room_r2"]), "0");
    b.join(&code("r1"), member("b1")).await.unwrap();

    // The dead node resumes: it is told it was evicted, its members stay gone,
    // and it serves again under a new identity.
    let old = dead.node_id();
    assert_eq!(dead.heartbeat().await, Ok(Heartbeat::Evicted));
    assert_ne!(dead.node_id(), old);
    assert_eq!(peers_of(a, "r1").await.unwrap(), ["a1", "b1"]);
    assert!(!dead.is_member("room_r1", "d1").await.unwrap());
    assert_eq!(dead.reconcile().await, Ok(Heartbeat::Alive));
    assert_eq!(peers_of(a, "r1").await.unwrap(), ["a1", "b1"]);
    dead.join(&code("r1"), member("d9")).await.unwrap();
    assert_eq!(peers_of(a, "r1").await.unwrap(), ["a1", "b1", "d9"]);
    // Its route is the process's, the same as before the eviction.
    assert_eq!(
        a.locate_in_redis("room_r1", "d9").await,
        Ok(Whereabouts::Node(dead.route().into()))
    );
}

#[tokio::test]
async fn an_evicted_node_can_neither_admit_nor_relay_until_it_starts_over() {
    let redis = RedisServer::start();
    let all = nodes_with(
        &redis,
        2,
        policy(Duration::from_secs(60), 10, false),
        TIMEOUT,
    )
    .await;
    let (frozen, a) = (&all[0], &all[1]);
    a.create(code("x"), None, "creator").await.unwrap();
    frozen.join(&code("x"), member("f")).await.unwrap();
    a.join(&code("x"), member("a")).await.unwrap();
    tokio::time::sleep(TIMEOUT + Duration::from_millis(100)).await;
    a.heartbeat().await.unwrap();
    assert_eq!(a.reap().await.unwrap().len(), 1);
    // Before its own heartbeat notices, the frozen node's requests are refused.
    assert!(matches!(
        frozen.is_member("room_x", "a").await,
        Err(RoomError::Unavailable(_))
    ));
    assert!(matches!(
        frozen.join(&code("x"), member("g")).await,
        Err(RoomError::Unavailable(_))
    ));
    assert_eq!(peers_of(a, "x").await.unwrap(), ["a"]);
}

#[tokio::test]
async fn after_redis_restarts_empty_each_node_puts_its_members_back() {
    let mut redis = RedisServer::start();
    let all = nodes(&redis, 2, policy(Duration::from_secs(60), 10, false)).await;
    let (a, b) = (&all[0], &all[1]);
    a.create(code("room"), Some(5), "creator").await.unwrap();
    a.join(&code("room"), member("a1")).await.unwrap();
    b.join(&code("room"), member("b1")).await.unwrap();
    a.join(&code("room"), member("a2")).await.unwrap();

    redis.restart(false);
    until_reachable(a).await;
    assert_eq!(a.snapshot(&code("room")).await, Ok(None));
    // The next heartbeat finds the key gone and reconciles (scripts reloaded too).
    assert_eq!(a.heartbeat().await, Ok(Heartbeat::Restored));
    assert_eq!(b.heartbeat().await, Ok(Heartbeat::Restored));
    let snap = b.snapshot(&code("room")).await.unwrap().unwrap();
    assert_eq!(snap.room.max_peers, 5);
    assert_eq!(snap.room.created_by, "creator");
    assert_eq!(snap.room.room_code, "room");
    let mut seated = ids(&snap.peers);
    seated.sort();
    assert_eq!(seated, ["a1", "a2", "b1"]);
    assert_eq!(a.heartbeat().await, Ok(Heartbeat::Alive));
    assert_eq!(a.reap().await, Ok(vec![]));
}

#[tokio::test]
async fn after_redis_restarts_from_an_older_snapshot_the_view_is_current_again() {
    let mut redis = RedisServer::start();
    let r = node(&redis, policy(Duration::from_secs(60), 10, false)).await;
    r.create(code("room"), None, "creator").await.unwrap();
    r.join(&code("room"), member("stays")).await.unwrap();
    r.join(&code("room"), member("leaves")).await.unwrap();
    redis.save();
    assert!(r.leave("room_room", "leaves").await.unwrap());
    r.join(&code("room"), member("late")).await.unwrap();

    redis.restart(true);
    until_reachable(&r).await;
    // The snapshot is stale: a ghost, and a member missing.
    assert_eq!(peers_of(&r, "room").await.unwrap(), ["stays", "leaves"]);
    assert_eq!(r.reconcile().await, Ok(Heartbeat::Alive));
    assert_eq!(peers_of(&r, "room").await.unwrap(), ["stays", "late"]);
}

#[tokio::test]
async fn while_redis_is_away_operations_fail_fast_and_then_recover() {
    let mut redis = RedisServer::start();
    let r = node(&redis, policy(Duration::from_secs(60), 10, true)).await;
    r.join(&code("room"), member("a")).await.unwrap();
    redis.kill();
    let started = Instant::now();
    assert!(matches!(
        r.join(&code("room"), member("b")).await,
        Err(RoomError::Unavailable(_))
    ));
    assert!(matches!(r.count().await, Err(RoomError::Unavailable(_))));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "failed after {:?}",
        started.elapsed()
    );
    redis.start_again();
    until_reachable(&r).await;
    assert_eq!(r.heartbeat().await, Ok(Heartbeat::Restored));
    assert_eq!(peers_of(&r, "room").await.unwrap(), ["a"]);
    r.join(&code("room"), member("b")).await.unwrap();
}

#[tokio::test]
async fn a_leave_while_redis_is_away_is_settled_and_reported_once_it_is_back() {
    let mut redis = RedisServer::start();
    let r = node(&redis, policy(Duration::from_secs(60), 10, false)).await;
    r.create(code("room"), None, "creator").await.unwrap();
    r.join(&code("room"), member("stays")).await.unwrap();
    r.join(&code("room"), member("goes")).await.unwrap();
    redis.save();
    redis.kill();
    assert!(r.leave("room_room", "goes").await.is_err());
    assert!(r.settle().await.is_err(), "Redis still away");
    redis.start_again();
    until_reachable(&r).await;
    // Restored from the snapshot, Redis still holds the member that left.
    assert_eq!(peers_of(&r, "room").await.unwrap(), ["stays", "goes"]);
    let departed = r.settle().await.unwrap();
    assert_eq!(
        departed,
        [Departed {
            room_id: "room_room".into(),
            peer_id: "goes".into()
        }]
    );
    assert_eq!(peers_of(&r, "room").await.unwrap(), ["stays"]);
    assert_eq!(r.settle().await, Ok(vec![]), "reported once");
}
