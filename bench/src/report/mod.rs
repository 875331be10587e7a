//! BENCHMARKS.md and the plots, generated from bench/results/*.json.

mod capacity;
mod cluster;
mod document;
mod idle;
mod instructions;
mod join;
mod loaded;
mod plots;
mod relay;
mod soak;
mod table;

pub use document::write;
