//! The gateway with the app's own users and rooms: what the socket events
//! leave to the conformance suite (`conformance/test/app-database.test.js`):
//! the REST routes, the start-up checks, and the HTTP lookups end to end.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use support::app_db::{AppDb, ROOM_QUERY, USER_QUERY};
use support::tcp_proxy::TcpProxy;
use support::{SioClient, TestGateway, app_api};

/// The app's token: `{ id, email, tokenVersion }`, no `sub`, no `username`.
fn app_token(id: &str, version: i64) -> String {
    let claims = json!({
        "id": id,
        "email": support::app_db::email_of(id),
        "tokenVersion": version,
        "exp": jsonwebtoken::get_current_timestamp() + 300,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(support::SECRET.as_bytes()),
    )
    .expect("sign")
}

async fn get(gw: &TestGateway, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn post(gw: &TestGateway, path: &str, bearer: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(gw.url(path))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .expect("request");
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn rest_routes_answer_for_the_apps_users_and_rooms() {
    let app = AppDb::create().await;
    app.add_user("ck-ann", "ann", 0).await;
    app.add_room("team-sync", 4, "active", true, "ck-ann").await;
    let mut proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path());
    config.app_data.app_database_url = Some(proxy.postgres_url(app.url()));
    config.app_data.user_query = Some(USER_QUERY.into());
    config.app_data.room_query = Some(ROOM_QUERY.into());
    config.app_data.app_lookup_timeout = Duration::from_millis(500);
    config.app_data.app_lookup_cache_ttl = Duration::ZERO;
    let gw = TestGateway::start(config).await;
    let ann = app_token("ck-ann", 0);
    let bearer = format!("Bearer {ann}");

    // The caller is the app's user, named by the app's database.
    assert_eq!(
        get(&gw, "/me", &[("authorization", &bearer)]).await,
        (200, json!({ "user_id": "ck-ann", "username": "ann" }))
    );
    // The app's room codes are the app's.
    assert_eq!(
        post(
            &gw,
            "/rooms",
            &ann,
            json!({ "roomCode": "Team-Sync", "maxPeers": 1 })
        )
        .await,
        (
            409,
            json!({ "error": { "code": "ROOM_EXISTS", "message": "room already exists" } })
        )
    );
    assert_eq!(
        post(&gw, "/rooms", &ann, json!({ "roomCode": "own-room" })).await,
        (
            201,
            json!({ "roomId": "room_own-room", "roomCode": "own-room" })
        )
    );
    // A gateway account is no way around the app's user table.
    let (status, registered) = reqwest::Client::new()
        .post(gw.url("/register"))
        .json(&json!({ "username": "mallory", "password": "correct horse" }))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 201);
    let key = registered.json::<Value>().await.unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        get(&gw, "/me", &[("x-api-key", &key)]).await,
        (
            401,
            json!({ "error": { "code": "UNAUTHORIZED", "message": "authentication required" } })
        )
    );
    assert_eq!(
        SioClient::connect(gw.addr, json!({ "apiKey": key }), &[])
            .await
            .err()
            .as_deref(),
        Some("Unauthorized")
    );

    // The app's database down: 503, so that a client retries rather than logs out.
    proxy.refuse();
    assert_eq!(
        get(&gw, "/me", &[("authorization", &bearer)]).await,
        (
            503,
            json!({ "error": { "code": "SERVICE_UNAVAILABLE", "message": "service unavailable, retry later" } })
        )
    );
    assert_eq!(
        get(&gw, "/readyz", &[]).await,
        (503, json!({ "status": "app database unavailable" }))
    );
    proxy.restore().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get(&gw, "/readyz", &[]).await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz never ready again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&gw, "/me", &[("authorization", &bearer)]).await.0, 200);
    gw.stop().await;
    app.drop_now().await;
}

