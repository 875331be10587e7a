//! Browser origins: CORS with credentials for the `CLIENT_URL` origins and the
//! gateway's own origin, and a guard that refuses Socket.IO requests — the
//! WebSocket upgrade included, which CORS does not cover — from any other
//! origin. Requests without `Origin` (native clients) pass.
//!
//! The gateway's own origin is that of a page it served itself (the demo
//! page, `demo.rs`): an `Origin` naming exactly the authority of the request's
//! `Host`. Browsers set both headers and pages cannot change them, so a page
//! served from anywhere else never passes for it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
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

    /// Whether a request to `host` (its `Host` header) from `origin` is let in:
    /// a `CLIENT_URL` origin, or the gateway's own.
    pub fn allows(&self, origin: &HeaderValue, host: Option<&str>) -> bool {
        self.0.iter().any(|o| o == origin) || host.is_some_and(|h| same_origin(origin, h))
    }

    pub fn cors(&self) -> CorsLayer {
        let origins = self.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, parts| {
                origins.allows(origin, host(&parts.headers, &parts.uri))
            }))
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

/// `http://<host>` or `https://<host>` (TLS ends at a proxy in front of the
/// gateway), compared without case as host names are; browsers leave default
/// ports out of both headers alike.
fn same_origin(origin: &HeaderValue, host: &str) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| !a.is_empty() && a.eq_ignore_ascii_case(host))
}

/// The authority the request was sent to: `Host`, or the URI's (HTTP/2's
/// `:authority`, an absolute-form request line).
fn host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    match headers.get(header::HOST) {
        Some(h) => h.to_str().ok(),
        None => uri.authority().map(|a| a.as_str()),
    }
}

/// Refuses `/socket.io/` requests from a foreign `Origin` with 403.
pub async fn guard(State(origins): State<Origins>, req: Request, next: Next) -> Response {
    let foreign = req.uri().path().starts_with("/socket.io")
        && req.method() != Method::OPTIONS
        && req
            .headers()
            .get(header::ORIGIN)
            .is_some_and(|o| !origins.allows(o, host(req.headers(), req.uri())));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(origin: &str, host: Option<&str>) -> bool {
        Origins::new(&["http://localhost:5173".into()])
            .allows(&HeaderValue::from_str(origin).unwrap(), host)
    }

    #[test]
    fn client_url_origins_pass_whatever_the_host() {
        assert!(allows("http://localhost:5173", Some("gw.example.test")));
        assert!(allows("http://localhost:5173", None));
    }

    #[test]
    fn the_gateways_own_origin_passes() {
        assert!(allows("http://127.0.0.1:3000", Some("127.0.0.1:3000")));
        assert!(allows("http://Localhost:3000", Some("localhost:3000")));
        assert!(allows("https://gw.example.test", Some("gw.example.test")));
    }

    #[test]
    fn any_other_origin_is_foreign() {
        // Another port, another host, a longer name, a path, no scheme, `null`.
        assert!(!allows("http://127.0.0.1:3001", Some("127.0.0.1:3000")));
        assert!(!allows("http://evil.test", Some("127.0.0.1:3000")));
        assert!(!allows(
            "http://127.0.0.1:3000.evil.test",
            Some("127.0.0.1:3000")
        ));
        assert!(!allows("http://127.0.0.1:3000/x", Some("127.0.0.1:3000")));
        assert!(!allows("127.0.0.1:3000", Some("127.0.0.1:3000")));
        assert!(!allows("ws://127.0.0.1:3000", Some("127.0.0.1:3000")));
        assert!(!allows("null", Some("null")));
        assert!(!allows("http://", Some("")));
        assert!(!allows("http://127.0.0.1:3000", None));
    }
}
