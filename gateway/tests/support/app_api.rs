//! The app's API, as a test stands it up: users and rooms over HTTP, and
//! endpoints that fail in each way an API can.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// What the API saw: (path, Authorization, Cookie) of each request.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<(String, String, String)>>>);

pub struct AppApi {
    pub base: String,
    pub seen: Seen,
    pub failing: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AppApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct ApiState {
    seen: Seen,
    failing: Arc<Mutex<bool>>,
}

fn record(s: &ApiState, path: String, h: &HeaderMap) {
    let header = |name| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    s.seen
        .0
        .lock()
        .unwrap()
        .push((path, header("authorization"), header("cookie")));
}

async fn user(State(s): State<ApiState>, Path(id): Path<String>, h: HeaderMap) -> Response {
    record(&s, format!("/users/{id}"), &h);
    if *s.failing.lock().unwrap() {
        return StatusCode::BAD_GATEWAY.into_response();
    }
    let auth = h.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some("Bearer svc-token") && auth != Some("Bearer caller.jwt.token") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match id.as_str() {
        // A Prisma entity as a NestJS controller returns it: e-mail included.
        "ck1" => Json(json!({ "id": "ck1", "email": "ann@mail.example.test", "username": "ann", "tokenVersion": 2 })).into_response(),
        "ck 2/é" => Json(json!({ "username": "odd" })).into_response(),
        "ck-long" => Json(json!({ "username": "é".repeat(10_000) })).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn room(
    State(s): State<ApiState>,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let who = q.get("user").cloned().unwrap_or_default();
    record(&s, format!("/rooms/{code}?user={who}"), &h);
    match (code.as_str(), who.as_str()) {
        ("team-sync", _) => Json(json!({ "code": "team-sync", "maxPeers": 4 })).into_response(),
        ("private", "owner") => Json(json!({ "max_peers": 2 })).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn start() -> AppApi {
    let seen = Seen::default();
    let failing = Arc::new(Mutex::new(false));
    let app =
        Router::new()
            .route("/users/{id}", get(user))
            .route("/rooms/{code}", get(room))
            .route(
                "/slow/{id}",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Json(json!({ "username": "late" }))
                }),
            )
            .route("/big/{id}", get(|| async { "x".repeat(100_000) }))
            .route("/not-json/{id}", get(|| async { "<html>hello</html>" }))
            .route(
                "/moved/{id}",
                get(|Path(id): Path<String>| async move {
                    Redirect::temporary(&format!("/users/{id}"))
                }),
            )
            .with_state(ApiState {
                seen: seen.clone(),
                failing: failing.clone(),
            });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    AppApi {
        base,
        seen,
        failing,
        task,
    }
}
