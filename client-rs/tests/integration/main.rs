//! Integration tests: a real gateway in-process, real peers on loopback.

mod common;
mod mesh;
