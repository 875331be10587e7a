//! How a message reaches its peers: one interface, [`Delivery`], chosen once at
//! start-up: [`local::LocalDelivery`] on one node, `cluster::ClusterDelivery`
//! in a cluster. Handlers say what goes to whom; they never ask where the
//! target is connected.
//!
//! Every relay ends in the target's outbox on the target's own node
//! ([`local::hand_over`]), so `MAX_SEND_BUFFER` bounds what any sender anywhere
//! can make a node hold for a socket.

pub mod interface;
pub mod local;

pub use interface::{Delivery, Later, Relay, Undelivered, report};
pub use local::LocalDelivery;
