//! Rooms shared by every node of a cluster, in Redis. Each operation is one Lua
//! script (the `.lua` files in this folder), so a check and its write are one
//! atomic step whichever node asks: two nodes creating one code, thirty joins
//! on a ten-seat room. Scripts run by EVALSHA and are loaded again when Redis
//! answers NOSCRIPT (its script cache is empty after a restart).
//!
//! [`store`] holds the state, [`registry`] the room operations, [`liveness`]
//! the node's heartbeat, reconciliation and the reaping of dead nodes.

pub mod liveness;
pub mod registry;
pub mod store;
pub mod view;

pub use liveness::ViewChange;
pub use store::{Heartbeat, Liveness, RedisRooms};
pub use view::{Seen, View};
