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
scripts/browser-test.sh   # the demo page in headless Chromium, browser <-> webrtc-client
echo "==> differential fuzzer (seeded, bounded: the same 120 cases per settings profile every run)"
conformance/run.sh fuzz --seed 1 --cases 120 --seconds 60 --profile default,compat,auth-event
echo "==> benchmark smoke (both servers, loss/misrouting checks)"
cargo build -p gateway -p bench
smoke_out="$(mktemp -d)"
trap 'rm -rf "$smoke_out"' EXIT
target/debug/bench smoke --no-build --gateway-bin target/debug/gateway --out "$smoke_out"
echo "==> soak, 30 s (gateway: no delivery lost, misrouted or cross-room; no clear RSS growth)"
# Debug binaries: the checks are deliveries and growth, not speed. A 20 s window
# cannot judge a slow trend (the 10-minute run in BENCHMARKS.md does): the slope
# bound is loose, the growth bound catches e.g. a session leaked per connection.
target/debug/bench soak --no-build --servers gateway --gateway-bin target/debug/gateway \
  --out "$smoke_out" --soak-secs 30 --soak-warmup-secs 10 \
  --soak-max-growth-mb 8 --soak-max-slope-mb-per-hour 1200
