#!/usr/bin/env bash
# Server instructions per request of two deltakv-server binaries, counted by
# valgrind's callgrind (deterministic: a shared machine's load does not move
# it, unlike requests/s): each binary serves prefilled registers, warms up
# under wrk uninstrumented, then callgrind counts a 10 s wrk run of the
# workload (16 connections); instructions / requests answered.
#   bench/http/instr.sh A_BINARY B_BINARY [WORKLOAD...]
# WORKLOAD: register_get (default), counter_incr, set_add. Needs valgrind
# and wrk. Loopback, free ports, a temporary folder removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
a=${1:?A binary}; b=${2:?B binary}; shift 2
workloads=("$@"); [[ ${#workloads[@]} -eq 0 ]] && workloads=(register_get)
command -v valgrind >/dev/null || { echo "instr.sh: needs valgrind" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/deltakv-instr.XXXXXX")
pid=
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
count() {  # binary workload -> "requests instructions"
  rm -rf "$work/d" "$work/ready" "$work/cg.out"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out" \
    "$1" --data-dir "$work/d" --http 127.0.0.1:0 --ready-file "$work/ready" \
    --durability periodic --sync-interval-ms 1000 --access-log false \
    --log-level warn >"$work/log" 2>&1 &
  pid=$!
  for ((i = 0; i < 600; i++)); do [[ -s "$work/ready" ]] && break; sleep 0.1; done
  [[ -s "$work/ready" ]] || { cat "$work/log" >&2; exit 1; }
  local addr; addr=$(head -1 "$work/ready")
  awk -v base="http://$addr" 'BEGIN {
    for (k = 0; k < 1000; k++) {
      if (k > 0) print "next"
      printf "url = \"%s/v1/register/reg:%d\"\n", base, k
      print "request = \"PUT\""
      print "header = \"Content-Type: application/json\""
      print "data = \"{\\\"value\\\":\\\"xxx\\\"}\""
      print "output = \"/dev/null\""
    } }' >"$work/prefill.curl"
  curl --no-progress-meter --parallel --parallel-max 16 -K "$work/prefill.curl"
  wrk -t 1 -c 16 -d 2s -s "bench/http/$2.lua" "http://$addr" -- keys=1000 >/dev/null
  callgrind_control -i on "$pid" >/dev/null 2>&1
  local out; out=$(wrk -t 1 -c 16 -d 10s -s "bench/http/$2.lua" "http://$addr" -- keys=1000)
  callgrind_control -i off "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  local n ir
  n=$(grep -o '[0-9]* requests in' <<<"$out" | cut -d' ' -f1)
  ir=$( (callgrind_annotate "$work/cg.out" 2>/dev/null || true) |
        awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  echo "$n $ir"
}
printf '%-14s %12s %12s %8s\n' workload "A instr/req" "B instr/req" "B/A"
for w in "${workloads[@]}"; do
  read -r na ia <<<"$(count "$a" "$w")"
  read -r nb ib <<<"$(count "$b" "$w")"
  awk -v w="$w" -v na="$na" -v ia="$ia" -v nb="$nb" -v ib="$ib" \
    'BEGIN { printf "%-14s %12.0f %12.0f %7.3fx\n", w, ia / na, ib / nb, (ib / nb) / (ia / na) }'
done
