//! Room-wide events (`peer:joined`, `peer:left`, `media:state_changed`): to the
//! room's other members (or to given sockets), through the adapter, so they
//! reach members on any node.

use std::str::FromStr;

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SendError, SocketError};

use crate::cluster::adapter::NodeAdapter;

/// Emits `event` to every member of `room_id` but `socket` itself. Members
/// that are closing are skipped quietly (they leave the room next); any other
/// failure is a lost message and worth a warning.
pub async fn to_others<T: Serialize + ?Sized>(
    socket: &SocketRef<NodeAdapter>,
    room_id: &str,
    event: &str,
    payload: &T,
) {
    // `socket.to` excludes the socket and, unlike `SocketIo`, still works
    // while the server shuts down.
    report(
        event,
        socket.to(room_id.to_owned()).emit(event, payload).await,
    );
}

/// Emits `event` to the sockets of `ids`, wherever they are connected: in a
/// cluster through the adapter (there every socket is in a room named by its
/// own id, see `connection.rs`), on one node straight to each socket.
///
/// For news that must reach exactly a set of members, not whoever is in the
/// room when the message goes out: a socket that joined meanwhile already
/// knows, from its own `room:joined`.
pub async fn to_sockets<T: Serialize + ?Sized>(
    socket: &SocketRef<NodeAdapter>,
    clustered: bool,
    ids: Vec<String>,
    event: &str,
    payload: &T,
) {
    if ids.is_empty() {
        return;
    }
    if clustered {
        report(event, socket.to(ids).emit(event, payload).await);
        return;
    }
    // Looked up through the socket's own namespace handle, as relays are.
    let local = socket.broadcast();
    for id in ids {
        let Some(target) = Sid::from_str(&id)
            .ok()
            .and_then(|sid| local.get_socket(sid))
        else {
            continue; // gone meanwhile: it leaves the room next
        };
        match target.emit(event, payload) {
            Ok(()) | Err(SendError::Socket(SocketError::Closed)) => {}
            Err(e) => tracing::warn!(event, socket = %id, error = %e, "emit failed"),
        }
    }
}

fn report(event: &str, result: Result<(), BroadcastError>) {
    match result {
        Ok(()) => {}
        Err(BroadcastError::Socket(errors))
            if errors.iter().all(|e| matches!(e, SocketError::Closed)) =>
        {
            tracing::debug!(event, closed = errors.len(), "peers already closing");
        }
        Err(e) => tracing::warn!(event, error = %e, "broadcast failed"),
    }
}
