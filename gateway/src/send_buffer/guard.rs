//! What the gateway does around Engine.IO's own HTTP handling (`/socket.io/`):
//!
//! - A handshake (no `sid=`) takes one of its address's session places
//!   (`MAX_SOCKETS_PER_ADDRESS`), held for the whole Engine.IO session: the
//!   place rides in the request's extensions, which Engine.IO keeps as long as
//!   the session lives, so however the session ends the place comes back.
//! - Each session gets its [`Drain`] the same way, listed by session id
//!   once the id is known (the polling handshake's open packet), and bound to
//!   the WebSocket connection that carries it (direct, or the upgrade).
//! - A polling response counts the relays it carries into the drain once
//!   it is written out; a client that leaves more than its budget unread in
//!   the kernel's buffers of its earlier responses is cut off.
//! - A session cut off for reading too slowly is refused its requests, so its
//!   heartbeat goes unanswered and Engine.IO closes it.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use serde::Deserialize;

use crate::client_addr;
use crate::limits::per_key::{self, PerKey};
use crate::send_buffer::drain::{Drain, Drains, SessionPlace, relays_in_payload};
use crate::send_buffer::meter::Meter;

/// The middleware's state.
#[derive(Clone)]
pub struct EngineIoGuard {
    pub drains: Drains,
    pub sessions: Arc<PerKey<IpAddr>>,
    /// `TRUSTED_PROXIES`, for the client's address behind them.
    pub trusted: Arc<Vec<ipnet::IpNet>>,
    pub refused: prometheus_client::metrics::counter::Counter,
    /// `MAX_SEND_BUFFER`: also the most a polling session's client may
    /// leave unread in the kernel's buffers of its earlier responses.
    pub max_unread: u64,
    /// Sessions cut off for leaving that much unread.
    pub unread_cutoffs: prometheus_client::metrics::counter::Counter,
}

/// The Engine.IO parameters of a request.
struct Params {
    websocket: bool,
    sid: Option<String>,
}

fn params(req: &Request) -> Option<Params> {
    if !req.uri().path().starts_with("/socket.io") {
        return None;
    }
    let mut params = Params {
        websocket: false,
        sid: None,
    };
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        match &*k {
            "transport" => params.websocket = v == "websocket",
            "sid" => params.sid = Some(v.into_owned()),
            _ => {}
        }
    }
    Some(params)
}

/// `axum::middleware::from_fn_with_state` step in front of the Socket.IO layer.
pub async fn guard(State(guard): State<EngineIoGuard>, mut req: Request, next: Next) -> Response {
    let Some(params) = params(&req) else {
        return next.run(req).await;
    };
    if req.method() == Method::OPTIONS {
        return next.run(req).await;
    }
    // Taken out: Engine.IO keeps a session's request parts for its whole
    // life, and needs no handle on the connection.
    let meter = req.extensions_mut().remove::<Arc<Meter>>();
    match params.sid {
        None => {
            let client = client_addr::of_request(req.extensions(), req.headers(), &guard.trusted);
            let slot = match client {
                Some(ip) => match guard.sessions.take(per_key::key(ip)) {
                    Some(slot) => Some(slot),
                    None => {
                        guard.refused.inc();
                        return refuse(StatusCode::TOO_MANY_REQUESTS, TOO_MANY);
                    }
                },
                None => None,
            };
            let drain = Drain::holding(slot);
            req.extensions_mut().insert(SessionPlace(drain.clone()));
            let res = next.run(req).await;
            if params.websocket {
                upgraded(&res, meter.as_ref(), &drain);
                res
            } else {
                list_opened(res, &guard.drains, &drain).await
            }
        }
        Some(sid) => {
            let drain = guard.drains.get(&sid);
            if drain.as_ref().is_some_and(|d| d.is_cut()) {
                return refuse(StatusCode::BAD_REQUEST, UNKNOWN_SESSION);
            }
            let polling = req.method() == Method::GET && !params.websocket;
            if polling
                && let (Some(drain), Some(meter)) = (&drain, &meter)
                && drain.unsent_elsewhere(Arc::as_ptr(meter).cast()) > guard.max_unread
            {
                // A client that reads its responses has none left unsent
                // before it asks for the next; this one asks on and on.
                tracing::debug!(%sid, "polling session cut off: earlier responses unread");
                guard.unread_cutoffs.inc();
                drain.cut();
                return refuse(StatusCode::BAD_REQUEST, UNKNOWN_SESSION);
            }
            let res = next.run(req).await;
            match drain {
                Some(drain) if params.websocket => {
                    upgraded(&res, meter.as_ref(), &drain);
                    res
                }
                Some(drain) if polling => count_relays(res, &drain, meter.as_ref()).await,
                _ => res,
            }
        }
    }
}

const TOO_MANY: &str = r#"{"code":3,"message":"Too many sessions from this address"}"#;
const UNKNOWN_SESSION: &str = r#"{"code":"1","message":"Session ID unknown"}"#;

fn refuse(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A `101 Switching Protocols` is about to go out on `meter`'s connection:
/// the frames after it carry `drain`'s session.
fn upgraded(res: &Response, meter: Option<&Arc<Meter>>, drain: &Arc<Drain>) {
    if res.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(meter) = meter
    {
        meter.upgrading();
        meter.bind(drain);
    }
}

/// Lists the session a polling handshake opened, by the id in its open
/// packet (`0{"sid":…}`), so that its later requests find their drain.
async fn list_opened(res: Response, drains: &Drains, drain: &Arc<Drain>) -> Response {
    #[derive(Deserialize)]
    struct Open {
        sid: String,
    }
    if res.status() != StatusCode::OK {
        return res;
    }
    let (parts, body) = res.into_parts();
    // The open packet is one small, complete chunk.
    let Ok(bytes) = axum::body::to_bytes(body, 4096).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
    };
    if let Some(open) = bytes
        .strip_prefix(b"0")
        .and_then(|json| serde_json::from_slice::<Open>(json).ok())
    {
        drains.list(&open.sid, drain);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Counts the relays a polling response carries, as delivered once the
/// response is written out on `meter`'s connection (at once without one).
/// Engine.IO builds the payload whole (it has already left its queue), so
/// reading it costs no wait.
async fn count_relays(res: Response, drain: &Arc<Drain>, meter: Option<&Arc<Meter>>) -> Response {
    let (parts, body) = res.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            let relays = relays_in_payload(&bytes);
            match meter {
                Some(meter) if relays > 0 => meter.owe(drain, relays, bytes.len() as u64),
                _ => drain.add(relays),
            }
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(_) => Response::from_parts(parts, Body::empty()),
    }
}
