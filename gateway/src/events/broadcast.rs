//! Room-wide events (`peer:joined`, `peer:left`, `media:state_changed`): to the
//! room's other members (or to given sockets), through the adapter, so they
//! reach members on any node.

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::{BroadcastError, SocketError};

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

/// Emits `event` to the sockets of `ids`, wherever they are connected. In a
/// cluster only: there every socket is in a room named by its own id (see
/// `connection.rs`).
pub async fn to_sockets<T: Serialize + ?Sized>(
    socket: &SocketRef<NodeAdapter>,
    ids: Vec<String>,
    event: &str,
    payload: &T,
) {
    if ids.is_empty() {
        return;
    }
    report(event, socket.to(ids).emit(event, payload).await);
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
