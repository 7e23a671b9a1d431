#!/usr/bin/env bash
# The browser path against the TCP path, in one sitting (issue 32): server
# CPU per delivery when every one of CLIENTS members (default 50) sends into
# one room over a WebSocket (`serve --web`, the same JSON packets, one per
# text message) vs over TCP, 100-byte texts, history on, RUNS runs
# alternating, medians:
#   - paced: RATE messages/s in all (default 10,000: 500,000 deliveries/s
#     at 50 members) for 8 s — the same offered load on both paths, so the
#     server batches alike: the fair per-delivery figure;
#   - flat out: flow-controlled blast (window 32). Here the load generator's
#     own WebSocket side (framing, masking, a bridge task per member) is the
#     bottleneck on 2 cores: it feeds the server about half as fast as over
#     TCP, the server's writes carry fewer lines each, and its CPU per
#     delivery rises with that — a figure about the generator as much as
#     the server, shown beside the fair one.
# Then a WebSocket member's memory while idle (server RSS growth per member
# after IDLE joined) beside a TCP member's. Loopback only; every process it
# starts it ends.
#
# Then the page's weight (bytes of HTML, script and style as served), and
# the plaintext chat port's wait before `hello` (30 ms, to tell a browser,
# which speaks first, from a chat client, which waits): connect to hello
# and to joined for a silent client (tcpplay join's order, and clint.py's
# plaintext retry), and for a peer that speaks first (clint.py's TLS try).
#
#   bash benches/web.sh                 # ~3 minutes on 2 cores
#   RUNS=5 CLIENTS=100 bash benches/web.sh
#   ONLY=small bash benches/web.sh      # idle memory, weight, the wait: ~20 s
#
# The load generator bridges its WebSocket members to lines in its own
# process (examples/loadgen/ws.rs): that work is on its side, not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-50}
MSGS=${MSGS:-1000}
IDLE=${IDLE:-2000}
RATE=${RATE:-10000}
cargo build --release --quiet --bin tcpplay --example loadgen
BIN=target/release/tcpplay
LG=target/release/examples/loadgen
WORK=$(mktemp -d)
PID=""
ulimit -n "$(ulimit -Hn)" || true
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT

start() { # -> PID, TCP_PORT, WEB_PORT
  rm -rf "$WORK"/h.sqlite3* "$WORK/out"
  TCPPLAY_LIMITS__MAX_CLIENTS=30000 TCPPLAY_LIMITS__MAX_WEB_CONNECTIONS=30000 TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS=0 \
  TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 TCPPLAY_LIMITS__MESSAGES_PER_SECOND=0 HOME=$WORK \
    "$BIN" serve --bind 127.0.0.1 --port 0 --web 127.0.0.1:0 --quiet --history "$WORK/h.sqlite3" \
    >"$WORK/out" 2>"$WORK/err" </dev/null &
  PID=$!
  for _ in $(seq 200); do grep -q "open in a browser" "$WORK/out" 2>/dev/null && break; sleep 0.05; done
  TCP_PORT=$(grep -o 'tcpplay join 127.0.0.1:[0-9]*' "$WORK/out" | head -1 | cut -d: -f2)
  WEB_PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/out" | head -1 | cut -d: -f3)
}
stop() { kill "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done; PID=""; }
port_for() { if [ "$1" = ws ]; then echo "$WEB_PORT"; else echo "$TCP_PORT"; fi; }

fanout() { # mode loadgen-args... -> "cpu_us kernel_us lost valid"
  local mode=$1; shift
  start
  if ! "$LG" --addr "127.0.0.1:$(port_for "$mode")" --mode "$mode" --json --server-pid "$PID" \
      fanout --clients "$CLIENTS" "$@" >"$WORK/lg.json" 2>"$WORK/lg.err"; then
    echo "loadgen failed ($mode):" >&2; tail -3 "$WORK/lg.err" >&2; echo "0 0 -1 false"; stop; return
  fi
  stop
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["server_cpu_us_per_delivery"], r.get("server_system_us_per_delivery") or 0, r["lost"], str(not r["invalid"]).lower())' "$WORK/lg.json"
}

