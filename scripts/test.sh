#!/usr/bin/env bash
# Runs every test of the project: formatting and lints, the Rust workspace
# (gateway, client, bench), the conformance suite against the NestJS reference,
# the gateway and a 3-node gateway cluster, and a short benchmark smoke run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo test"
cargo test --workspace
echo "==> conformance suite (reference, gateway, 3-node cluster)"
conformance/run.sh all
echo "==> benchmark smoke (both servers, loss/misrouting checks)"
cargo build -p gateway -p bench
smoke_out="$(mktemp -d)"
trap 'rm -rf "$smoke_out"' EXIT
target/debug/bench smoke --no-build --gateway-bin target/debug/gateway --out "$smoke_out"
