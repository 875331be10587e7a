//! A cluster of gateways over Redis (PROTOCOL.md §8): with `REDIS_URL` set, rooms
//! live in the shared [`RedisRooms`](crate::rooms::redis::RedisRooms) registry
//! and each node reads one channel of its own ([`relay`]), on which every other
//! node sends it, in one ordered stream, the relays for its sockets and the
//! room events for its members, batched ([`link`], [`wire`]); so any node serves
//! any client. [`delivery`] decides what goes where, from the node's view of
//! its rooms. [`setup`] connects a node at start-up ([`redis`]: the
//! connections); [`node`] keeps it alive and reaps dead ones, whose rooms
//! [`reaped`] tells. No Socket.IO adapter crosses nodes: the namespace's is
//! the in-process one, on one node as in a cluster (README "Cluster").

mod arrived;
pub mod delivery;
pub mod link;
mod lost;
pub mod node;
pub mod reaped;
pub mod redis;
pub mod relay;
pub mod setup;
pub mod wire;

pub use delivery::{ClusterDelivery, RelayArrivals};
pub use setup::{Cluster, ClusterError};
