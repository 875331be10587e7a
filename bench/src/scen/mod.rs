//! The scenarios, one file each, and what they share: the [`Scenario`] trait
//! the runner drives, the context every run gets, and opening many sockets.
//!
//! A new scenario is a file here implementing [`Scenario`] (its options are a
//! `clap::Args` struct, which is also what its results file records), a
//! file in `report/` with its section, and a line each in `main.rs` (run
//! it), `report/loaded.rs` (load its file) and `report/document.rs` (place
//! its section).

pub mod capacity;
pub mod cluster;
pub mod idle;
pub mod join;
pub mod relay;
mod scenario;
pub mod smoke;
pub mod soak;
mod sockets;

pub use scenario::Scenario;
pub use sockets::{Ctx, IdleSockets, connect_many};
