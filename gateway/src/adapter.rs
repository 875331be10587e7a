//! The Socket.IO adapter of the gateway's namespace, fixed in every socket's
//! type: socketioxide's in-process one, on one node and in a cluster alike.
//! A cluster's nodes reach each other on channels of their own
//! ([`cluster`](crate::cluster)), not through a Socket.IO adapter, so no
//! handler carries a type parameter nor names the cluster. Part of the
//! assembly, like `state.rs`.

/// The adapter every socket of the namespace has.
pub type Adapter = socketioxide::adapter::LocalAdapter;
/// A connected socket of the gateway's namespace.
pub type SocketRef = socketioxide::extract::SocketRef<Adapter>;
