//! The HTTP side of the gateway: operational routes and the origin policy that
//! guards the Socket.IO endpoint.

pub mod ops;
pub mod origin;
