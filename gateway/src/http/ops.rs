//! `/healthz`, `/readyz`, `/metrics`.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::HttpState;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// `{ "status": … }`
#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Status)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the stores (and the app's database or API, when configured)
/// answer, and the gateway is not shutting down.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Status), (status = 503, body = Status)))]
pub async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    if !s.ready.0.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting down" })),
        );
    }
    if !s.app.delivery.ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "cluster channels unavailable" })),
        );
    }
    if let Err(e) = s.app.rooms.count().await {
        tracing::warn!(error = %e, "room store not ready");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "room store unavailable" })),
        );
    }
    if let Err((what, e)) = s.app.app_data.check().await {
        tracing::warn!(error = %e, "{what} not ready");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": format!("{what} unavailable") })),
        );
    }
    (StatusCode::OK, Json(json!({ "status": "ready" })))
}

/// Prometheus metrics, in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    if let Ok(n) = s.app.rooms.count().await {
        s.app
            .metrics
            .rooms
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.app.metrics.render(),
    )
}
