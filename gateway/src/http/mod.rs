//! The HTTP side of the gateway: REST routes grouped by concern (accounts,
//! rooms, ops), their error mapping, the origin policy that guards the
//! Socket.IO endpoint, and the demo page's static files.

pub mod accounts;
pub mod demo;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod ops;
pub mod origin;
pub mod request_head;
pub mod rooms;
pub mod state;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use state::{HttpState, Readiness};

/// REST bodies are small JSON objects.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Every REST route, with `/openapi.json` describing exactly the routes
/// registered here; anything else is a JSON 404 (or 405 for a known path).
pub fn routes(state: HttpState) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(accounts::routes())
        .merge(rooms::routes())
        .merge(ops::routes())
        .split_for_parts();
    router
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .fallback(|| async { error::ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
