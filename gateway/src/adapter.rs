//! The Socket.IO adapter of the gateway's namespace, fixed in every socket's
//! type: one type that is either in-process or Redis-backed
//! ([`NodeAdapter`](crate::cluster::adapter::NodeAdapter)), chosen by
//! `REDIS_URL` at start-up, so that no handler carries a type parameter nor
//! names the cluster. Part of the assembly, like `state.rs`.

/// The adapter every socket of the namespace has.
pub type Adapter = crate::cluster::adapter::NodeAdapter;
/// A connected socket of the gateway's namespace.
pub type SocketRef = socketioxide::extract::SocketRef<Adapter>;
