//! Operations: health, readiness, metrics, the kept JWT secret, and graceful
//! shutdown of the real binary on SIGTERM.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{SioClient, TestGateway};

async fn text(gw: &TestGateway, path: &str) -> (u16, String) {
    let resp = reqwest::get(gw.url(path)).await.expect("request");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

fn metric(body: &str, line_start: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(support::config(dir.path())).await;
    assert_eq!(
        text(&gw, "/healthz").await,
        (200, r#"{"status":"ok"}"#.into())
    );
    assert_eq!(
        text(&gw, "/readyz").await,
        (200, r#"{"status":"ready"}"#.into())
    );

    let mut a = SioClient::connect(gw.addr, json!({ "token": support::token("1", "ann") }), &[])
        .await
        .unwrap();
    let mut b = SioClient::connect(gw.addr, json!({ "token": support::token("2", "ben") }), &[])
        .await
        .unwrap();
    assert_eq!(
        SioClient::connect(gw.addr, json!({ "token": "x.y.z" }), &[])
            .await
            .err()
            .as_deref(),
        Some("Unauthorized")
    );
    a.emit_with_ack("create:room", json!({ "roomCode": "m1" }))
        .await;
    a.emit_with_ack("join:room", json!({ "roomCode": "m1" }))
        .await;
    b.emit_with_ack("join:room", json!({ "roomCode": "m1" }))
        .await;
    for _ in 0..3 {
        let ok = a
            .emit_with_ack(
                "webrtc:ice",
                json!({ "targetPeerId": b.sid, "candidate": "c" }),
            )
            .await;
        assert_eq!(ok, json!({ "ok": true }));
    }
    let err = a
        .emit_with_ack(
            "webrtc:ice",
            json!({ "targetPeerId": "nobody", "candidate": "c" }),
        )
        .await;
    assert_eq!(err["error"]["code"], "PEER_NOT_FOUND");

    let (status, body) = text(&gw, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&body, "gateway_sockets "), Some(2.0), "{body}");
    assert_eq!(metric(&body, "gateway_rooms "), Some(1.0));
    assert_eq!(metric(&body, "gateway_joins_total "), Some(2.0));
    assert_eq!(
        metric(&body, r#"gateway_relays_total{event="webrtc:ice"}"#),
        Some(3.0)
    );
    assert_eq!(
        metric(&body, r#"gateway_errors_total{code="PEER_NOT_FOUND"}"#),
        Some(1.0)
    );
    assert_eq!(metric(&body, "gateway_auth_failures_total "), Some(1.0));
    assert_eq!(
        metric(&body, "gateway_relay_latency_seconds_count "),
        Some(3.0)
    );
    gw.stop().await;
}

#[tokio::test]
async fn without_a_configured_secret_one_is_generated_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path());
    config.auth.jwt_secret = None;
    let gw = TestGateway::start(config.clone()).await;
    let secret = std::fs::read_to_string(dir.path().join("jwt-secret"))
        .expect("secret kept in the data directory");
    assert_eq!(secret.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only the owner may read the secret");
    }
    let signed = |key: &str| {
        let claims = json!({ "sub": "7", "username": "kept", "exp": jsonwebtoken::get_current_timestamp() + 60 });
        jsonwebtoken::encode(
            &Default::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    };
    let token = signed(&secret);
    SioClient::connect(gw.addr, json!({ "token": token }), &[])
        .await
        .expect("the generated secret verifies");
    assert!(
        SioClient::connect(gw.addr, json!({ "token": signed(support::SECRET) }), &[])
            .await
            .is_err()
    );
    gw.stop().await;

    // A restart reads the same secret: the earlier token still works.
    let gw = TestGateway::start(config).await;
    SioClient::connect(gw.addr, json!({ "token": token }), &[])
        .await
        .expect("tokens survive a restart");
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_and_returns_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(support::config(dir.path())).await;
    let mut a = SioClient::connect(gw.addr, json!({ "token": support::token("1", "ann") }), &[])
        .await
        .unwrap();
    a.emit_with_ack("ping", json!(null)).await;
    let started = Instant::now();
    gw.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped in {:?}",
        started.elapsed()
    );
    assert!(
        a.closed_within(Duration::from_secs(2)).await,
        "the socket is closed by the server"
    );
}

/// The binary itself: SIGTERM → clean exit, while a client is connected.
#[tokio::test]
async fn the_binary_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("JWT_SECRET", support::SECRET)
        .env("DATA_DIR", dir.path())
        .env("SHUTDOWN_GRACE", "3s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gateway");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut client = loop {
        match SioClient::connect(addr, json!({ "token": support::token("1", "ann") }), &[]).await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("gateway never came up: {e}"),
        }
    };
    client.emit_with_ack("ping", json!(null)).await;
    let pid = child.id().expect("pid") as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc_kill(pid, 15) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits in time")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(client.closed_within(Duration::from_secs(2)).await);
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
