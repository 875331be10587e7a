//! The demo call page (`web/`), served as static files at `/demo/` so a new
//! user reaches a working call with nothing but the gateway running.
//!
//! The page is built with Node (`npm --prefix web run build`) into a folder
//! the gateway reads at run time (`DEMO_DIR`), so the gateway itself never
//! needs Node; until the page is built, `/` and `/demo/` say how to build it.
//! Its Socket.IO requests come from the gateway's own origin, which the origin
//! policy lets in (`origin.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Where the page is mounted; the README names it.
pub const MOUNT: &str = "/demo/";

/// Scripts, styles and media only from the gateway itself; Socket.IO and the
/// REST API are same-origin (`connect-src 'self'` covers `ws:` to it); media
/// streams and received files are `blob:` URLs.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// `/` (to the page), `/demo` and the files under `/demo/`.
pub fn routes<S: Clone + Send + Sync + 'static>(dir: PathBuf) -> Router<S> {
    let built = Built(Arc::from(dir.as_path()));
    Router::new()
        .route("/", get(|| async { Redirect::temporary(MOUNT) }))
        .route("/demo", get(|| async { Redirect::permanent(MOUNT) }))
        .nest_service(MOUNT, ServeDir::new(&dir))
        .layer(middleware::from_fn_with_state(built, unbuilt))
        // Rebuilds show on the next reload; ServeDir answers revalidations
        // with 304 from the files' modification times.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

/// The folder of the built page.
#[derive(Clone)]
struct Built(Arc<Path>);

impl Built {
    /// Looked up on every request, so a page built after start-up shows.
    fn is_built(&self) -> bool {
        self.0.join("index.html").is_file()
    }
}

/// Answers every demo route with how to build the page while it is not built.
async fn unbuilt(State(built): State<Built>, req: Request, next: Next) -> Response {
    if built.is_built() {
        return next.run(req).await;
    }
    let status = if req.uri().path() == "/" {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    (status, Html(NOT_BUILT)).into_response()
}

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signaling gateway</title></head>
<body>
<h1>The signaling gateway is running</h1>
<p>Its demo call page is not built. In the repository, with Node 20 and npm, run</p>
<pre>npm --prefix web ci &amp;&amp; npm --prefix web run build</pre>
<p>then reload this page (the gateway serves <code>web/dist</code>, or the folder
<code>DEMO_DIR</code> names, at <code>/demo/</code>; <code>DEMO=false</code> turns it off).</p>
<p>Socket.IO is at <code>/socket.io/</code>; the REST API is described at
<a href="/openapi.json">/openapi.json</a>.</p>
</body></html>
"#;
