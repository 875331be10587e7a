//! A cluster of gateways over Redis (PROTOCOL.md §8): with `REDIS_URL` set, rooms
//! live in the shared [`RedisRooms`](crate::rooms::redis::RedisRooms) registry,
//! room events travel through the Socket.IO Redis adapter ([`adapter`]) and
//! relays on each node's own channel ([`relay`]), so any node serves any
//! client. [`setup`] connects a node at start-up ([`redis`]: the connections);
//! [`node`] keeps it alive and reaps dead ones. Without `REDIS_URL` nothing here
//! runs but the in-process adapter.

pub mod adapter;
pub mod delivery;
pub mod link;
pub mod node;
pub mod redis;
pub mod relay;
pub mod setup;
pub mod wire;

pub use delivery::{ClusterDelivery, RelayArrivals};
pub use setup::{Cluster, ClusterError};
