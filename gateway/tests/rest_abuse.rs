//! The REST API under abuse (issue 11): simultaneous password guesses, a
//! spray of usernames, API-key guessing, floods of the account routes and of
//! argon2 work, cross-origin `text/plain` posts. Real HTTP against the real
//! gateway; client addresses come from `X-Forwarded-For` through a trusted
//! proxy (the test itself, on 127.0.0.1).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestGateway;

/// Defaults, with the test trusted as a proxy so each request can name its
/// client address.
fn config(dir: &std::path::Path) -> gateway::Config {
    let mut cfg = support::config(dir);
    cfg.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    cfg
}

struct Reply {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<none>")
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = resp.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        retry_after,
        body,
    }
}

/// A JSON POST from client address `from`.
fn post(
    http: &reqwest::Client,
    gw: &TestGateway,
    path: &str,
    from: &str,
    body: Value,
) -> reqwest::RequestBuilder {
    http.post(gw.url(path))
        .header("x-forwarded-for", from)
        .json(&body)
}

fn get(
    http: &reqwest::Client,
    gw: &TestGateway,
    path: &str,
    from: &str,
) -> reqwest::RequestBuilder {
    http.get(gw.url(path)).header("x-forwarded-for", from)
}

/// How many replies had each (status, error code).
fn tally(replies: &[Reply]) -> BTreeMap<(u16, String), usize> {
    let mut counts = BTreeMap::new();
    for r in replies {
        *counts
            .entry((r.status.as_u16(), r.code().to_owned()))
            .or_default() += 1;
    }
    counts
}

fn counts(list: &[(u16, &str, usize)]) -> BTreeMap<(u16, String), usize> {
    list.iter()
        .map(|(s, c, n)| ((*s, (*c).to_owned()), *n))
        .collect()
}

async fn register(http: &reqwest::Client, gw: &TestGateway, name: &str, from: &str) -> String {
    let r = send(post(
        http,
        gw,
        "/register",
        from,
        json!({ "username": name, "password": "right-password" }),
    ))
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["api_key"].as_str().unwrap().to_owned()
}

