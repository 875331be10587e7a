//! A socket's admission: who it is, decided before the CONNECT packet goes out
//! (PROTOCOL.md §2), and the session and inbox it gets.

use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::{SocketRef, State, TryData};

use crate::adapter::Adapter;
use crate::auth::{self, AuthError, Identity};
use crate::client_addr;
use crate::limits::per_key::{self, Slot};
use crate::protocol::event;
use crate::send_buffer::drain::{Drain, SessionPlace};
use crate::send_buffer::outbox::Outbox;
use crate::socket::error::EventError;
use crate::socket::inbox::{Dispatcher, Inbox};
use crate::socket::reply::Replies;
use crate::socket::session::Session;
use crate::socket::sessions::Sessions;
use crate::state::AppState;

/// The handshake refusal as the client sees it (`connect_error`'s message):
/// the reason stays in the logs.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("Unauthorized")]
    Unauthorized,
    /// The app could not be asked who the user is: not the client's fault,
    /// and not a reason for a frontend to log its user out.
    #[error("Service unavailable")]
    Unavailable,
    #[error("Too many sockets for this user")]
    TooManySockets,
}

/// Why an `AUTH_FAILURE=event` socket is about to be told off and disconnected.
#[derive(Clone)]
struct Refusal(EventError);

/// Connect middleware: decides who the socket is, or refuses it with
/// `connect_error` "Unauthorized" (PROTOCOL.md §2; "Service unavailable" when
/// the app's user lookup did not answer). An admitted socket gets its
/// handlers and session here, because socketioxide awaits middlewares *before*
/// sending the CONNECT packet, whereas the connect handler runs as a spawned
/// task that a client emitting straight from its `connect` callback can outrun:
/// its events wait in the inbox until [`connect`] starts it.
///
/// An address with too many refused handshakes lately is refused without its
/// credential being looked at; a user at `MAX_SOCKETS_PER_USER` is refused
/// another socket.
pub async fn admit(
    s: SocketRef<Adapter>,
    TryData(auth): TryData<Value>,
    State(state): State<Arc<AppState>>,
    State(sessions): State<Sessions>,
) -> Result<(), Refused> {
    let parts = s.req_parts();
    let ip = client_addr::of_request(&parts.extensions, &parts.headers, &state.trusted_proxies)
        .map(per_key::key);
    let result = if ip.is_some_and(|ip| state.handshakes.blocked(ip)) {
        state.metrics.refusal("handshake_throttle").inc();
        Err(AuthError::Throttled)
    } else {
        let result =
            match auth::credential::find(auth.as_ref().ok(), &parts.headers, parts.uri.query()) {
                Ok(credential) => state.auth.authenticate(credential).await,
                Err(e) => Err(e),
            };
        // A lookup that failed is not the client's failure.
        if let (Err(e), Some(ip)) = (&result, ip)
            && !matches!(e, AuthError::Lookup(_))
        {
            state.handshakes.failed(ip);
        }
        result
    };
    match result {
        Ok(identity) => {
            let Some(place) = state.user_sockets.take(identity.user_id.clone()) else {
                state.metrics.refusal("sockets_per_user").inc();
                tracing::debug!(socket = %s.id, user = %identity.user_id, "handshake refused: too many sockets");
                return Err(Refused::TooManySockets);
            };
            start_session(s, identity, place, state, &sessions);
            Ok(())
        }
        Err(e) => {
            state.metrics.auth_failures.inc();
            let told = match e {
                AuthError::Lookup(e) => {
                    tracing::warn!(socket = %s.id, reason = %e, "handshake refused: user lookup failed");
                    EventError::Unavailable(e.to_string())
                }
                AuthError::UnknownUser => EventError::UserNotFound,
                e => {
                    tracing::debug!(socket = %s.id, reason = %e, "handshake refused");
                    EventError::Unauthorized
                }
            };
            if state.auth_failure_as_event {
                s.extensions.insert(Refusal(told));
                Ok(())
            } else if matches!(told, EventError::Unavailable(_)) {
                Err(Refused::Unavailable)
            } else {
                Err(Refused::Unauthorized)
            }
        }
    }
}

/// Connect handler, run once the socket is marked connected. An admitted
/// socket's inbox (see [`admit`]) starts handling its events here: what a
/// handler emits to a socket not yet marked connected is dropped. A socket let
/// in by `AUTH_FAILURE=event` has no inbox: it is told why, then disconnected.
pub async fn connect(s: SocketRef<Adapter>, State(state): State<Arc<AppState>>) {
    match s.extensions.get::<Inbox>() {
        Some(inbox) => inbox.start(),
        None => {
            let told = s
                .extensions
                .get::<Refusal>()
                .map_or(EventError::Unauthorized, |r| r.0);
            told.send(&s, event::CONNECTION, &state.errors, None);
            // A client's packet for a namespace socket that is gone makes
            // socketioxide close the transport, dropping what is still queued
            // (the error events, the DISCONNECT): the events a frontend sends
            // on `connect` arrive (and are ignored: there is no handler) first.
            tokio::time::sleep(REFUSAL_GRACE).await;
            let _ = s.disconnect();
        }
    }
}

/// How long a socket refused in `AUTH_FAILURE=event` mode stays connected
/// (without handlers) after being told why.
const REFUSAL_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

fn start_session(
    s: SocketRef<Adapter>,
    identity: Identity,
    user_place: Slot<String>,
    state: Arc<AppState>,
    sessions: &Sessions,
) {
    state.metrics.sockets.inc();
    let outbox = match s.req_parts().extensions.get::<SessionPlace>() {
        Some(SessionPlace(drain)) => {
            state
                .outboxes
                .open(s.id, state.limits.send_buffer, drain.clone())
        }
        // Served without the Engine.IO guard: nothing would count what the socket reads, so no budget.
        None => Outbox::unbounded(Drain::new()),
    };
    s.extensions.insert(outbox);
    let session = Session {
        socket: s.clone(),
        state,
        identity,
        room: None,
        user_place,
        replies: Replies::new(sessions.tasks.clone()),
    };
    let inbox = Inbox::new(session, sessions.clone());
    s.extensions.insert(inbox.clone());
    s.on_fallback_checked(Dispatcher);
    s.on_disconnect(move || {
        inbox.close();
        async {}
    });
}
