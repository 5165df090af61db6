#!/usr/bin/env bash
# The console page (/ui) end to end: two real deltakv-server regions that
# replicate to each other, with API tokens; keys of every type written over
# REST; then check.js (playwright-core, pinned by package-lock.json) drives
# headless Chromium (Debian's, /usr/bin/chromium; DELTAKV_CHROMIUM names
# another) through the page and saves a screenshot.
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
command -v curl >/dev/null || { echo "ui: curl not found" >&2; exit 1; }
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

# Two free replication ports each (PORT and PORT+1), bound and released.
free_pair() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    try:
        socks = []
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); socks.append(s)
        print(p); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
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
for name in uiwest uieast; do
  for _ in $(seq 200); do
    [[ -s "$tmp/$name.ready" ]] && break
    sleep 0.05
  done
  [[ -s "$tmp/$name.ready" ]] || { cat "$tmp/$name.log" >&2; echo "ui: $name did not start" >&2; exit 1; }
done
west=$(head -1 "$tmp/uiwest.ready")
east=$(head -1 "$tmp/uieast.ready")

api() {  # METHOD URL [BODY]
  local args=(-sS -f --max-time 10 -X "$1" -H "Authorization: Bearer $token")
  [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${args[@]}" "$2" >/dev/null
}
# Keys of every type, one whose name needs escaping in HTML and in a URL,
# and one outside the prefix searched; written in the other region, so the
# page shows what replication brought.
api POST "http://$east/v1/counter/ui%3Avisits/incr" '{"by":42}'
api PUT "http://$east/v1/register/ui%3Asettings" '{"value":{"theme":"dark","size":12}}'
api POST "http://$east/v1/set/ui%3Acolors/add" '{"members":["red","green","blue"]}'
api POST "http://$east/v1/list/ui%3Atasks/push" '{"values":["coffee","bread","jam"]}'
api PUT "http://$east/v1/register/ui%3A%3Cb%3Eb%C3%A9%2Fslash%3C%2Fb%3E" '{"value":"<img src=x onerror=alert(1)>"}'
api PUT "http://$east/v1/register/other%3Akey" '{"value":1}'
# Until west has them all (replication is asynchronous).
for _ in $(seq 200); do
  n=$(curl -sS --max-time 5 -H "Authorization: Bearer $token" "http://$west/v1/keys?prefix=ui%3A" |
      grep -o '"key"' | wc -l) || n=0
  [[ "$n" -ge 5 ]] && break
  sleep 0.05
done
[[ "$n" -ge 5 ]] || { echo "ui: the keys did not reach uiwest" >&2; exit 1; }

mkdir -p "$(dirname "$screenshot")"
NODE_PATH="$dir/node_modules" DELTAKV_CHROMIUM="$chromium" timeout 180 \
  node "$here/check.js" "http://$west" "$token" uiwest uieast "$screenshot"
for p in "${pids[@]}"; do
  kill -TERM "$p"
  status=0
  wait "$p" || status=$?
  [[ $status -eq 0 ]] || { cat "$tmp"/*.log >&2; echo "ui: a server exited $status" >&2; exit 1; }
done
pids=()
echo "1 passed, 0 failed"
