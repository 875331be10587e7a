//! The app's own users and rooms (`gateway::app_data`) against a real
//! PostgreSQL database with a Prisma app's schema, and against a real HTTP
//! server standing in for the app's API.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use gateway::app_data::{AppData, AppRoom, AppUser, LookupError, Settings};
use support::app_api;
use support::app_db::{AppDb, ROOM_QUERY, ROOM_QUERY_PER_USER, USER_QUERY};
use support::tcp_proxy::TcpProxy;

fn settings(url: &str) -> Settings {
    Settings {
        app_database_url: Some(url.to_owned()),
        user_query: Some(USER_QUERY.into()),
        room_query: Some(ROOM_QUERY.into()),
        app_lookup_timeout: Duration::from_secs(2),
        app_lookup_cache_ttl: Duration::ZERO,
        app_lookup_cache_size: 100,
        ..Settings::default()
    }
}

fn user(name: &str, version: i64) -> Option<AppUser> {
    Some(AppUser {
        username: Some(name.into()),
        token_version: Some(version),
    })
}

fn room(code: &str, max: i64) -> Option<AppRoom> {
    Some(AppRoom {
        code: Some(code.into()),
        max_peers: Some(max),
    })
}

/// The start error for `settings`, as the gateway prints it.
async fn start_error(s: Settings) -> String {
    match AppData::connect(&s).await {
        Ok(_) => panic!("settings accepted"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn users_are_found_by_id_with_their_name_and_token_version() {
    let app = AppDb::create().await;
    app.add_user("ck1", "ann", 3).await;
    let data = AppData::connect(&settings(app.url())).await.unwrap();
    let users = data.users.as_ref().unwrap();
    assert_eq!(users.find("ck1", None).await, Ok(user("ann", 3)));
    assert_eq!(users.find("nobody", None).await, Ok(None));
    // Ids match exactly: the app's ids are case-sensitive.
    assert_eq!(users.find("CK1", None).await, Ok(None));
    app.drop_now().await;
}

#[tokio::test]
async fn rooms_are_found_by_code_without_case_while_active() {
    let app = AppDb::create().await;
    app.add_user("owner", "olga", 0).await;
    app.add_room("team-sync", 4, "active", true, "owner").await;
    app.add_room("old-standup", 10, "ended", true, "owner")
        .await;
    let data = AppData::connect(&settings(app.url())).await.unwrap();
    let rooms = data.rooms.as_ref().unwrap();
    assert!(!rooms.per_user());
    assert_eq!(rooms.find("team-sync", "u").await, Ok(room("team-sync", 4)));
    // $1 is the code lower-cased, as room ids are: the app's slugs are lowercase.
    assert_eq!(rooms.find("Team-SYNC", "u").await, Ok(room("team-sync", 4)));
    assert_eq!(rooms.find("old-standup", "u").await, Ok(None));
    assert_eq!(rooms.find("no-such-room", "u").await, Ok(None));
    app.drop_now().await;
}

#[tokio::test]
async fn a_room_query_with_the_user_as_2_decides_who_may_join() {
    let app = AppDb::create().await;
    app.add_user("owner", "olga", 0).await;
    app.add_room("open", 10, "active", true, "owner").await;
    app.add_room("private", 3, "active", false, "owner").await;
    let mut s = settings(app.url());
    s.room_query = Some(ROOM_QUERY_PER_USER.into());
    let data = AppData::connect(&s).await.unwrap();
    let rooms = data.rooms.as_ref().unwrap();
    assert!(rooms.per_user());
    assert_eq!(rooms.find("private", "owner").await, Ok(room("private", 3)));
    assert_eq!(rooms.find("private", "guest").await, Ok(None));
    assert_eq!(rooms.find("open", "guest").await, Ok(room("open", 10)));
    // No user (create:room asks so): $2 is NULL, the public room still matches.
    assert_eq!(rooms.find("open", "").await, Ok(room("open", 10)));
    assert_eq!(rooms.find("private", "").await, Ok(None));
    app.drop_now().await;
}

#[tokio::test]
async fn queries_are_checked_at_start_with_errors_that_name_the_problem() {
    let app = AppDb::create().await;
    let url = app.url().to_owned();
    let with = |user: Option<&str>, room: Option<&str>| Settings {
        user_query: user.map(str::to_owned),
        room_query: room.map(str::to_owned),
        ..settings(&url)
    };

    let e = start_error(with(
        Some(r#"SELECT id, email FROM "User" WHERE id = $1"#),
        None,
    ))
    .await;
    assert!(
        e.contains("USER_QUERY returns no `username` column (it returns: id, email)"),
        "{e}"
    );
    let e = start_error(with(Some(r#"SELECT username FROM "User""#), None)).await;
    assert_eq!(
        e,
        "USER_QUERY must use $1 and no other parameter; it uses 0"
    );
    let e = start_error(with(
        None,
        Some(r#"SELECT slug AS code FROM "Room" WHERE slug = $1 AND "ownerId" = $2 AND name = $3"#),
    ))
    .await;
    assert_eq!(
        e,
        "ROOM_QUERY must use $1, optionally $2 and no other parameter; it uses 3"
    );
    let e = start_error(with(
        Some(r#"SELECT username FROM "Users" WHERE id = $1"#),
        None,
    ))
    .await;
    assert!(e.starts_with("USER_QUERY does not prepare: "), "{e}");
    assert!(e.contains(r#"relation "Users" does not exist"#), "{e}");
    let e = start_error(with(
        Some(r#"SELECT "tokenVersion" AS username FROM "User" WHERE id = $1"#),
        None,
    ))
    .await;
    assert!(
        e.starts_with("USER_QUERY: column `username` is INT4, not text"),
        "{e}"
    );
    let e = start_error(with(
        None,
        Some(r#"SELECT name AS max_peers FROM "Room" WHERE slug = $1"#),
    ))
    .await;
    assert!(
        e.starts_with("ROOM_QUERY: column `max_peers` is TEXT, not an integer"),
        "{e}"
    );
    let e = start_error(with(
        None,
        Some(r#"SELECT slug FROM "Room" WHERE "createdAt" > $1"#),
    ))
    .await;
    assert!(
        e.starts_with("ROOM_QUERY: $1 is compared as TIMESTAMP"),
        "{e}"
    );

    // Settings that contradict each other, or miss their half.
    let e = start_error(Settings {
        user_lookup_url: Some("http://127.0.0.1:9/users/{id}".into()),
        ..settings(&url)
    })
    .await;
    assert_eq!(e, "set USER_QUERY or USER_LOOKUP_URL, not both");
    let e = start_error(Settings {
        app_database_url: None,
        ..settings(&url)
    })
    .await;
    assert_eq!(e, "USER_QUERY and ROOM_QUERY need APP_DATABASE_URL");
    let e = start_error(Settings {
        user_query: None,
        room_query: None,
        ..settings(&url)
    })
    .await;
    assert_eq!(
        e,
        "APP_DATABASE_URL is set but neither USER_QUERY nor ROOM_QUERY"
    );
    let e = start_error(Settings {
        app_database_url: Some("mysql://localhost/app".into()),
        ..settings(&url)
    })
    .await;
    assert_eq!(e, "APP_DATABASE_URL must be a postgres:// URL");
    app.drop_now().await;

    // No database to check the queries against: the gateway does not start.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let e = start_error(settings(&format!(
        "postgres://postgres@127.0.0.1:{port}/app"
    )))
    .await;
    assert!(
        e.starts_with("APP_DATABASE_URL: cannot connect: ") && e.contains("refused"),
        "{e}"
    );
}

#[tokio::test]
async fn integer_and_uuid_ids_are_bound_as_their_column_types() {
    let app = AppDb::create().await;
    let url = app.url().to_owned();
    let users = |sql: &str| Settings {
        user_query: Some(sql.to_owned()),
        room_query: None,
        ..settings(&url)
    };
    let int = AppData::connect(&users(
        "SELECT 'forty-two' AS username, 7 AS token_version WHERE $1 = 42::int4",
    ))
    .await
    .unwrap();
    let int = int.users.unwrap();
    assert_eq!(int.find("42", None).await, Ok(user("forty-two", 7)));
    assert_eq!(int.find("43", None).await, Ok(None));
    // Not a number: no user has it, and the database is not asked to parse it.
    assert_eq!(int.find("ck1", None).await, Ok(None));

    let id = "0b6e4a52-35c5-4a7e-9b8e-5b9d0c9c1a11";
    let uuid = AppData::connect(&users(&format!(
        "SELECT 'u' AS username WHERE $1 = '{id}'::uuid"
    )))
    .await
    .unwrap();
    let uuid = uuid.users.unwrap();
    assert_eq!(
        uuid.find(id, None).await,
        Ok(Some(AppUser {
            username: Some("u".into()),
            token_version: None
        }))
    );
    assert_eq!(uuid.find("not-a-uuid", None).await, Ok(None));

    // A NULL name is no name (the user id is shown); an int8 version is read.
    let nulls = AppData::connect(&users(
        "SELECT NULL::text AS username, 9::int8 AS token_version WHERE $1 = 'x'",
    ))
    .await
    .unwrap();
    assert_eq!(
        nulls.users.unwrap().find("x", None).await,
        Ok(Some(AppUser {
            username: None,
            token_version: Some(9)
        }))
    );
    app.drop_now().await;
}

#[tokio::test]
async fn answers_are_kept_for_the_cache_ttl_then_asked_again() {
    let app = AppDb::create().await;
    app.add_user("ck1", "ann", 0).await;
    let data = AppData::connect(&Settings {
        app_lookup_cache_ttl: Duration::from_millis(400),
        ..settings(app.url())
    })
    .await
    .unwrap();
    let (users, rooms) = (data.users.unwrap(), data.rooms.unwrap());
    assert_eq!(users.find("ck1", None).await, Ok(user("ann", 0)));
    assert_eq!(rooms.find("later", "ck1").await, Ok(None));
    app.exec(
        r#"UPDATE "User" SET "tokenVersion" = 1 WHERE id = $1"#,
        &["ck1"],
    )
    .await;
    app.add_room("later", 5, "active", true, "ck1").await;
    // Within the TTL: the answers already given, "not found" included.
    assert_eq!(users.find("ck1", None).await, Ok(user("ann", 0)));
    assert_eq!(rooms.find("LATER", "ck1").await, Ok(None));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(users.find("ck1", None).await, Ok(user("ann", 1)));
    assert_eq!(rooms.find("later", "ck1").await, Ok(room("later", 5)));
    app.drop_now().await;
}

#[tokio::test]
async fn a_database_that_goes_away_fails_lookups_in_time_and_comes_back() {
    let app = AppDb::create().await;
    app.add_user("ck1", "ann", 0).await;
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let mut proxy = TcpProxy::start(upstream).await;
    let data = AppData::connect(&Settings {
        app_lookup_timeout: Duration::from_millis(500),
        ..settings(&proxy.postgres_url(app.url()))
    })
    .await
    .unwrap();
    let users = data.users.clone().unwrap();
    assert_eq!(users.find("ck1", None).await, Ok(user("ann", 0)));
    assert_eq!(data.check().await, Ok(()));

    // Refused: every lookup and the readiness check fail, none beyond the timeout.
    proxy.refuse();
    for _ in 0..2 {
        let started = std::time::Instant::now();
        assert!(matches!(
            users.find("ck1", None).await,
            Err(LookupError::Unavailable(_))
        ));
        assert!(started.elapsed() < Duration::from_millis(1500));
    }
    assert!(matches!(
        data.check().await,
        Err(("app database", LookupError::Unavailable(_)))
    ));

    // A link that swallows packets: the timeout still bounds every call.
    proxy.blackhole().await;
    let started = std::time::Instant::now();
    let outcome = users.find("ck1", None).await;
    assert!(
        matches!(&outcome, Err(LookupError::Unavailable(m)) if m.contains("no answer within") || m.contains("timed out")),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));

    // Back: the pool reconnects on its own.
    proxy.restore().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match users.find("ck1", None).await {
            Ok(found) => {
                assert_eq!(found, user("ann", 0));
                break;
            }
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no recovery: {e}"),
        }
    }
    assert_eq!(data.check().await, Ok(()));
    drop(data);
    app.drop_now().await;
}

fn http_settings(
    user_lookup_url: Option<String>,
    room_lookup_url: Option<String>,
    token: Option<&str>,
) -> Settings {
    Settings {
        user_lookup_url,
        room_lookup_url,
        app_lookup_token: token.map(str::to_owned),
        app_lookup_timeout: Duration::from_millis(500),
        app_lookup_cache_ttl: Duration::ZERO,
        app_lookup_cache_size: 100,
        ..Settings::default()
    }
}

#[tokio::test]
async fn http_user_lookups_carry_the_service_token_and_read_the_answer() {
    let api = app_api::start().await;
    let data = AppData::connect(&http_settings(
        Some(format!("{}/users/{{id}}", api.base)),
        None,
        Some("svc-token"),
    ))
    .await
    .unwrap();
    let users = data.users.unwrap();
    assert!(data.rooms.is_none());
    assert_eq!(
        users.find("ck1", Some("caller.jwt.token")).await,
        Ok(user("ann", 2))
    );
    assert_eq!(users.find("nobody", None).await, Ok(None));
    // The id is one path segment, percent-encoded.
    assert_eq!(
        users.find("ck 2/é", None).await,
        Ok(Some(AppUser {
            username: Some("odd".into()),
            token_version: None
        }))
    );
    let seen = api.seen.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (
                "/users/ck1".into(),
                "Bearer svc-token".into(),
                String::new()
            ),
            (
                "/users/nobody".into(),
                "Bearer svc-token".into(),
                String::new()
            ),
            (
                "/users/ck 2/é".into(),
                "Bearer svc-token".into(),
                String::new()
            ),
        ]
    );
}

#[tokio::test]
async fn http_user_lookups_without_a_service_token_carry_the_callers_own() {
    let api = app_api::start().await;
    let data = AppData::connect(&http_settings(
        Some(format!("{}/users/{{id}}", api.base)),
        None,
        None,
    ))
    .await
    .unwrap();
    let users = data.users.unwrap();
    assert_eq!(
        users.find("ck1", Some("caller.jwt.token")).await,
        Ok(user("ann", 2))
    );
    // The app refuses the caller's token: no such user for the gateway either.
    assert_eq!(users.find("ck1", Some("other.jwt.token")).await, Ok(None));
    let seen = api.seen.0.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        (
            "/users/ck1".into(),
            "Bearer caller.jwt.token".into(),
            "access_token=caller.jwt.token".into()
        )
    );
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn http_room_lookups_fill_in_the_code_and_the_user() {
    let api = app_api::start().await;
    let data = AppData::connect(&http_settings(
        None,
        Some(format!("{}/rooms/{{code}}?user={{userId}}", api.base)),
        Some("svc-token"),
    ))
    .await
    .unwrap();
    let rooms = data.rooms.unwrap();
    assert!(rooms.per_user());
    assert_eq!(
        rooms.find("Team-Sync", "guest").await,
        Ok(room("team-sync", 4))
    );
    assert_eq!(
        rooms.find("private", "owner").await,
        Ok(Some(AppRoom {
            code: None,
            max_peers: Some(2)
        }))
    );
    assert_eq!(rooms.find("private", "guest").await, Ok(None));
    let paths: Vec<String> = api
        .seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/rooms/team-sync?user=guest",
            "/rooms/private?user=owner",
            "/rooms/private?user=guest"
        ]
    );
    // Without {userId} the answer is the same for everyone.
    let shared = AppData::connect(&http_settings(
        None,
        Some(format!("{}/rooms/{{code}}", api.base)),
        None,
    ))
    .await
    .unwrap();
    assert!(!shared.rooms.unwrap().per_user());
}

#[tokio::test]
async fn http_failures_are_errors_in_time_and_readiness_follows_the_api() {
    let api = app_api::start().await;
    let users_at = |path: &str| {
        http_settings(
            Some(format!("{}/{path}/{{id}}", api.base)),
            None,
            Some("svc-token"),
        )
    };
    let find = |s: Settings| async move {
        let data = AppData::connect(&s).await.unwrap();
        let started = std::time::Instant::now();
        let outcome = data.users.unwrap().find("ck1", None).await;
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{outcome:?}"
        );
        outcome
    };
    assert!(matches!(
        find(users_at("slow")).await,
        Err(LookupError::Unavailable(_))
    ));
    assert!(
        matches!(find(users_at("big")).await, Err(LookupError::BadAnswer(m)) if m.contains("over 65536 bytes"))
    );
    assert!(matches!(
        find(users_at("not-json")).await,
        Err(LookupError::BadAnswer(_))
    ));
    // A redirect is not followed: the lookup URL must answer itself.
    assert!(
        matches!(find(users_at("moved")).await, Err(LookupError::Unavailable(m)) if m.contains("307"))
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = http_settings(
        Some(format!("http://127.0.0.1:{port}/users/{{id}}")),
        None,
        None,
    );
    assert!(matches!(
        find(refused).await,
        Err(LookupError::Unavailable(_))
    ));

    // 5xx: unavailable, and /readyz says so until the API answers again.
    let data = AppData::connect(&users_at("users")).await.unwrap();
    let users = data.users.clone().unwrap();
    assert_eq!(data.check().await, Ok(()));
    *api.failing.lock().unwrap() = true;
    assert_eq!(
        users.find("ck1", None).await,
        Err(LookupError::Unavailable(
            "USER_LOOKUP_URL answered 502 Bad Gateway".into()
        ))
    );
    assert!(matches!(
        data.check().await,
        Err(("app API", LookupError::Unavailable(_)))
    ));
    *api.failing.lock().unwrap() = false;
    assert_eq!(data.check().await, Ok(()));
    assert_eq!(users.find("ck1", None).await, Ok(user("ann", 2)));

    // Templates are checked at start.
    let e = |s: Settings| async move { AppData::connect(&s).await.err().unwrap().to_string() };
    assert_eq!(
        e(http_settings(
            Some(format!("{}/users/me", api.base)),
            None,
            None
        ))
        .await,
        "USER_LOOKUP_URL must contain {id}"
    );
    assert_eq!(
        e(http_settings(
            None,
            Some("ftp://app.test/rooms/{code}".into()),
            None
        ))
        .await,
        "ROOM_LOOKUP_URL must be an http:// or https:// URL"
    );
}
