//! One connected socket: who it is and which room it is in. Plain context for
//! the handlers; its events are handled one at a time, in order, by the inbox's
//! drain (see [`crate::socket::inbox`]), which also ends it.

use std::sync::Arc;

use socketioxide::extract::SocketRef;

use crate::adapter::Adapter;
use crate::auth::Identity;
use crate::limits::per_key::Slot;
use crate::rooms::RoomInfo;
use crate::socket::reply::Replies;
use crate::state::AppState;

pub struct Session {
    pub socket: SocketRef<Adapter>,
    pub state: Arc<AppState>,
    pub identity: Identity,
    /// The one room this socket is in, if any.
    pub room: Option<RoomInfo>,
    /// This socket's place among its user's sockets, given back with the
    /// session.
    pub user_place: Slot<String>,
    /// Its replies still to send in order ([`Replies`]).
    pub replies: Replies,
}

impl Session {
    pub fn id(&self) -> String {
        self.socket.id.to_string()
    }
}
