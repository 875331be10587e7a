//! The processes a run needs, from building them to stopping them.
//!
//! The server under test (the gateway or the reference), several of them with
//! their own environment (cluster nodes), and helpers such as a `redis-server`.

mod build;
mod process;
mod spec;
mod target;

pub use build::build;
pub use process::kill_all_children;
pub use spec::{Kind, Setup, Spec, free_port};
pub use target::Target;
