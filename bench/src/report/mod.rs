//! BENCHMARKS.md and the plots, generated from bench/results/*.json.

mod capacity;
mod cluster;
mod document;
mod idle;
mod join;
mod loaded;
mod plots;
mod relay;
mod soak;
mod table;

pub use document::write;
