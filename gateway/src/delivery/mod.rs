//! How messages reach peers.

pub mod local;
