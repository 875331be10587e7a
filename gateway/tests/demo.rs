//! The demo page: served at `/demo/` from `DEMO_DIR`, a helpful answer while
//! it is not built, nothing with `DEMO=false`; and the origin rule that lets
//! the page's own Socket.IO requests in (polling and WebSocket) while every
//! foreign origin stays refused.

mod support;

use serde_json::json;
use support::{SioClient, TestGateway};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(gw: &TestGateway, path: &str) -> reqwest::Response {
    no_redirects()
        .get(gw.url(path))
        .send()
        .await
        .expect("request")
}

/// A tiny built page.
fn built_page() -> tempfile::TempDir {
    let page = tempfile::tempdir().unwrap();
    std::fs::write(
        page.path().join("index.html"),
        "<!doctype html><script src=\"app.js\"></script>",
    )
    .unwrap();
    std::fs::write(page.path().join("app.js"), "console.log(1)").unwrap();
    page
}

/// A gateway whose `DEMO_DIR` holds [`built_page`].
async fn with_page(data: &std::path::Path) -> (TestGateway, tempfile::TempDir) {
    let page = built_page();
    let mut cfg = support::config(data);
    cfg.http.demo_dir = page.path().into();
    (TestGateway::start(cfg).await, page)
}

#[tokio::test]
async fn the_built_page_is_served_at_demo() {
    let data = tempfile::tempdir().unwrap();
    let (gw, _page) = with_page(data.path()).await;

    let root = get(&gw, "/").await;
    assert_eq!(root.status(), 307);
    assert_eq!(root.headers()["location"], "/demo/");
    let bare = get(&gw, "/demo").await;
    assert_eq!(bare.status(), 308);
    assert_eq!(bare.headers()["location"], "/demo/");

    let index = get(&gw, "/demo/").await;
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["content-type"], "text/html");
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'self'; script-src 'self';"),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert_eq!(
        index.text().await.unwrap(),
        "<!doctype html><script src=\"app.js\"></script>"
    );

    let script = get(&gw, "/demo/app.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "text/javascript");
    assert_eq!(script.text().await.unwrap(), "console.log(1)");

    assert_eq!(get(&gw, "/demo/missing.js").await.status(), 404);
    // Nothing outside the folder, however the path is spelled.
    for path in [
        "/demo/../Cargo.toml",
        "/demo/%2e%2e/Cargo.toml",
        "/demo/..%2fCargo.toml",
    ] {
        assert_eq!(get(&gw, path).await.status(), 404, "{path}");
    }
    // The REST API is untouched.
    assert_eq!(get(&gw, "/healthz").await.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn an_unbuilt_page_says_how_to_build_it() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = support::config(data.path());
    cfg.http.demo_dir = data.path().join("no-such-dir");
    let gw = TestGateway::start(cfg).await;

    let root = get(&gw, "/").await;
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()["content-type"], "text/html; charset=utf-8");
    let body = root.text().await.unwrap();
    assert!(
        body.contains("npm --prefix web ci &amp;&amp; npm --prefix web run build"),
        "{body}"
    );
    let page = get(&gw, "/demo/").await;
    assert_eq!(page.status(), 404);
    assert_eq!(page.text().await.unwrap(), body);
    assert_eq!(get(&gw, "/demo/app.js").await.status(), 404);
    gw.stop().await;
}

#[tokio::test]
async fn demo_false_serves_nothing() {
    let data = tempfile::tempdir().unwrap();
    let page = built_page();
    let mut cfg = support::config(data.path());
    cfg.http.demo_dir = page.path().into();
    cfg.http.demo = false;
    let gw = TestGateway::start(cfg).await;
    for path in ["/", "/demo", "/demo/", "/demo/app.js"] {
        let resp = get(&gw, path).await;
        assert_eq!(resp.status(), 404, "{path}");
        // The REST API's own 404, not the page.
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "NOT_FOUND", "{path}");
    }
    gw.stop().await;
}

const POLLING: &str = "/socket.io/?EIO=4&transport=polling";

async fn polling_from(gw: &TestGateway, origin: &str) -> reqwest::Response {
    no_redirects()
        .get(gw.url(POLLING))
        .header("origin", origin)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_gateways_own_origin_passes_the_guard_and_cors() {
    let data = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(support::config(data.path())).await;
    // reqwest and tungstenite send `Host: 127.0.0.1:<port>`, as a browser on
    // a page from http://127.0.0.1:<port>/demo/ does.
    let own = format!("http://{}", gw.addr);

    let resp = polling_from(&gw, &own).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], own.as_str());
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
    assert!(resp.text().await.unwrap().starts_with(r#"0{"sid":"#));

    // A page's POST (polling's upstream) preflights only cross-origin, but
    // a preflight from the page's own origin is answered as for CLIENT_URL.
    let preflight = no_redirects()
        .request(reqwest::Method::OPTIONS, gw.url(POLLING))
        .header("origin", &own)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        own.as_str()
    );

    let token = support::token("1", "ann");
    let mut ws = SioClient::connect(gw.addr, json!({ "token": token }), &[("origin", &own)])
        .await
        .expect("same-origin WebSocket connects");
    let pong = ws.emit_with_ack("ping", json!({})).await;
    assert!(pong["timestamp"].is_string(), "{pong}");

    // CLIENT_URL's origin still passes.
    assert_eq!(
        polling_from(&gw, "http://localhost:5173").await.status(),
        200
    );
    gw.stop().await;
}

#[tokio::test]
async fn every_foreign_origin_is_still_refused() {
    let data = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(support::config(data.path())).await;
    let port = gw.addr.port();
    let foreign = [
        // Same host, another port: another origin.
        format!("http://127.0.0.1:{}", port + 1),
        // The same server by another name is not the name the request used.
        format!("http://localhost:{port}"),
        format!("http://{}.evil.test", gw.addr),
        format!("http://evil.test/{}", gw.addr),
        "http://evil.test".into(),
        "null".into(),
    ];
    let token = support::token("1", "ann");
    for origin in &foreign {
        let resp = polling_from(&gw, origin).await;
        assert_eq!(resp.status(), 403, "{origin}");
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
        let refused =
            SioClient::connect(gw.addr, json!({ "token": token }), &[("origin", origin)]).await;
        let err = refused
            .err()
            .unwrap_or_else(|| panic!("{origin} connected"));
        assert!(err.contains("403"), "{origin}: {err}");
    }
    gw.stop().await;
}
