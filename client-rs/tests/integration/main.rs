//! Integration tests: a real gateway in-process, real peers on loopback.

mod churn;
mod common;
mod mesh;
mod negotiation;
