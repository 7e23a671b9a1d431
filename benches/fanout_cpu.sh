#!/usr/bin/env bash
# Server CPU per delivery for tcpplay binaries side by side, in one sitting:
# a flow-controlled blast (100-byte texts), history on (the default, in a
# fresh file) unless NOHIST=1, RUNS runs per row alternating the binaries,
# medians reported.
#   bash benches/fanout_cpu.sh BIN_A [BIN_B ...]
# e.g. A/B a change: build the old commit into /tmp/old/tcpplay, then
#   bash benches/fanout_cpu.sh /tmp/old/tcpplay target/release/tcpplay
# ROOMS=R spreads the clients over R rooms (client i in room i mod R; every
# line reaches its own room): e.g. ROOMS=10 CLIENTS=100 for 10 rooms x 10.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-"10 50 100"}
# Messages per sender: about a million deliveries or more per run at each size.
msgs_for() { if [ -n "${MSGS:-}" ]; then echo "$MSGS"; elif [ "$1" -le 10 ]; then echo 10000; else echo 1000; fi; }
# A sender stays at most WINDOW messages ahead of its slowest receiver.
WINDOW=${WINDOW:-32}
cargo build --release --quiet --example loadgen
LG=target/release/examples/loadgen
WORK=$(mktemp -d)
PID=""
ulimit -n "$(ulimit -Hn)" || true
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
one() { # bin clients -> prints "cpu_us kernel_us deliveries_per_s lost history_dropped"
  local bin=$1 n=$2 hist=(--history "$WORK/h.sqlite3")
  rm -rf "$WORK"/h.sqlite3* "$WORK/out"
  local mport; mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  [ -n "${NOHIST:-}" ] && hist=(--no-history)
  TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS=0 TCPPLAY_LIMITS__MAX_ROOMS=10000 TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 \
  TCPPLAY_LIMITS__MESSAGES_PER_SECOND=0 HOME=$WORK \
    "$bin" serve --bind 127.0.0.1 --port 0 --quiet --metrics "127.0.0.1:$mport" "${hist[@]}" >"$WORK/out" 2>"$WORK/err" </dev/null &
  PID=$!
  until grep -q "listening on" "$WORK/out" 2>/dev/null; do sleep 0.05; done
  local port; port=$(grep -o '127.0.0.1:[0-9]*' "$WORK/out" | head -1 | cut -d: -f2)
  if ! "$LG" --addr "127.0.0.1:$port" --json --server-pid $PID fanout --clients "$n" --messages "$(msgs_for "$n")" --window "$WINDOW" --rooms "${ROOMS:-1}" \
      >"$WORK/lg.json" 2>"$WORK/lg.err"; then
    echo "loadgen failed against $bin with $n clients:" >&2; cat "$WORK/lg.err" >&2
  fi
  # Lines the history did not store (it fell behind): such a run did less work.
  python3 -c '
import json, re, sys, urllib.request
r = json.load(open(sys.argv[1]))
m = re.search(r"^tcpplay_history_dropped_total (\d+)", urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[2], timeout=10).read().decode(), re.M)
print(r["server_cpu_us_per_delivery"], r.get("server_system_us_per_delivery") or 0, r["deliveries_per_sec"], r["lost"], m.group(1) if m else 0)' "$WORK/lg.json" "$mport"
  kill $PID; while kill -0 $PID 2>/dev/null; do sleep 0.05; done; PID=""
}
printf "%-40s %8s %14s %14s %14s %6s %10s\n" binary clients "cpu µs/deliv" "of it kernel" "deliveries/s" lost "not stored"
for n in $CLIENTS; do
  declare -A cpu=() sys=() rate=() lost=() hdrop=()
  for r in $(seq "$RUNS"); do
    for bin in "$@"; do
      read -r c k d l h < <(one "$bin" "$n")
      cpu[$bin]+="$c "; sys[$bin]+="$k "; rate[$bin]+="$d "; lost[$bin]=$(( ${lost[$bin]:-0} + l )); hdrop[$bin]=$(( ${hdrop[$bin]:-0} + h ))
    done
  done
  for bin in "$@"; do
    med() { python3 -c 'import sys,statistics; print(statistics.median(map(float, sys.argv[1:])))' $1; }
    printf "%-40s %8s %14.3f %14.3f %14.0f %6s %10s\n" "$bin" "$n" "$(med "${cpu[$bin]}")" "$(med "${sys[$bin]}")" "$(med "${rate[$bin]}")" "${lost[$bin]}" "${hdrop[$bin]}"
  done
  unset cpu sys rate lost hdrop
done
