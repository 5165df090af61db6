#!/usr/bin/env bash
# The console page (/ui) end to end: two real deltakv-server regions
# (uiwest, uieast) that replicate to each other, with API tokens, and one
# alone without tokens (uisolo); then
# check.js (playwright-core, pinned by package-lock.json) writes keys of
# every type to uieast over REST and drives headless Chromium (Debian's,
# /usr/bin/chromium; DELTAKV_CHROMIUM names another) through uiwest's page,
# and saves a screenshot.
#   tests/ui/run.sh SERVER_BINARY SCREENSHOT.png
# Installs playwright-core once with `npm ci` into tests/ui/node_modules
# (git-ignored; DELTAKV_UI_NODE_DIR puts it elsewhere). Every step is
# bounded in time; the servers are stopped on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
server=${1:?usage: run.sh SERVER_BINARY SCREENSHOT.png}
screenshot=${2:?usage: run.sh SERVER_BINARY SCREENSHOT.png}
dir=${DELTAKV_UI_NODE_DIR:-$here}
chromium=${DELTAKV_CHROMIUM:-/usr/bin/chromium}
command -v node >/dev/null || { echo "ui: node not found (scripts/setup)" >&2; exit 1; }
command -v npm >/dev/null || { echo "ui: npm not found (scripts/setup)" >&2; exit 1; }
[[ -x "$chromium" ]] || { echo "ui: $chromium not found (scripts/setup installs chromium)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deltakv-ui.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

if [[ "$dir" != "$here" ]]; then
  mkdir -p "$dir"
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
fi
stamp="$dir/node_modules/.deltakv-lock"
if [[ ! -f "$stamp" ]] || ! cmp -s "$stamp" "$here/package-lock.json"; then
  echo "ui: npm ci (playwright-core, pinned by package-lock.json)"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 npm ci --no-audit --no-fund --silent) \
    >"$tmp/npm.log" 2>&1 ||
    { cat "$tmp/npm.log" >&2; echo "ui: npm ci failed" >&2; exit 1; }
  cp "$here/package-lock.json" "$stamp"
fi

# A free replication port pair (PORT and PORT+1), bound and released.
free_pair() {
  node -e '
    const net = require("net");
    const bind = (p) => new Promise((ok) => {
      const s = net.createServer().once("error", () => ok(null))
        .listen(p, "127.0.0.1", () => ok(s));
    });
    (async () => {
      for (let i = 0; i < 200; i++) {
        const p = 20000 + Math.floor(Math.random() * 40000);
        const a = await bind(p), b = a && await bind(p + 1);
        if (a) a.close();
        if (b) b.close();
        if (a && b) { console.log(p); return; }
      }
    })();'
}
west_repl=$(free_pair)
east_repl=$(free_pair)
[[ -n "$west_repl" && -n "$east_repl" && "$west_repl" != "$east_repl" ]] ||
  { echo "ui: no free replication ports" >&2; exit 1; }

token=ui-console-token-0123456789abcdef
start() {  # NAME REPL_PORT PEER_NAME PEER_REPL_PORT
  "$server" --region "$1" --data-dir "$tmp/$1" --http 127.0.0.1:0 \
    --repl "127.0.0.1:$2" --peer "$3=127.0.0.1:$4" --insecure-replication \
    --ready-file "$tmp/$1.ready" --tokens "$token" --access-log false \
    --log-level warn >"$tmp/$1.log" 2>&1 &
  pids+=($!)
}
start uiwest "$west_repl" uieast "$east_repl"
start uieast "$east_repl" uiwest "$west_repl"
# And one region alone, without tokens: the page needs none there.
"$server" --region uisolo --data-dir "$tmp/uisolo" --http 127.0.0.1:0 \
  --ready-file "$tmp/uisolo.ready" --access-log false --log-level warn \
  >"$tmp/uisolo.log" 2>&1 &
pids+=($!)
for name in uiwest uieast uisolo; do
  for _ in $(seq 200); do
    [[ -s "$tmp/$name.ready" ]] && break
    sleep 0.05
  done
  [[ -s "$tmp/$name.ready" ]] || { cat "$tmp/$name.log" >&2; echo "ui: $name did not start" >&2; exit 1; }
done
west=$(head -1 "$tmp/uiwest.ready")
east=$(head -1 "$tmp/uieast.ready")
solo=$(head -1 "$tmp/uisolo.ready")

mkdir -p "$(dirname "$screenshot")"
NODE_PATH="$dir/node_modules" DELTAKV_CHROMIUM="$chromium" timeout 180 \
  node "$here/check.js" "http://$west" "http://$east" "http://$solo" "$token" "$screenshot"
for p in "${pids[@]}"; do
  kill -TERM "$p"
  status=0
  wait "$p" || status=$?
  [[ $status -eq 0 ]] || { cat "$tmp"/*.log >&2; echo "ui: a server exited $status" >&2; exit 1; }
done
pids=()
echo "1 passed, 0 failed"
