#!/usr/bin/env bash
# A/B of two deltakv-server binaries under wrk, alternating runs in one
# session so the machine's load hits both alike; prints each run and the
# mean ratio B/A per workload and durability: requests/s, and the server's
# CPU time per request (utime + stime over the run / requests), which a
# shared machine's load disturbs far less than throughput.
#   bench/http/ab.sh A_BINARY B_BINARY [ROUNDS] [SECONDS]
# Needs wrk (./scripts/bench-http installs it). Loopback, free ports, fresh
# data folders under one temporary folder removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
a=${1:?A binary}; b=${2:?B binary}; rounds=${3:-3}; secs=${4:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/deltakv-ab.XXXXXX")
pid=
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
start() {  # binary durability
  rm -rf "$work/d"
  "$1" --data-dir "$work/d" --http 127.0.0.1:0 --ready-file "$work/ready" \
    --durability "$2" --sync-interval-ms 1000 --access-log false \
    --log-level warn >"$work/log" 2>&1 &
  pid=$!
  for ((i = 0; i < 300; i++)); do [[ -s "$work/ready" ]] && break; sleep 0.1; done
  [[ -s "$work/ready" ]] || { cat "$work/log" >&2; exit 1; }
  addr=$(head -1 "$work/ready")
  rm -f "$work/ready"
  # register_get reads reg:0..9999
  awk -v base="http://$addr" 'BEGIN {
    for (k = 0; k < 10000; k++) {
      if (k > 0) print "next"
      printf "url = \"%s/v1/register/reg:%d\"\n", base, k
      print "request = \"PUT\""
      print "header = \"Content-Type: application/json\""
      print "data = \"{\\\"value\\\":\\\"xxx\\\"}\""
      print "output = \"/dev/null\""
    } }' >"$work/prefill.curl"
  curl --no-progress-meter --parallel --parallel-max 64 -K "$work/prefill.curl"
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
tck=$(getconf CLK_TCK)
cpu_ticks() {  # utime + stime of a process, in clock ticks
  local f
  read -r -a f <<<"$(sed 's/.*) //' "/proc/$1/stat")"
  echo $((f[11] + f[12]))
}
declare -A sum cpu
for d in sync periodic; do
  for ((r = 1; r <= rounds; r++)); do
    for side in A B; do
      bin=$a; [[ $side == B ]] && bin=$b
      start "$bin" "$d"
      for w in counter_incr register_get set_add; do
        wrk -t 2 -c 64 -d 1s -s "bench/http/$w.lua" "http://$addr" >/dev/null
        t0=$(cpu_ticks "$pid")
        out=$(wrk -t 2 -c 64 -d "${secs}s" -s "bench/http/$w.lua" "http://$addr")
        t1=$(cpu_ticks "$pid")
        rps=$(grep -o 'rps=[0-9.]*' <<<"$out" | cut -d= -f2)
        total=$(grep -o '[0-9]* requests in' <<<"$out" | cut -d' ' -f1)
        us=$(awk -v d=$((t1 - t0)) -v t="$tck" -v n="$total" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
        echo "$d round $r $side $w $rps r/s $us us/req"
        sum[$d/$w/$side]=$(awk -v s="${sum[$d/$w/$side]:-0}" -v x="$rps" 'BEGIN { print s + x }')
        cpu[$d/$w/$side]=$(awk -v s="${cpu[$d/$w/$side]:-0}" -v x="$us" 'BEGIN { print s + x }')
      done
      stop
    done
  done
done
echo
printf '%-9s %-14s %10s %10s %7s %10s %10s %7s\n' durability workload \
  "A r/s" "B r/s" "B/A" "A us/req" "B us/req" "B/A"
for d in sync periodic; do
  for w in counter_incr register_get set_add; do
    awk -v d="$d" -v w="$w" -v A="${sum[$d/$w/A]}" -v B="${sum[$d/$w/B]}" \
        -v CA="${cpu[$d/$w/A]}" -v CB="${cpu[$d/$w/B]}" -v n="$rounds" \
      'BEGIN { printf "%-9s %-14s %10.0f %10.0f %6.2fx %10.1f %10.1f %6.2fx\n",
               d, w, A / n, B / n, B / A, CA / n, CB / n, CB / CA }'
  done
done