#[tokio::test]
async fn start_errors_name_the_setting() {
    let app = AppDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let base = || {
        let mut c = support::config(dir.path());
        c.app_data.app_database_url = Some(app.url().to_owned());
        c.app_data.user_query = Some(USER_QUERY.into());
        c.app_data.room_query = Some(ROOM_QUERY.into());
        c
    };
    let error = |c: gateway::Config| async move {
        match gateway::Gateway::build(&c).await {
            Ok(_) => panic!("the gateway started"),
            Err(e) => e.to_string(),
        }
    };
    let mut auto = base();
    auto.rooms.auto_create_rooms = true;
    assert_eq!(
        error(auto).await,
        "app lookups: AUTO_CREATE_ROOMS cannot be combined with ROOM_QUERY / ROOM_LOOKUP_URL"
    );
    let mut nameless = base();
    nameless.app_data.user_query = Some(r#"SELECT email FROM "User" WHERE id = $1"#.into());
    let e = error(nameless).await;
    assert!(
        e.starts_with("app lookups: USER_QUERY returns no `username` column (it returns: email)"),
        "{e}"
    );
    app.drop_now().await;
}

#[tokio::test]
async fn http_lookups_serve_the_handshake_and_join_room() {
    let api = app_api::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path());
    config.app_data.user_lookup_url = Some(format!("{}/users/{{id}}", api.base));
    config.app_data.room_lookup_url = Some(format!("{}/rooms/{{code}}", api.base));
    config.app_data.app_lookup_token = Some("svc-token".into());
    let gw = TestGateway::start(config).await;
    let cookie = |id: &str, version: i64| format!("access_token={}", app_token(id, version));
    let connect = |addr: SocketAddr, cookie: String| async move {
        SioClient::connect(addr, json!({}), &[("cookie", cookie.as_str())]).await
    };

    let mut a = connect(gw.addr, cookie("ck1", 2)).await.unwrap();
    let mut b = connect(gw.addr, cookie("ck1", 2)).await.unwrap();
    // Unknown to the API; a revoked token (the API says version 2).
    assert_eq!(
        connect(gw.addr, cookie("nobody", 0)).await.err().as_deref(),
        Some("Unauthorized")
    );
    assert_eq!(
        connect(gw.addr, cookie("ck1", 1)).await.err().as_deref(),
        Some("Unauthorized")
    );

    let joined = a
        .emit_with_ack("join:room", json!({ "roomCode": "team-sync" }))
        .await;
    assert_eq!(joined["roomId"], "room_team-sync");
    let joined = b
        .emit_with_ack("join:room", json!({ "roomCode": "TEAM-SYNC" }))
        .await;
    // The API's name, never the e-mail it also returned.
    assert_eq!(
        joined["peers"],
        json!([{ "id": a.sid, "userInfo": { "userId": "ck1", "username": "ann" } }])
    );
    assert_eq!(
        a.emit_with_ack("join:room", json!({ "roomCode": "nowhere" }))
            .await,
        json!({ "error": { "code": "ROOM_NOT_FOUND", "message": "Room not found" } })
    );
    // The app's names are cut like a token's: every peer is sent them.
    let mut long = connect(gw.addr, cookie("ck-long", 0)).await.unwrap();
    assert!(
        long.emit_with_ack("join:room", json!({ "roomCode": "team-sync" }))
            .await["error"]
            .is_null()
    );
    assert_eq!(
        a.next("peer:joined").await["userInfo"]["username"],
        "é".repeat(gateway::auth::jwt::MAX_USERNAME_CHARS)
    );
    // The room holds the API's maxPeers (4): one more fits, the fifth does not.
    let mut more = Vec::new();
    for _ in 0..1 {
        let mut c = connect(gw.addr, cookie("ck1", 2)).await.unwrap();
        assert!(
            c.emit_with_ack("join:room", json!({ "roomCode": "team-sync" }))
                .await["error"]
                .is_null()
        );
        more.push(c);
    }
    let mut fifth = connect(gw.addr, cookie("ck1", 2)).await.unwrap();
    assert_eq!(
        fifth
            .emit_with_ack("join:room", json!({ "roomCode": "team-sync" }))
            .await["error"]["code"],
        "ROOM_FULL"
    );
    let seen = api.seen.0.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(_, auth, _)| auth == "Bearer svc-token"),
        "{seen:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn in_event_mode_the_handshake_says_why_it_was_refused() {
    let app = AppDb::create().await;
    app.add_user("ck-ann", "ann", 0).await;
    let mut proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path());
    config.auth.auth_failure = gateway::config::AuthFailure::Event;
    config.app_data.app_database_url = Some(proxy.postgres_url(app.url()));
    config.app_data.user_query = Some(USER_QUERY.into());
    config.app_data.app_lookup_timeout = Duration::from_millis(500);
    config.app_data.app_lookup_cache_ttl = Duration::ZERO;
    let gw = TestGateway::start(config).await;
    let told = |cookie: String| {
        let addr = gw.addr;
        async move {
            let mut c = SioClient::connect(addr, json!({}), &[("cookie", cookie.as_str())])
                .await
                .expect("connects, to be told");
            let error = c.next("error").await;
            assert!(
                c.closed_within(Duration::from_secs(2)).await,
                "disconnected"
            );
            error
        }
    };
    let refusal = |message: &str, code: &str| json!({ "code": code, "message": message, "status": "error", "event": "connection" });
    assert_eq!(
        told(format!("access_token={}", app_token("ck-nobody", 0))).await,
        refusal("User not found", "UNAUTHORIZED")
    );
    assert_eq!(
        told(format!("access_token={}", app_token("ck-ann", 3))).await,
        refusal("Unauthorized", "UNAUTHORIZED")
    );
    proxy.refuse();
    assert_eq!(
        told(format!("access_token={}", app_token("ck-ann", 0))).await,
        refusal("Service unavailable", "SERVICE_UNAVAILABLE")
    );
    gw.stop().await;
    app.drop_now().await;
}
