#!/usr/bin/env bash
# A local 3-node cluster without Docker: a redis-server on a free port and
# three gateways on it, on ports BASE_PORT, +1, +2 (default 3001-3003). Any
# node serves any client: point clients at any of them. Ctrl-C stops all.
#
#   scripts/cluster.sh                       # debug build, SQLite per node
#   DATABASE_URL=postgres://... scripts/cluster.sh   # users shared (PostgreSQL)
#   GATEWAY_BIN=target/release/gateway scripts/cluster.sh
#
# JWT_SECRET is shared by the nodes (generated when unset). Other settings in
# the environment (ROOM_TTL, MAX_ROOM_SIZE, NODE_TIMEOUT, ...) reach every node.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NODES="${NODES:-3}"
BASE_PORT="${BASE_PORT:-3001}"
HOST="${HOST:-127.0.0.1}"
if [ -z "${GATEWAY_BIN:-}" ]; then
  cargo build -p gateway
  GATEWAY_BIN=target/debug/gateway
fi
command -v redis-server >/dev/null || { echo "redis-server (Redis 7+) is needed: apt-get install redis-server" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
redis_port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 20000))
  if port_free "$p"; then redis_port=$p; break; fi
done
[ -n "$redis_port" ] || { echo "no free port for redis-server" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/gateway-cluster.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

export JWT_SECRET="${JWT_SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export REDIS_URL="redis://127.0.0.1:$redis_port"
if [ -z "${DATABASE_URL:-}" ]; then
  echo "note: no DATABASE_URL: each node keeps its own SQLite users (REST accounts are per node);"
  echo "      set DATABASE_URL=postgres://... to share them"
fi
for i in $(seq 0 $((NODES - 1))); do
  mkdir -p "$work/node$i"
  HOST="$HOST" PORT=$((BASE_PORT + i)) DATA_DIR="$work/node$i" "$GATEWAY_BIN" &
  pids+=($!)
done
for i in $(seq 0 $((NODES - 1))); do
  url="http://$HOST:$((BASE_PORT + i))"
  for _ in $(seq 1 100); do curl -fsS "$url/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "node $i: $url"
done
echo "redis: $REDIS_URL   JWT_SECRET: $JWT_SECRET"
echo "Ctrl-C stops the cluster."
wait
