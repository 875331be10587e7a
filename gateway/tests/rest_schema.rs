//! The REST API's description is the router: `/openapi.json` lists exactly the
//! routes served, each request body is the typed struct the handler parses,
//! and anything else is a JSON 404.

mod support;

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestGateway;

/// The routes of PROTOCOL.md §6, as the router serves them.
const ROUTES: [(&str, &str); 11] = [
    ("post", "/register"),
    ("post", "/regenerate"),
    ("post", "/newpassword"),
    ("post", "/token"),
    ("get", "/me"),
    ("post", "/rooms"),
    ("get", "/rooms/{code}"),
    ("get", "/ice-servers"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

async fn doc(gw: &TestGateway) -> Value {
    let resp = reqwest::get(gw.url("/openapi.json")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_the_router_serves() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(support::config(dir.path())).await;
    let doc = doc(&gw).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Each documented operation reaches a handler: no route-level 404 or 405.
    let http = reqwest::Client::new();
    for (method, path) in &documented {
        let url = gw.url(&path.replace("{code}", "some-room"));
        let resp = match method.as_str() {
            "get" => http.get(url),
            _ => http.post(url).header("content-type", "application/json"),
        }
        .send()
        .await
        .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(body["error"]["code"], "NOT_FOUND", "{method} {path}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(support::config(dir.path())).await;
    for path in ["/nope", "/rooms", "/rooms/a/b"] {
        let resp = reqwest::get(gw.url(path)).await.unwrap();
        if path == "/rooms" {
            // A known path with another method: a 405 in the same shape.
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(resp.headers()["allow"], "POST");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(
                body,
                json!({ "error": { "code": "METHOD_NOT_ALLOWED", "message": "method not allowed" } })
            );
            continue;
        }
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "NOT_FOUND", "{path}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn request_bodies_are_the_parsed_types_and_their_keys_are_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(support::config(dir.path())).await;
    let doc = doc(&gw).await;
    let body_schema = |method: &str, path: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
            .to_string()
    };
    for (method, path, schema) in [
        ("post", "/register", "Credentials"),
        ("post", "/regenerate", "Credentials"),
        ("post", "/newpassword", "NewPassword"),
        ("post", "/token", "TokenRequest"),
        ("post", "/rooms", "CreateRoomRequest"),
    ] {
        assert!(
            body_schema(method, path).contains(&format!("#/components/schemas/{schema}")),
            "{path}: {}",
            body_schema(method, path)
        );
        // Every field of the type is one the body extractor knows how to
        // match without case (`{"Username"}` → `username`).
        let props = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has no properties"));
        for field in props.keys() {
            assert!(
                gateway::http::extract::FIELDS.contains(&field.as_str()),
                "{schema}.{field} is not in extract::FIELDS"
            );
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_a_json_400() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start(support::config(dir.path())).await;
    let jwt = support::token("u1", "alice");
    let resp = reqwest::Client::new()
        .get(gw.url("/rooms/%ff"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_PATH", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    gw.stop().await;
}
