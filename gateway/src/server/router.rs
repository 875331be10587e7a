//! The HTTP side: REST routes and the demo page, with Socket.IO mounted
//! under the engine guard, the request-head trimming, CORS and the origin
//! policy around everything.

use std::sync::Arc;

use axum::Router;
use socketioxide::layer::SocketIoLayer;

use crate::adapter::Adapter;
use crate::config::Config;
use crate::http::origin::{self, Origins};
use crate::http::{self, HttpState, Readiness};
use crate::limits::per_key::PerKey;
use crate::limits::rest::RestLimits;
use crate::send_buffer::drain::Drains;
use crate::send_buffer::guard::{self, EngineIoGuard};
use crate::state::AppState;

use super::background;

pub(super) fn build(
    config: &Config,
    state: &Arc<AppState>,
    socket_io: SocketIoLayer<Adapter>,
    ready: Readiness,
) -> Router {
    let origins = Origins::new(&config.http.client_urls);
    let engine_guard = EngineIoGuard {
        drains: Drains::default(),
        sessions: PerKey::new(config.limits.max_sockets_per_address),
        trusted: Arc::new(config.limits.trusted_proxies.clone()),
        refused: state.metrics.refusal("sockets_per_address"),
        max_unread: config.limits.max_send_buffer,
        unread_cutoffs: state.metrics.refusal("polling_unread"),
    };
    let limits = Arc::new(RestLimits::new(&config.limits));
    background::housekeeping(&limits, state);
    let mut router = Router::new().merge(http::routes(HttpState {
        app: state.clone(),
        ready,
        limits,
    }));
    if config.http.demo {
        router = router.merge(http::demo::routes(config.http.demo_dir.clone()));
    }
    router
        .layer(socket_io)
        .layer(axum::middleware::from_fn_with_state(
            engine_guard,
            guard::guard,
        ))
        // Before engineioxide keeps the request parts for a socket's life.
        .layer(axum::middleware::map_request(http::request_head::detach))
        .layer(origins.cors())
        .layer(axum::middleware::from_fn_with_state(origins, origin::guard))
}
