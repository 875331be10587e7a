//! A Socket.IO WebRTC signaling gateway: a drop-in replacement for a NestJS
//! `@WebSocketGateway`. The wire contract is `docs/PROTOCOL.md`.
//!
//! Where things are (the README's Layout section has the whole map):
//! - [`protocol`]: the contract's words (event names, relay kinds, error codes).
//! - [`events`]: where events are handled, one module per event family, and the event table.
//! - [`socket`]: a socket's machinery (admission, session, inbox, replies, errors).
//! - [`delivery`]: how a message reaches its peers, here or on other nodes.
//! - [`rooms`]: where rooms live, behind the [`rooms::RoomRegistry`] interface.
//! - [`auth`]: where identity is decided; [`accounts`]: users, passwords, API keys.
//! - [`limits`]: every bound a client can meet; [`send_buffer`]: the slow-reader budget.
//! - [`http`]: REST routes and the origin policy; [`net`]: the accept loop.
//! - [`cluster`]: a node in a Redis cluster; [`app_data`]: the app's own users and rooms.
//! - [`server`]: assembly and graceful shutdown; [`config`]: every setting.

pub mod accounts;
pub mod adapter;
pub mod app_data;
pub mod auth;
pub mod client_addr;
pub mod cluster;
pub mod config;
pub mod delivery;
pub mod events;
pub mod http;
pub mod ice;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod rooms;
pub mod secret;
pub mod send_buffer;
pub mod server;
pub mod shutdown;
pub mod socket;
pub mod state;

pub use config::Config;
pub use server::{Gateway, StartError};