/// 400 simultaneous wrong passwords for one user from one address: exactly the
/// limit (5) are checked and refused with 401, every other one is 429 before
/// any argon2 work. The right password is then refused from that address, for
/// the backoff, and accepted from the owner's.
#[tokio::test]
async fn simultaneous_guesses_pass_the_throttle_exactly_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.auth_rate_per_minute = 100_000;
    let gw = TestGateway::start(cfg).await;
    let http = reqwest::Client::new();
    register(&http, &gw, "victim", "198.51.100.1").await;

    let guesses = (0..400).map(|i| {
        send(post(
            &http,
            &gw,
            "/token",
            "203.0.113.9",
            json!({ "username": "victim", "password": format!("guess-{i:04}") }),
        ))
    });
    let replies = futures_util::future::join_all(guesses).await;
    assert_eq!(
        tally(&replies),
        counts(&[
            (401, "WRONG_CREDENTIALS", 5),
            (429, "TOO_MANY_ATTEMPTS", 395)
        ])
    );
    for r in replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
    {
        let retry = r.retry_after.expect("Retry-After");
        assert!((1..=30).contains(&retry), "{retry}");
    }

    let right = json!({ "username": "victim", "password": "right-password" });
    let r = send(post(&http, &gw, "/token", "203.0.113.9", right.clone())).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS")
    );
    let r = send(post(&http, &gw, "/token", "198.51.100.1", right.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["token"].is_string());
    // The owner's success does not clear the guesser's backoff.
    let r = send(post(&http, &gw, "/token", "203.0.113.9", right)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    gw.stop().await;
}

/// Locking out is gone: someone else's failures never make the owner wait,
/// and the guesser's waits double.
#[tokio::test]
async fn the_guessers_wait_doubles_and_the_owner_is_never_locked() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.login_max_failures = 1;
    cfg.limits.login_backoff = Duration::from_millis(500);
    let gw = TestGateway::start(cfg).await;
    let http = reqwest::Client::new();
    register(&http, &gw, "owner", "198.51.100.1").await;
    let wrong = json!({ "username": "owner", "password": "wrong-password" });
    let right = json!({ "username": "owner", "password": "right-password" });

    let r = send(post(&http, &gw, "/token", "203.0.113.9", wrong.clone())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(post(&http, &gw, "/token", "203.0.113.9", wrong.clone())).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..3 {
        let r = send(post(&http, &gw, "/token", "198.51.100.1", right.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "the owner is not slowed");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Past the first wait: one more try, then twice the wait.
    let r = send(post(&http, &gw, "/token", "203.0.113.9", wrong.clone())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = send(post(&http, &gw, "/token", "203.0.113.9", wrong.clone())).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the second wait is 1 s"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let r = send(post(&http, &gw, "/token", "203.0.113.9", right)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "after the wait the right password works"
    );
    gw.stop().await;
}

/// One address trying many usernames is stopped at its total (20), whatever
/// the names; another address is not.
#[tokio::test]
async fn an_address_spraying_usernames_is_stopped_at_its_total() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.auth_rate_per_minute = 100_000;
    let gw = TestGateway::start(cfg).await;
    let http = reqwest::Client::new();
    let guesses = (0..30).map(|i| {
        send(post(
            &http,
            &gw,
            "/token",
            "203.0.113.50",
            json!({ "username": format!("user{i}"), "password": "password-1" }),
        ))
    });
    let replies = futures_util::future::join_all(guesses).await;
    assert_eq!(
        tally(&replies),
        counts(&[
            (401, "WRONG_CREDENTIALS", 20),
            (429, "TOO_MANY_ATTEMPTS", 10)
        ])
    );
    let r = send(post(
        &http,
        &gw,
        "/token",
        "203.0.113.51",
        json!({ "username": "user0", "password": "password-1" }),
    ))
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    gw.stop().await;
}

/// Unknown API keys count against the address on every authenticated route;
/// past 20 no key is looked up from it (even a valid one), while JWTs and
/// other addresses are unaffected.
#[tokio::test]
async fn api_key_guessing_is_throttled_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.auth_rate_per_minute = 100_000;
    let gw = TestGateway::start(cfg).await;
    let http = reqwest::Client::new();
    let key = register(&http, &gw, "keyholder", "198.51.100.1").await;
    let routes = ["/me", "/ice-servers", "/rooms/some-room"];
    let guesses = (0..30).map(|i| {
        let req = get(&http, &gw, routes[i % 3], "203.0.113.7")
            .header("x-api-key", format!("sk_guess{i}"));
        send(req)
    });
    let replies = futures_util::future::join_all(guesses).await;
    assert_eq!(
        tally(&replies),
        counts(&[(401, "UNAUTHORIZED", 20), (429, "TOO_MANY_ATTEMPTS", 10)])
    );
    assert!(
        replies
            .iter()
            .all(|r| r.status != StatusCode::TOO_MANY_REQUESTS
                || r.retry_after.is_some_and(|s| s > 800 && s <= 900))
    );

    // Bearer keys and POST /token count the same.
    let r = send(get(&http, &gw, "/me", "203.0.113.7").bearer_auth(&key)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = send(
        http.post(gw.url("/token"))
            .header("x-forwarded-for", "203.0.113.7")
            .header("x-api-key", &key),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // A JWT from the same address, and the key from another, work.
    let jwt = support::token("u-jwt", "jwt-user");
    let r = send(get(&http, &gw, "/me", "203.0.113.7").bearer_auth(jwt)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(get(&http, &gw, "/me", "198.51.100.1").header("x-api-key", &key)).await;
    assert_eq!(r.status, StatusCode::OK);
    // A valid key is not a failure: it does not use up the address's budget.
    for _ in 0..25 {
        let r = send(get(&http, &gw, "/me", "198.51.100.2").header("x-api-key", &key)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    gw.stop().await;
}

/// The account routes share a per-address rate, and registrations an hourly
/// quota per address.
#[tokio::test]
async fn account_routes_and_registrations_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.auth_rate_per_minute = 3;
    cfg.limits.register_per_hour = 2;
    let gw = TestGateway::start(cfg).await;
    let http = reqwest::Client::new();
    let creds = |name: &str| json!({ "username": name, "password": "password-1" });

    let mut statuses = Vec::new();
    for name in ["reg-a", "reg-b", "reg-c"] {
        let r = send(post(&http, &gw, "/register", "203.0.113.20", creds(name))).await;
        statuses.push((r.status.as_u16(), r.code().to_owned()));
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            let retry = r.retry_after.expect("Retry-After");
            assert!((1700..=1800).contains(&retry), "{retry}");
        }
    }
    assert_eq!(
        statuses,
        [
            (201, "<none>".to_owned()),
            (201, "<none>".to_owned()),
            (429, "TOO_MANY_ATTEMPTS".to_owned())
        ]
    );
    // A refused registration created nothing: the name is still free.
    let r = send(post(
        &http,
        &gw,
        "/register",
        "203.0.113.21",
        creds("reg-c"),
    ))
    .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // 3 requests a minute to any account route, all used by the registrations.
    let r = send(post(&http, &gw, "/token", "203.0.113.20", creds("reg-a"))).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS")
    );
    assert!(r.retry_after.is_some_and(|s| (1..=20).contains(&s)));
    let r = send(post(&http, &gw, "/token", "203.0.113.22", creds("reg-a"))).await;
    assert_eq!(r.status, StatusCode::OK);
    gw.stop().await;
}

/// A browser posts `text/plain` across origins without a preflight: such a
/// body is refused (415) and creates nothing. An empty body needs no type
/// (`POST /token` with an API key).
#[tokio::test]
async fn json_routes_require_a_json_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(config(dir.path())).await;
    let http = reqwest::Client::new();
    let body = r#"{"username":"csrf-victim","password":"password-1"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = http
            .post(gw.url("/register"))
            .header("origin", "https://evil.example")
            .body(body);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let r = send(req).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            "{content_type:?}"
        );
    }
    let r = send(
        http.post(gw.url("/register"))
            .header("content-type", "application/json; charset=utf-8")
            .body(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "the name was never taken");
    let key = r.body["api_key"].as_str().unwrap().to_owned();
    let r = send(http.post(gw.url("/token")).header("x-api-key", &key)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "an empty body needs no content type"
    );
    gw.stop().await;
}

/// The built gateway binary on a free port, killed on drop.
struct GatewayProcess {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl GatewayProcess {
    async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
            .env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("JWT_SECRET", support::SECRET)
            .env("DATA_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("gateway binary starts");
        let url = format!("http://127.0.0.1:{port}");
        let process = Self {
            child,
            url,
            _dir: dir,
        };
        for _ in 0..200 {
            if reqwest::get(format!("{}/healthz", process.url))
                .await
                .is_ok()
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway did not answer /healthz");
    }

    /// A field of /proc/PID/status in KiB (or a count, for `Threads`).
    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc status"))
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 400 simultaneous registrations: at most HASH_CONCURRENCY argon2 hashes at
/// once and HASH_QUEUE waiting; the rest are 503 `SERVER_BUSY` with
/// `Retry-After`. Peak memory stays near two hashes' worth (it was 2.2 GB).
#[tokio::test]
async fn argon2_work_is_bounded_and_the_excess_is_told_to_retry() {
    let gw = GatewayProcess::start(&[
        ("HASH_CONCURRENCY", "2"),
        ("HASH_QUEUE", "8"),
        ("AUTH_RATE_PER_MINUTE", "100000"),
        ("REGISTER_PER_HOUR", "100000"),
    ])
    .await;
    let http = reqwest::Client::new();
    let idle_kib = gw.status("VmHWM");
    let peak_threads = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampling = {
        let (pid, peak) = (gw.child.id(), peak_threads.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    let threads = status
                        .lines()
                        .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
                        .unwrap_or(0);
                    peak.fetch_max(threads, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let registrations = (0..400).map(|i| {
        send(
            http.post(format!("{}/register", gw.url))
                .json(&json!({ "username": format!("flood{i}"), "password": "password-1" })),
        )
    });
    let replies = futures_util::future::join_all(registrations).await;
    sampling.abort();

    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let busy: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(created + busy.len(), 400, "{:?}", tally(&replies));
    assert!(created >= 10, "2 hashing + 8 queued at least: {created}");
    assert!(!busy.is_empty(), "the excess is shed");
    for r in &busy {
        assert_eq!((r.code(), r.retry_after), ("SERVER_BUSY", Some(1)));
    }
    let peak_kib = gw.status("VmHWM");
    // Two hashes are 38 MiB; 400 would be 7.4 GiB.
    assert!(
        peak_kib - idle_kib < 120 * 1024,
        "peak RSS {peak_kib} KiB, {idle_kib} KiB idle"
    );
    let threads = peak_threads.load(std::sync::atomic::Ordering::Relaxed);
    assert!(threads <= 40, "peak threads {threads}");
    // Once the burst is over, registrations go through again.
    let r = send(
        http.post(format!("{}/register", gw.url))
            .json(&json!({ "username": "after-the-flood", "password": "password-1" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    eprintln!(
        "400 registrations: {created} created, {} busy; peak RSS {peak_kib} KiB ({idle_kib} idle), {threads} threads",
        busy.len()
    );
}

fn bearer(req: reqwest::RequestBuilder, user: &str) -> reqwest::RequestBuilder {
    req.bearer_auth(support::token(&format!("id-{user}"), user))
}

/// Anyone signed in may learn that a room exists and how full it is; only its
/// members and its creator see who is in it.
#[tokio::test]
async fn room_members_are_shown_only_to_members_and_the_creator() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(config(dir.path())).await;
    let http = reqwest::Client::new();
    let r = send(bearer(
        post(&http, &gw, "/rooms", "198.51.100.1", json!({})),
        "creator",
    ))
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let code = r.body["roomCode"].as_str().unwrap().to_owned();
    assert!(
        code.len() == 12
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{code}"
    );
    let member_jwt = support::token("id-member", "member");
    let mut member = support::SioClient::connect(gw.addr, json!({ "token": member_jwt }), &[])
        .await
        .unwrap();
    let joined = member
        .emit_with_ack("join:room", json!({ "roomCode": code }))
        .await;
    assert_eq!(joined["roomCode"], code.as_str());

    let room_id = format!("room_{}", code.to_ascii_lowercase());
    let full = json!({
        "roomId": room_id, "roomCode": code, "peerCount": 1, "maxPeers": 10,
        "peers": [{ "id": member.sid, "userInfo": { "userId": "id-member", "username": "member" } }],
    });
    for user in ["creator", "member"] {
        let r = send(bearer(
            get(&http, &gw, &format!("/rooms/{code}"), "198.51.100.1"),
            user,
        ))
        .await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &full), "{user}");
    }
    let r = send(bearer(
        get(&http, &gw, &format!("/rooms/{code}"), "198.51.100.1"),
        "outsider",
    ))
    .await;
    assert_eq!(
        (r.status, r.body),
        (
            StatusCode::OK,
            json!({ "roomId": room_id, "roomCode": code, "peerCount": 1, "maxPeers": 10 })
        )
    );
    gw.stop().await;
}

/// Guessing room codes: misses count against the address; past the limit
/// every lookup from it is refused, hits do not count, other addresses are
/// not affected.
#[tokio::test]
async fn room_lookup_misses_are_throttled_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.room_lookup_misses_per_minute = 5;
    let gw = TestGateway::start(cfg).await;
    let http = reqwest::Client::new();
    let r = send(bearer(
        post(
            &http,
            &gw,
            "/rooms",
            "198.51.100.1",
            json!({ "roomCode": "Known" }),
        ),
        "u",
    ))
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for _ in 0..10 {
        let r = send(bearer(get(&http, &gw, "/rooms/known", "198.51.100.1"), "u")).await;
        assert_eq!(r.status, StatusCode::OK, "hits are not misses");
    }
    let guesses = (0..8).map(|i| {
        send(bearer(
            get(&http, &gw, &format!("/rooms/GUESS{i}"), "203.0.113.3"),
            "u",
        ))
    });
    let replies = futures_util::future::join_all(guesses).await;
    assert_eq!(
        tally(&replies),
        counts(&[(404, "ROOM_NOT_FOUND", 5), (429, "TOO_MANY_ATTEMPTS", 3)])
    );
    assert!(
        replies
            .iter()
            .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
            .all(|r| r.retry_after.is_some_and(|s| (50..=60).contains(&s)))
    );
    let r = send(bearer(get(&http, &gw, "/rooms/known", "203.0.113.3"), "u")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = send(bearer(get(&http, &gw, "/rooms/known", "203.0.113.4"), "u")).await;
    assert_eq!(r.status, StatusCode::OK);
    gw.stop().await;
}

/// Live rooms are capped per user and in all, on `POST /rooms` and on
/// `create:room` alike.
#[tokio::test]
async fn live_rooms_are_capped_per_user_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.rooms.max_rooms_per_user = 3;
    cfg.rooms.max_rooms = 5;
    let gw = TestGateway::start(cfg).await;
    let http = reqwest::Client::new();
    let create = |user: &'static str| {
        send(bearer(
            post(&http, &gw, "/rooms", "198.51.100.1", json!({})),
            user,
        ))
    };

    for _ in 0..3 {
        assert_eq!(create("hoarder").await.status, StatusCode::CREATED);
    }
    let r = create("hoarder").await;
    assert_eq!(
        (r.status, r.body),
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "error": { "code": "TOO_MANY_ROOMS", "message": "too many rooms" } })
        )
    );
    let jwt = support::token("id-hoarder", "hoarder");
    let mut socket = support::SioClient::connect(gw.addr, json!({ "token": jwt }), &[])
        .await
        .unwrap();
    socket.emit("create:room", json!({})).await;
    assert_eq!(
        socket.next("error").await,
        json!({ "code": "TOO_MANY_ROOMS", "message": "Too many rooms", "status": "error", "event": "create:room" })
    );
    let ack = socket.emit_with_ack("create:room", json!({})).await;
    assert_eq!(
        ack,
        json!({ "error": { "code": "TOO_MANY_ROOMS", "message": "Too many rooms" } })
    );

    // Two more rooms by others reach the total of 5.
    assert_eq!(create("second").await.status, StatusCode::CREATED);
    assert_eq!(create("third").await.status, StatusCode::CREATED);
    let r = create("fourth").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ROOMS")
    );
    gw.stop().await;
}

/// With AUTO_CREATE_ROOMS, joining a missing room creates it through the
/// same caps.
#[tokio::test]
async fn auto_created_rooms_count_against_the_caps() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.rooms.auto_create_rooms = true;
    cfg.rooms.max_rooms_per_user = 1;
    let gw = TestGateway::start(cfg).await;
    let jwt = support::token("id-roamer", "roamer");
    let mut socket = support::SioClient::connect(gw.addr, json!({ "token": jwt }), &[])
        .await
        .unwrap();
    let joined = socket
        .emit_with_ack("join:room", json!({ "roomCode": "first" }))
        .await;
    assert_eq!(joined["roomId"], "room_first");
    // "first" lives on, empty, for ROOM_TTL: a second new room is refused.
    let ack = socket
        .emit_with_ack("join:room", json!({ "roomCode": "second" }))
        .await;
    assert_eq!(ack["error"]["code"], "TOO_MANY_ROOMS");
    // Joining a room that exists is not creating one.
    let other = support::token("id-other", "other");
    let mut host = support::SioClient::connect(gw.addr, json!({ "token": other }), &[])
        .await
        .unwrap();
    host.emit_with_ack("join:room", json!({ "roomCode": "hosted" }))
        .await;
    let joined = socket
        .emit_with_ack("join:room", json!({ "roomCode": "hosted" }))
        .await;
    assert_eq!(joined["roomId"], "room_hosted");
    gw.stop().await;
}
