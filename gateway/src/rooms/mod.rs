//! Where rooms live. Every node asks the same [`RoomRegistry`] who is in which
//! room; [`memory::MemoryRooms`] keeps that state in this process, and
//! [`redis::RedisRooms`] shares it between the nodes of a cluster.
//! The interface and its data are in [`registry`], room codes in [`code`], the
//! create request shared by `create:room` and `POST /rooms` in [`request`],
//! and the caps on live rooms, in front of any registry, in [`quota`];
//! [`turns`] orders one room's changes on this node with the news they send.
//! When the app owns its rooms, [`app::AppRoomRegistry`] sits in front of the
//! registry and asks the app about codes the registry does not know.

pub mod app;
pub mod code;
pub mod memory;
pub mod quota;
pub mod redis;
pub mod registry;
pub mod request;
pub mod turns;

pub use code::RoomCode;
pub use quota::{RoomCaps, RoomQuota};
pub use registry::{
    Departed, Joined, Member, RoomError, RoomInfo, RoomPolicy, RoomRegistry, RoomSnapshot,
    Whereabouts,
};
pub use request::{CreateRoom, CreateRoomRequest};
pub use turns::RoomTurns;
