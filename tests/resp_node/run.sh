#!/usr/bin/env bash
# Runs check.js (ioredis, pinned by package-lock.json) against a real
# deltakv-server with --resp and API tokens.
#   tests/resp_node/run.sh SERVER_BINARY
# Installs the client once with `npm ci` into tests/resp_node/node_modules
# (git-ignored; DELTAKV_RESP_NODE_DIR puts it elsewhere). Every step is
# bounded in time; the server is stopped on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
server=${1:?usage: run.sh SERVER_BINARY}
dir=${DELTAKV_RESP_NODE_DIR:-$here}
command -v node >/dev/null || { echo "resp_node: node not found (scripts/setup)" >&2; exit 1; }
command -v npm >/dev/null || { echo "resp_node: npm not found (scripts/setup)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deltakv-resp-node.XXXXXX")
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [[ "$dir" != "$here" ]]; then
  mkdir -p "$dir"
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
fi
stamp="$dir/node_modules/.deltakv-lock"
if [[ ! -f "$stamp" ]] || ! cmp -s "$stamp" "$here/package-lock.json"; then
  echo "resp_node: npm ci (ioredis, pinned by package-lock.json)"
  (cd "$dir" && timeout 300 npm ci --no-audit --no-fund --silent) >"$tmp/npm.log" 2>&1 ||
    { cat "$tmp/npm.log" >&2; echo "resp_node: npm ci failed" >&2; exit 1; }
  cp "$here/package-lock.json" "$stamp"
fi

token=resp-node-token-0123456789abcdef
"$server" --data-dir "$tmp/data" --http 127.0.0.1:0 --resp 127.0.0.1:0 \
  --ready-file "$tmp/ready" --tokens "$token" --access-log false \
  --log-level warn >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  [[ -s "$tmp/ready" ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  sleep 0.05
done
port=$(sed -n 's/^resp .*:\([0-9]*\)$/\1/p' "$tmp/ready")
[[ -n "$port" ]] || { echo "resp_node: no resp line in the ready file" >&2; exit 1; }
NODE_PATH="$dir/node_modules" timeout 120 node "$here/check.js" "$port" "$token"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[[ $status -eq 0 ]] || { echo "resp_node: server exited $status" >&2; exit 1; }
echo "1 passed, 0 failed"
