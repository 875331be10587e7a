//! The scenarios the bench runs, one module each, and what they share.
//!
//! Shared: the [`Scenario`] trait the runner drives, the context every run
//! gets ([`Ctx`]: the servers under test, the clients, measurement windows),
//! and opening many sockets.
//!
//! A new scenario is a module here whose options (a `clap::Args` struct,
//! which is also what its results file records) implement [`Scenario`], a
//! file in `report/` with its section, and a line each in `main.rs` (run
//! it), `report/loaded.rs` (load its file) and `report/document.rs` (place
//! its section).

pub mod capacity;
pub mod cluster;
mod ctx;
pub mod idle;
pub mod instructions;
pub mod join;
pub mod memory;
pub mod relay;
mod scenario;
pub mod smoke;
pub mod soak;
mod sockets;

pub use ctx::{Clients, Ctx, Failures};
pub use scenario::Scenario;
pub use sockets::{IdleSockets, connect_many};
