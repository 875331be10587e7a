//! A socket's machinery: admission, session, the in-order inbox, packets, replies and errors.

pub mod admission;
pub mod error;
pub mod inbox;
pub mod packet;
pub mod reply;
pub mod session;
pub mod sessions;
