//! Browser origins: CORS with credentials for the `CLIENT_URL` origins, and a
//! guard that refuses Socket.IO requests — the WebSocket upgrade included, which
//! CORS does not cover — from any other origin. Requests without `Origin`
//! (native clients) pass.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The allowed origins, compared exactly as browsers send them.
#[derive(Clone)]
pub struct Origins(Arc<Vec<HeaderValue>>);

impl Origins {
    pub fn new(urls: &[String]) -> Self {
        let list = urls
            .iter()
            .filter_map(|u| HeaderValue::from_str(u.trim_end_matches('/')).ok())
            .collect();
        Self(Arc::new(list))
    }

    pub fn allows(&self, origin: &HeaderValue) -> bool {
        self.0.iter().any(|o| o == origin)
    }

    pub fn cors(&self) -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.0.iter().cloned()))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
    }
}

/// Refuses `/socket.io/` requests from a foreign `Origin` with 403.
pub async fn guard(State(origins): State<Origins>, req: Request, next: Next) -> Response {
    let foreign = req.uri().path().starts_with("/socket.io")
        && req.method() != Method::OPTIONS
        && req
            .headers()
            .get(header::ORIGIN)
            .is_some_and(|o| !origins.allows(o));
    if foreign {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(r#"{"code":4,"message":"Forbidden"}"#),
        )
            .into_response();
    }
    next.run(req).await
}
