#!/usr/bin/env bash
# Piped input delivered whole: N lines into `tcpplay join`, counted by a
# watcher, timed against the server's configured chat rate.
#   bash benches/piped.sh [LINES] [RATE]     (defaults: 10000 lines, the default 10/s)
# Needs a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
RATE=${2:-}
BIN=target/release/tcpplay
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export HOME=$WORK
env_rate=()
[ -n "$RATE" ] && env_rate=(env TCPPLAY_LIMITS__MESSAGES_PER_SECOND="$RATE")
"${env_rate[@]}" "$BIN" serve --port 0 --bind 127.0.0.1 --no-history -q >"$WORK/server.out" 2>&1 &
until grep -q "listening on" "$WORK/server.out"; do sleep 0.05; done
PORT=$(grep -o "127.0.0.1:[0-9]*" "$WORK/server.out" | head -1 | cut -d: -f2)
mkfifo "$WORK/hold"
"$BIN" join --port "$PORT" --name watcher --no-tls --json <"$WORK/hold" >"$WORK/watch.jsonl" 2>/dev/null &
exec 3>"$WORK/hold"
until grep -q '"event":"count"' "$WORK/watch.jsonl" 2>/dev/null; do sleep 0.05; done
seq -f "line %g" 1 "$N" >"$WORK/input"
start=$(date +%s.%N)
"$BIN" join --port "$PORT" --name piper --no-tls <"$WORK/input" >/dev/null 2>"$WORK/piper.err"
rc=$?
end=$(date +%s.%N)
exec 3>&-
wait %2 2>/dev/null || true
got=$(grep -c '"from":"piper"' "$WORK/watch.jsonl" || true)
inorder=$(grep '"from":"piper"' "$WORK/watch.jsonl" | grep -o '"text":"line [0-9]*"' | grep -o '[0-9]*' | awk 'BEGIN{ok=1} {if ($1 != NR) ok=0} END{print ok ? "yes" : "no"}')
rate=${RATE:-10}
python3 - "$N" "$got" "$inorder" "$start" "$end" "$rate" "$rc" <<'PY'
import sys
n, got, inorder, start, end, rate, rc = sys.argv[1:]
n, got, took, rate = int(n), int(got), float(end) - float(start), float(rate)
ideal = max(0.0, (n - 20) / rate)  # the server's burst of 20, then its rate
print(f"lines {n}, received {got}, in order: {inorder}, join exit code {rc}")
print(f"took {took:.1f} s; at the configured {rate:g}/s the least possible is {ideal:.1f} s "
      f"({took / ideal if ideal else 0:.2f}x), i.e. {n / took:.2f} lines/s")
PY
