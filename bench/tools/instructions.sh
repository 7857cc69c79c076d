#!/usr/bin/env bash
# Instructions per proxied request on the main thread of a proxy, counted by callgrind: the one
# A/B here that machine noise cannot move (CPU time on this shared VM varies ±20 % a round).
# User-space instructions only (the kernel's socket work is not counted), main thread only (V8's
# compiler and GC helper threads are not). Run it a few times: a process can land in a slower
# JIT state for its whole life (docs/performance.md), which shows as a second, higher figure.
#
#   bash bench/tools/instructions.sh [gateway|floor] [requests, default 4000]
#
# Needs: valgrind (Debian package), Redis on REDIS_URL (default redis://127.0.0.1:6379), a built
# tree (npm run build; tsc -b for bench/). LOG_LEVEL and other gateway settings pass through;
# NODE_ARGS (e.g. --max-semi-space-size=4) goes to the gateway's node; KEEP=<dir> keeps the
# main thread's profile (callgrind_annotate <dir>/<target>.callgrind).
set -euo pipefail
target=${1:-gateway}
requests=${2:-4000}
warmup=${WARMUP:-8000}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/meshkit-instructions-XXXXXX)
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export REGISTRY_PREFIX="instructions-$$:"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }

# The backend of the benchmark; it exits when its parent does, so this shell stays its parent.
PORT=0 node "$root/bench/dist/servers/backend.js" >"$work/backend.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^READY ' "$work/backend.log" && break; sleep 0.1; done
upstream=$(sed -n 's/^READY //p' "$work/backend.log" | head -1)
[ -n "$upstream" ] || { echo "the backend did not start" >&2; cat "$work/backend.log" >&2; exit 1; }

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
callgrind=(valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes "--callgrind-out-file=$work/cg.%p")
case "$target" in
  gateway) GATEWAY_PORT=$port "${callgrind[@]}" node ${NODE_ARGS:-} "$root/apps/cli/bin/meshkit.js" run gateway >/dev/null 2>"$work/target.err" & ;;
  floor) UPSTREAM=$upstream PORT=$port "${callgrind[@]}" node "$root/bench/dist/servers/floor.js" >/dev/null 2>"$work/target.err" & ;;
  *) echo "target: gateway or floor" >&2; exit 2 ;;
esac
pids+=($!)
url="http://127.0.0.1:$port/products/0190a6e0-5c2e-7b1a-8f00-00000000be0c"
for _ in $(seq 1 600); do curl -sf -o /dev/null "$url" && break; sleep 0.5; done

# N requests, 50 at a time; prints how many were answered 200.
load() {
  node --input-type=module -e "
    import { Pool } from '$root/node_modules/undici/index.js';
    const url = new URL('$url'); const pool = new Pool(url.origin, { connections: 50 });
    let sent = 0, ok = 0;
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (sent < $1) { sent++; const r = await pool.request({ path: url.pathname, method: 'GET' }); await r.body.text(); if (r.statusCode === 200) ok++; }
    }));
    await pool.close(); console.log(ok);"
}
load "$warmup" >/dev/null
callgrind_control -i on "${pids[1]}" >/dev/null 2>&1
answered=$(load "$requests")
callgrind_control -d "${pids[1]}" >/dev/null 2>&1
callgrind_control -i off "${pids[1]}" >/dev/null 2>&1
main=$(ls "$work"/cg.*.1-01)
# KEEP=<dir>: keep the main thread's profile there, for callgrind_annotate.
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$main" "$KEEP/$target.callgrind"; fi
total=$(sed -n 's/^totals: //p' "$main")
all=$(cat "$work"/cg.*.1-* | sed -n 's/^totals: //p' | awk '{ s += $1 } END { print s }')
echo "$target: $answered of $requests answered 200; main thread $(awk -v t="$total" -v n="$answered" 'BEGIN { printf "%.0f", t / n }') instructions per request, all threads $(awk -v t="$all" -v n="$answered" 'BEGIN { printf "%.0f", t / n }') (incl. V8's compiler and GC helpers)"
