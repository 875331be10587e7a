//! A socket's admission: who it is, decided before the CONNECT packet goes out
//! (PROTOCOL.md §2), and the session and inbox it gets.

use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::{SocketRef, State, TryData};
use tokio_util::task::TaskTracker;

use super::error::EventError;
use super::inbox::{Dispatcher, InFlight, Inbox};
use super::outbox::Outbox;
use super::session::Session;
use crate::auth::{self, Identity};
use crate::http::client_addr;
use crate::net::address::{self, Slot};
use crate::net::delivery::{Delivery, SessionPlace};
use crate::protocol::event;
use crate::state::AppState;

/// A handshake refusal as the client sees it (`connect_error`'s message):
/// why a credential was refused stays in the logs.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("Unauthorized")]
    Unauthorized,
    #[error("Too many sockets for this user")]
    TooManySockets,
}

/// Tasks of connected sockets and the events they hold, so that shutdown can
/// let queued relays go out before closing sockets, then wait for the tasks.
#[derive(Clone, Default)]
pub struct Sessions {
    pub tasks: TaskTracker,
    /// Events queued or being handled, across all sockets.
    pub in_flight: Arc<InFlight>,
}

impl Sessions {
    /// Resolves once no event is queued or being handled.
    pub async fn idle(&self) {
        self.in_flight.idle().await;
    }
}

/// Connect middleware: decides who the socket is, or refuses it with
/// `connect_error` "Unauthorized" (PROTOCOL.md §2). An admitted socket gets its
/// handlers and session here, because socketioxide awaits middlewares *before*
/// sending the CONNECT packet, whereas the connect handler runs as a spawned
/// task that a client emitting straight from its `connect` callback can outrun.
///
/// An address with too many refused handshakes lately is refused without its
/// credential being looked at; a user at `MAX_SOCKETS_PER_USER` is refused
/// another socket.
pub async fn admit(
    s: SocketRef,
    TryData(auth): TryData<Value>,
    State(state): State<Arc<AppState>>,
    State(sessions): State<Sessions>,
) -> Result<(), Refusal> {
    let parts = s.req_parts();
    let ip = client_addr::of_request(&parts.extensions, &parts.headers, &state.trusted_proxies)
        .map(address::key);
    let result = if ip.is_some_and(|ip| state.handshakes.blocked(ip)) {
        state.metrics.refusal("handshake_throttle").inc();
        Err(auth::AuthError::Throttled)
    } else {
        let result =
            match auth::credential::find(auth.as_ref().ok(), &parts.headers, parts.uri.query()) {
                Ok(credential) => state.auth.authenticate(credential).await,
                Err(e) => Err(e),
            };
        if let (Err(_), Some(ip)) = (&result, ip) {
            state.handshakes.failed(ip);
        }
        result
    };
    match result {
        Ok(identity) => {
            let Some(place) = state.user_sockets.take(identity.user_id.clone()) else {
                state.metrics.refusal("sockets_per_user").inc();
                tracing::debug!(socket = %s.id, user = %identity.user_id, "handshake refused: too many sockets");
                return Err(Refusal::TooManySockets);
            };
            start_session(s, identity, place, state, &sessions);
            Ok(())
        }
        Err(e) => {
            state.metrics.auth_failures.inc();
            tracing::debug!(socket = %s.id, reason = %e, "handshake refused");
            if state.auth_failure_as_event {
                Ok(())
            } else {
                Err(Refusal::Unauthorized)
            }
        }
    }
}

/// Connect handler. Admitted sockets are already served (see [`admit`]); only a
/// socket let in by `AUTH_FAILURE=event` reaches here without a session: it is
/// told why, then disconnected.
pub async fn connect(s: SocketRef, State(state): State<Arc<AppState>>) {
    if s.extensions.get::<Inbox>().is_none() {
        EventError::Unauthorized.send(&s, event::CONNECTION, &state.errors, None);
        let _ = s.disconnect();
    }
}

fn start_session(
    s: SocketRef,
    identity: Identity,
    user_place: Slot<String>,
    state: Arc<AppState>,
    sessions: &Sessions,
) {
    state.metrics.sockets.inc();
    let outbox = match s.req_parts().extensions.get::<SessionPlace>() {
        Some(place) => Outbox::new(state.limits.send_buffer, place.delivery.clone()),
        // Served without the Engine.IO guard: nothing would count deliveries.
        None => Outbox::new(usize::MAX, Delivery::new()),
    };
    s.extensions.insert(outbox);
    let session = Session {
        socket: s.clone(),
        state,
        identity,
        room: None,
        user_place,
    };
    let inbox = Inbox::new(session, sessions.tasks.clone(), sessions.in_flight.clone());
    s.extensions.insert(inbox.clone());
    s.on_fallback(Dispatcher);
    s.on_disconnect(move || {
        inbox.close();
        async {}
    });
}
