//! Integration tests: a real gateway in-process, real peers on loopback.

mod acks;
mod app;
mod churn;
mod cli;
mod common;
mod mesh;
mod negotiation;
mod rest;
mod session;
