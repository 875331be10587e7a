//! Integration tests: a real gateway in-process, real peers on loopback.

mod acks;
mod app;
mod backoff;
mod churn;
mod cli;
mod common;
mod mesh;
mod negotiation;
mod rest;
mod restart;
mod session;
