#!/usr/bin/env bash
# Runs the browser tests: the demo page (web/) in real headless Chromium
# against the real gateway, and browser <-> webrtc-client peers in one room.
#
#   scripts/browser-test.sh                  every test file in web/test/
#   scripts/browser-test.sh test/call.test.js   some of them (paths relative to web/)
#
# Installs what it needs: Debian's chromium (apt-get, as root) when
# /usr/bin/chromium is missing, the page's npm packages (npm ci), and builds
# the page, the gateway and the CLI. GATEWAY_BIN / WEBRTC_CLIENT_BIN use
# prebuilt binaries instead. Screenshots land in web/test-results/.
#
# Nothing is left running: every process the tests start is killed at exit,
# Chromium included, whatever way the run ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/web"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
# A hard bound on the whole run; each test has its own, shorter one.
RUN_TIMEOUT="${BROWSER_TEST_TIMEOUT:-900}"

install_chromium() {
  [ -x "$CHROMIUM" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is missing at $CHROMIUM: run 'apt-get install -y chromium' as root (or set CHROMIUM)" >&2
    exit 1
  fi
  echo "==> apt-get install chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
}

# npm ci when node_modules is missing or was installed from another lockfile.
ensure_deps() {
  local stamp="$WEB/node_modules/.browser-test-lock-sha" sum
  sum="$(sha256sum "$WEB/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "==> npm ci in web"
    (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" >"$stamp"
  fi
}

# Processes the tests started, by pid (pid files), and Chromium's, found by
# the run's own temporary directory in their command line (Playwright starts
# Chromium in a process group of its own, out of reach of the test runner's
# exit handlers when that is killed).
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/browser-test.XXXXXX")"
mkdir -p "$RUN_DIR/pids" "$RUN_DIR/tmp"
cleanup() {
  local f pid
  for f in "$RUN_DIR"/pids/*; do
    [ -e "$f" ] || continue
    pid="$(basename "$f")"
    case "$pid" in *[!0-9]*) continue ;; esac
    kill -KILL "$pid" 2>/dev/null || true
  done
  local own cmd pgid
  own="$(ps -o pgid= -p $$ | tr -d ' ')"
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}"
    pid="${pid%/cmdline}"
    [ "$pid" = "$$" ] && continue
    cmd="$(tr '\0' ' ' 2>/dev/null <"$f")" || continue
    [[ "$cmd" == *"$RUN_DIR/"* ]] || continue
    # Chromium's helpers (zygote, renderers) share its process group.
    pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" || true
    if [ -n "$pgid" ] && [ "$pgid" != "$own" ]; then
      kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_chromium
ensure_deps
echo "==> building the demo page"
(cd "$WEB" && npm run --silent build)
if [ -z "${GATEWAY_BIN:-}" ] || [ -z "${WEBRTC_CLIENT_BIN:-}" ]; then
  echo "==> cargo build -p gateway -p webrtc-signaling-client"
  (cd "$ROOT" && cargo build -p gateway -p webrtc-signaling-client --bin gateway --bin webrtc-client)
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
GATEWAY_BIN="$(realpath "${GATEWAY_BIN:-$TARGET/debug/gateway}")"
WEBRTC_CLIENT_BIN="$(realpath "${WEBRTC_CLIENT_BIN:-$TARGET/debug/webrtc-client}")"
export GATEWAY_BIN WEBRTC_CLIENT_BIN
export CHROMIUM BROWSER_TEST_PID_DIR="$RUN_DIR/pids" TMPDIR="$RUN_DIR/tmp"

if [ $# -eq 0 ]; then set -- "$WEB"/test/*.test.js; fi
echo "==> browser tests (Chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}'))"
started=$SECONDS
status=0
(cd "$WEB" && exec timeout --kill-after=10 "$RUN_TIMEOUT" node --test --test-concurrency=1 \
  --test-timeout=180000 --test-reporter=spec "$@") || status=$?
echo "==> browser tests: $([ $status -eq 0 ] && echo PASS || echo FAIL) in $((SECONDS - started)) s (screenshots in web/test-results/)"
exit $status
