//! Accounts and the REST API end to end, on both stores (PROTOCOL.md §6):
//! real HTTP, real Socket.IO handshakes, a real SQLite file and a real
//! PostgreSQL database.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{SioClient, Store, TestGateway, on_store};

async fn post(
    gw: &TestGateway,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(gw.url(path))
        .body(body.to_owned())
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(gw: &TestGateway, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().get(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

/// register → token → handshake with the token and with the API key → room over
/// REST → join over Socket.IO → regenerate (old key refused on REST and on the
/// handshake) → newpassword (old password refused) → restart keeps the user.
async fn end_to_end(config: gateway::Config) {
    let gw = TestGateway::start(config.clone()).await;

    // The seed's Go client sends capitalised keys.
    let (status, reg) = post(
        &gw,
        "/register",
        &[],
        r#"{"Username":"alice","Password":"password-1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    let key = reg["api_key"].as_str().expect("api_key").to_owned();
    let user_id = reg["user_id"].as_str().expect("user_id").to_owned();
    assert_eq!(reg["username"], "alice");
    assert_eq!(reg.as_object().unwrap().len(), 3);

    let (status, me) = get(&gw, "/me", &[("x-api-key", &key)]).await;
    assert_eq!(
        (status, me),
        (
            StatusCode::OK,
            json!({ "user_id": user_id, "username": "alice" })
        )
    );
    let (status, me) = get(&gw, "/me", &[("authorization", &format!("Bearer {key}"))]).await;
    assert_eq!(
        (status, me["username"].clone()),
        (StatusCode::OK, json!("alice"))
    );

    let (status, tok) = post(&gw, "/token", &[("x-api-key", &key)], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tok["expires_in"], 3600);
    let jwt = tok["token"].as_str().expect("token").to_owned();
    let (status, tok2) = post(
        &gw,
        "/token",
        &[],
        r#"{"username":"alice","password":"password-1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(tok2["token"].is_string());
    let (status, me) = get(&gw, "/me", &[("authorization", &format!("Bearer {jwt}"))]).await;
    assert_eq!(
        (status, me["user_id"].clone()),
        (StatusCode::OK, json!(user_id))
    );

    // Handshakes: the issued JWT, the API key in auth, in X-API-Key, as a Bearer.
    let mut by_token = SioClient::connect(gw.addr, json!({ "token": jwt }), &[])
        .await
        .expect("token handshake");
    let mut by_key = SioClient::connect(gw.addr, json!({ "apiKey": key }), &[])
        .await
        .expect("apiKey handshake");
    SioClient::connect(gw.addr, json!({}), &[("x-api-key", &key)])
        .await
        .expect("X-API-Key handshake");
    SioClient::connect(
        gw.addr,
        json!({}),
        &[("authorization", &format!("Bearer {key}"))],
    )
    .await
    .expect("Bearer key handshake");

    let (status, room) = post(
        &gw,
        "/rooms",
        &[("x-api-key", &key)],
        r#"{"roomCode":"E2E-Room","maxPeers":4}"#,
    )
    .await;
    assert_eq!(
        (status, room),
        (
            StatusCode::CREATED,
            json!({ "roomId": "room_e2e-room", "roomCode": "E2E-Room" })
        )
    );

    let joined = by_token
        .emit_with_ack("join:room", json!({ "roomCode": "e2e-room" }))
        .await;
    assert_eq!(joined["roomId"], "room_e2e-room");
    assert_eq!(joined["peers"], json!([]));
    let joined = by_key
        .emit_with_ack("join:room", json!({ "roomCode": "E2E-ROOM" }))
        .await;
    let alice = json!({ "userId": user_id, "username": "alice" });
    assert_eq!(
        joined["peers"],
        json!([{ "id": by_token.sid, "userInfo": alice }])
    );
    assert_eq!(
        by_token.next("peer:joined").await,
        json!({ "peerId": by_key.sid, "userInfo": alice })
    );

    let (status, view) = get(&gw, "/rooms/E2E-Room", &[("x-api-key", &key)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["maxPeers"], 4);
    assert_eq!(view["peers"].as_array().map(Vec::len), Some(2));

    // Regenerate: the old key stops working at once, on REST and on the handshake.
    let (status, regen) = post(
        &gw,
        "/regenerate",
        &[],
        r#"{"username":"alice","password":"password-1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let new_key = regen["api_key"].as_str().expect("api_key").to_owned();
    assert_ne!(new_key, key);
    assert_eq!(
        get(&gw, "/me", &[("x-api-key", &key)]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        SioClient::connect(gw.addr, json!({ "apiKey": key }), &[])
            .await
            .err()
            .as_deref(),
        Some("Unauthorized")
    );
    assert_eq!(
        get(&gw, "/me", &[("x-api-key", &new_key)]).await.0,
        StatusCode::OK
    );
    SioClient::connect(gw.addr, json!({ "apiKey": new_key }), &[])
        .await
        .expect("new key handshake");

    // New password: the old one is refused.
    let (status, done) = post(
        &gw,
        "/newpassword",
        &[],
        r#"{"username":"alice","old_password":"password-1","new_password":"password-2"}"#,
    )
    .await;
    assert_eq!((status, done), (StatusCode::OK, json!({ "ok": true })));
    let (status, body) = post(
        &gw,
        "/token",
        &[],
        r#"{"username":"alice","password":"password-1"}"#,
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "WRONG_CREDENTIALS")
    );

    // A restart keeps the user, its new password and its new key.
    gw.stop().await;
    let gw = TestGateway::start(config).await;
    let (status, _) = post(
        &gw,
        "/token",
        &[],
        r#"{"username":"alice","password":"password-2"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, me) = get(&gw, "/me", &[("x-api-key", &new_key)]).await;
    assert_eq!(
        (status, me["user_id"].clone()),
        (StatusCode::OK, json!(user_id))
    );
    gw.stop().await;
}

#[tokio::test]
async fn end_to_end_on_sqlite() {
    let dir = on_store(Store::Sqlite, end_to_end).await;
    assert!(
        dir.path().join("gateway.db").exists(),
        "the default store is a file in the data directory"
    );
}

#[tokio::test]
async fn end_to_end_on_postgres() {
    let dir = on_store(Store::Postgres, end_to_end).await;
    assert!(
        !dir.path().join("gateway.db").exists(),
        "PostgreSQL replaces the SQLite file"
    );
}

/// Every error status of every route.
async fn error_statuses(config: gateway::Config) {
    let gw = TestGateway::start(config).await;
    let (status, reg) = post(
        &gw,
        "/register",
        &[],
        r#"{"username":"bob","password":"password-1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = reg["api_key"].as_str().unwrap().to_owned();

    let cases: &[(&str, &str, StatusCode, &str)] = &[
        (
            "/register",
            "{not json",
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
        ),
        (
            "/register",
            "[1,2]",
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
        ),
        (
            "/register",
            r#"{"username":"carol"}"#,
            StatusCode::BAD_REQUEST,
            "INVALID_PAYLOAD",
        ),
        (
            "/register",
            r#"{"username":"carol","password":12345678}"#,
            StatusCode::BAD_REQUEST,
            "INVALID_PAYLOAD",
        ),
        (
            "/register",
            r#"{"username":"carol","password":"short"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            "/register",
            r#"{"username":"c d","password":"password-1"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            "/register",
            r#"{"username":"BOB","password":"password-1"}"#,
            StatusCode::CONFLICT,
            "USERNAME_TAKEN",
        ),
        ("/regenerate", "{", StatusCode::BAD_REQUEST, "INVALID_JSON"),
        (
            "/regenerate",
            r#"{"username":"bob"}"#,
            StatusCode::BAD_REQUEST,
            "INVALID_PAYLOAD",
        ),
        (
            "/regenerate",
            r#"{"username":"bob","password":"wrong-pass"}"#,
            StatusCode::UNAUTHORIZED,
            "WRONG_CREDENTIALS",
        ),
        (
            "/regenerate",
            r#"{"username":"nobody","password":"password-1"}"#,
            StatusCode::UNAUTHORIZED,
            "WRONG_CREDENTIALS",
        ),
        (
            "/newpassword",
            r#"{"username":"bob","old_password":"password-1"}"#,
            StatusCode::BAD_REQUEST,
            "INVALID_PAYLOAD",
        ),
        (
            "/newpassword",
            r#"{"username":"bob","old_password":"password-1","new_password":"short"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            "/newpassword",
            r#"{"username":"bob","old_password":"wrong-pass","new_password":"password-3"}"#,
            StatusCode::UNAUTHORIZED,
            "WRONG_CREDENTIALS",
        ),
        ("/token", "", StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ("/token", "{oops", StatusCode::BAD_REQUEST, "INVALID_JSON"),
    ];
    for (path, body, want_status, want_code) in cases {
        let (status, reply) = post(&gw, path, &[], body).await;
        assert_eq!(
            (status, error_code(&reply)),
            (*want_status, *want_code),
            "{path} {body} → {reply}"
        );
        assert!(
            reply["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let too_big = format!(
        r#"{{"username":"bob","password":"{}"}}"#,
        "x".repeat(20_000)
    );
    assert_eq!(
        post(&gw, "/register", &[], &too_big).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // Authenticated routes.
    assert_eq!(get(&gw, "/me", &[]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&gw, "/me", &[("x-api-key", "sk_not-a-key")]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&gw, "/me", &[("authorization", "Bearer a.b.c")])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&gw, "/ice-servers", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&gw, "/ice-servers", &[("x-api-key", &key)]).await,
        (StatusCode::OK, json!({ "iceServers": [] }))
    );
    assert_eq!(
        post(&gw, "/rooms", &[], "{}").await.0,
        StatusCode::UNAUTHORIZED
    );
    let auth = [("x-api-key", key.as_str())];
    let (status, created) = post(&gw, "/rooms", &auth, "").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["roomCode"].as_str().map(str::len), Some(12));
    assert_eq!(
        post(&gw, "/rooms", &auth, r#"{"roomCode":"dup"}"#).await.0,
        StatusCode::CREATED
    );
    let (status, body) = post(&gw, "/rooms", &auth, r#"{"roomCode":"DUP"}"#).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "ROOM_EXISTS")
    );
    let (status, body) = post(&gw, "/rooms", &auth, r#"{"roomCode":"bad code"}"#).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    );
    let (status, body) = post(&gw, "/rooms", &auth, r#"{"maxPeers":0}"#).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    );
    let (status, body) = get(&gw, "/rooms/never-made", &auth).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "ROOM_NOT_FOUND")
    );
    assert_eq!(
        get(&gw, "/rooms/dup", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Throttling: bob has had 2 failures from this address above (/regenerate,
    // /newpassword); 3 more reach the limit of 5, after which even the right
    // password gets 429 from here for LOGIN_BACKOFF.
    for _ in 0..3 {
        let (status, _) = post(
            &gw,
            "/token",
            &[],
            r#"{"username":"bob","password":"wrong-pass"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let resp = reqwest::Client::new()
        .post(gw.url("/token"))
        .header("content-type", "application/json")
        .body(r#"{"username":"bob","password":"password-1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 30, "{retry}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "TOO_MANY_ATTEMPTS");
    let (status, _) = post(
        &gw,
        "/regenerate",
        &[],
        r#"{"username":"bob","password":"password-1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The API key still works: throttling guards passwords, not the account.
    assert_eq!(get(&gw, "/me", &auth).await.0, StatusCode::OK);
    gw.stop().await;
}

#[tokio::test]
async fn error_statuses_on_sqlite() {
    on_store(Store::Sqlite, error_statuses).await;
}

#[tokio::test]
async fn error_statuses_on_postgres() {
    on_store(Store::Postgres, error_statuses).await;
}

/// Simultaneous registrations of one name: exactly one 201, the rest 409.
async fn racing_registrations(config: gateway::Config) {
    let gw = TestGateway::start(config).await;
    let attempts = (0..6).map(|i| {
        let url = gw.url("/register");
        async move {
            let body = format!(r#"{{"username":"Racer","password":"password-{i}"}}"#);
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        5,
        "{statuses:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn one_of_racing_registrations_wins_on_sqlite() {
    on_store(Store::Sqlite, racing_registrations).await;
}

#[tokio::test]
async fn one_of_racing_registrations_wins_on_postgres() {
    on_store(Store::Postgres, racing_registrations).await;
}
