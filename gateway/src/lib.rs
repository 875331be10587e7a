//! A Socket.IO WebRTC signaling gateway: a drop-in replacement for a NestJS
//! `@WebSocketGateway`. The wire contract is `docs/PROTOCOL.md`.
//!
//! Where things are:
//! - [`protocol`]: the contract's words (event names, relay kinds, error codes).
//! - [`events`]: one module per event family; the event table is [`events::dispatch`]
//!   (and its hot path [`events::dispatch_now`]).
//! - [`rooms`]: room state behind the [`rooms::RoomRegistry`] interface.
//! - [`auth`]: which credential a handshake carries and who it names.
//! - [`http`]: REST routes (accounts, rooms, ops), their errors, and the origin policy.
//! - [`accounts`]: users, passwords and API keys in SQLite or PostgreSQL.
//! - [`app_data`]: the app's own users and rooms (its database or API), when configured.
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
