#!/usr/bin/env bash
# Runs the conformance suite.
#
#   conformance/run.sh reference   the NestJS reference (conformance/reference)
#   conformance/run.sh gateway     the Rust gateway ($GATEWAY_BIN, or cargo build -p gateway)
#   conformance/run.sh cluster     3 gateways on a redis-server of their own, behind a
#                                  round-robin balancer sticky per session (lib/balancer.js)
#   conformance/run.sh url         an existing deployment: TARGET_URL + JWT_SECRET
#                                  (TARGET_ORIGIN = its CLIENT_URL, default http://localhost:5173)
#   conformance/run.sh all         reference, then gateway, then cluster
#   conformance/run.sh fuzz        the differential fuzzer on both (fuzz/fuzz.js; its options follow)
#
# Extra arguments after the mode go to `node --test` (e.g. --test-name-pattern=ROOM_FULL).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
MODE="${1:-reference}"
shift || true

# Every target process the tests start is recorded here; whatever is left at exit is killed.
PID_DIR="$(mktemp -d "${TMPDIR:-/tmp}/conformance-pids.XXXXXX")"
export CONFORMANCE_PID_DIR="$PID_DIR"
cleanup() {
  local f pid
  for f in "$PID_DIR"/*; do
    [ -e "$f" ] || continue
    pid="$(basename "$f")"
    case "$pid" in *[!0-9]*) continue ;; esac
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$PID_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# npm ci when node_modules is missing or was installed from another lockfile.
ensure_deps() {
  local dir="$1" stamp sum
  stamp="$dir/node_modules/.conformance-lock-sha"
  sum="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "==> npm ci in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" >"$stamp"
  fi
}

build_reference() {
  ensure_deps "$HERE/reference"
  echo "==> building the NestJS reference"
  (cd "$HERE/reference" && npm run --silent build)
}

build_gateway() {
  if [ -z "${GATEWAY_BIN:-}" ]; then
    echo "==> cargo build -p gateway"
    (cd "$ROOT" && cargo build -p gateway)
    GATEWAY_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/gateway"
  fi
  if [ ! -x "$GATEWAY_BIN" ]; then
    echo "gateway binary not found at $GATEWAY_BIN" >&2
    exit 1
  fi
  export GATEWAY_BIN
}

# One default-config instance shared by all test files (url mode has its own).
start_default_target() {
  local target="$1" url_file="$PID_DIR/default.url" i
  (cd "$HERE" && TARGET="$target" exec node lib/serve.js) >"$url_file" &
  SERVE_PID=$!
  : >"$PID_DIR/$SERVE_PID"
  for i in $(seq 1 1200); do
    if [ -s "$url_file" ]; then
      CONFORMANCE_DEFAULT_URL="$(head -n1 "$url_file")"
      export CONFORMANCE_DEFAULT_URL
      return 0
    fi
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "the default $target instance did not start" >&2
  return 1
}

stop_default_target() {
  if [ -n "${SERVE_PID:-}" ]; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    rm -f "$PID_DIR/$SERVE_PID"
    SERVE_PID=""
  fi
  unset CONFORMANCE_DEFAULT_URL
}

run_suite() {
  local target="$1"
  shift
  echo "==> conformance suite against: $target"
  local started=$SECONDS status=0
  if [ "$target" != url ]; then start_default_target "$target" || return 1; fi
  (cd "$HERE" && TARGET="$target" node --test --test-concurrency="${CONFORMANCE_CONCURRENCY:-4}" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=./lib/count-reporter.js --test-reporter-destination="$PID_DIR/counts.md" \
    "$@" test/*.test.js) || status=$?
  stop_default_target
  [ -f "$PID_DIR/counts.md" ] && cat "$PID_DIR/counts.md"
  echo "==> $target: $([ $status -eq 0 ] && echo PASS || echo FAIL) in $((SECONDS - started)) s"
  return $status
}

ensure_deps "$HERE"

case "$MODE" in
  reference)
    build_reference
    run_suite reference "$@"
    ;;
  gateway)
    build_gateway
    run_suite gateway "$@"
    ;;
  cluster)
    build_gateway
    run_suite cluster "$@"
    ;;
  url)
    : "${TARGET_URL:?TARGET_URL must be set for url mode}"
    : "${JWT_SECRET:?JWT_SECRET (the deployment secret) must be set for url mode}"
    run_suite url "$@"
    ;;
  all)
    build_reference
    status=0
    run_suite reference "$@" || status=1
    build_gateway
    run_suite gateway "$@" || status=1
    run_suite cluster "$@" || status=1
    exit $status
    ;;
  fuzz)
    build_reference
    build_gateway
    echo "==> differential fuzzer (reference and gateway)"
    (cd "$HERE" && node fuzz/fuzz.js "$@")
    ;;
  *)
    echo "usage: $0 reference|gateway|cluster|url|all [node --test options] | fuzz [fuzz.js options]" >&2
    exit 2
    ;;
esac