idle() { # mode -> bytes per member
  start
  "$LG" --addr "127.0.0.1:$(port_for "$1")" --mode "$1" --json idle --clients "$IDLE" --server-pid "$PID" \
    >"$WORK/idle.json" 2>"$WORK/idle.err" || { tail -3 "$WORK/idle.err" >&2; }
  stop
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["bytes_per_client"]))' "$WORK/idle.json"
}

med() { python3 -c 'import sys,statistics; print("%.3f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }
table() { # title loadgen-args...
  local title=$1; shift
  declare -A cpu=() sys=() lost=()
  for _ in $(seq "$RUNS"); do
    for m in plain ws; do
      read -r c k l v < <(fanout "$m" "$@")
      [ "$v" = true ] || echo "a $m run was invalid (a sender stalled or a line was lost)" >&2
      cpu[$m]+="$c "; sys[$m]+="$k "; lost[$m]=$(( ${lost[$m]:-0} + l ))
    done
  done
  local tcp web; tcp=$(med ${cpu[plain]}); web=$(med ${cpu[ws]})
  echo "$title: $CLIENTS members in one room, history on, medians of $RUNS"
  printf "%-12s %14s %14s %6s\n" path "cpu µs/deliv" "of it kernel" lost
  printf "%-12s %14s %14s %6s\n" TCP "$tcp" "$(med ${sys[plain]})" "${lost[plain]}"
  printf "%-12s %14s %14s %6s\n" WebSocket "$web" "$(med ${sys[ws]})" "${lost[ws]}"
  python3 -c 'import sys; print("WebSocket / TCP: %.2f x\n" % (float(sys.argv[2]) / float(sys.argv[1])))' "$tcp" "$web"
}
weight() { # the page as served: bytes of each part and in all
  start
  local total=0 n
  for part in / /app.js /app.css; do
    n=$(curl -s "http://127.0.0.1:$WEB_PORT$part" | wc -c)
    printf "%-12s %8s B\n" "$part" "$n"; total=$((total + n))
  done
  printf "%-12s %8s B\n" "in all" "$total"
  stop
}

hello_wait() { # medians over 40 connects of each kind
  start
  python3 - "$TCP_PORT" <<'PY'
import json, socket, statistics, sys, time
port = int(sys.argv[1])
def silent(i):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
    json.loads(f.readline()); t1 = time.perf_counter()
    s.sendall(json.dumps({"type": "auth", "name": f"m{i}", "proto": 3}).encode() + b"\n")
    while json.loads(f.readline())["type"] != "auth_result": pass
    t2 = time.perf_counter(); s.close()
    return (t1 - t0) * 1000, (t2 - t0) * 1000
def speaks_first():
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(bytes([0x16, 3, 1, 0, 0xf4, 1, 0, 0, 0xf0, 3, 3]))  # a ClientHello's start
    try:
        while s.recv(4096): pass
    except ConnectionResetError: pass
    return (time.perf_counter() - t0) * 1000
h, j = zip(*[silent(i) for i in range(40)])
t = [speaks_first() for _ in range(40)]
print("silent client (tcpplay join): hello after %.1f ms, joined after %.1f ms" % (statistics.median(h), statistics.median(j)))
print("a peer that speaks first (clint.py's TLS try): closed after %.1f ms" % statistics.median(t))
PY
  stop
}

if [ "${ONLY:-all}" = all ]; then
  table "paced, $RATE messages/s in all (target: WebSocket within 1.5 x of TCP)" --rate "$RATE" --duration 8
  table "flat out, $MSGS messages each, window 32" --messages "$MSGS" --window 32
fi
echo "idle members ($IDLE joined, server RSS growth per member)"
printf "%-12s %10s\n" TCP "$(idle plain) B"
printf "%-12s %10s\n" WebSocket "$(idle ws) B"
echo "the page as served"
weight
echo "the plaintext chat port's wait before hello (medians of 40 connects)"
hello_wait
