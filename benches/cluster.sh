#!/usr/bin/env bash
# Cluster mode on this machine, in one sitting: one server without a cluster,
# one cluster node, and two nodes with the clients split between them, all on
# one redis-server (loopback, nothing saved). For each: a flow-controlled blast
# (server CPU µs per delivery summed over the nodes, Redis CPU µs per message,
# deliveries/s) and a paced run (latency p50/p99, lines crossing nodes).
#   bash benches/cluster.sh            # CLIENTS=50 MSGS=1000 RUNS=3 RATE=100 SECS=10 [BIN=PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-50}; MSGS=${MSGS:-1000}; RUNS=${RUNS:-3}; RATE=${RATE:-100}; SECS=${SECS:-10}
command -v redis-server >/dev/null || { echo "needs redis-server (apt-get install redis-server)"; exit 2; }
# BIN=PATH measures another build (an A/B: run once per binary, one sitting).
if [ -z "${BIN:-}" ]; then cargo build --release --quiet --bin tcpplay --example loadgen; fi
BIN=${BIN:-target/release/tcpplay}; LG=target/release/examples/loadgen
WORK=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
until grep -q "Ready to accept" "$WORK/redis.log"; do sleep 0.05; done
start() { # name [cluster args...] -> "pid port"
  local n=$1; shift
  TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS=0 TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 \
  TCPPLAY_LIMITS__MESSAGES_PER_SECOND=0 TCPPLAY_CLUSTER__PREFIX="$PFX" HOME=$WORK \
    "$BIN" serve --bind 127.0.0.1 --port 0 --quiet --no-history "$@" >"$WORK/$n.out" 2>"$WORK/$n.err" </dev/null &
  local pid=$!; PIDS+=("$pid")
  until grep -q "listening on" "$WORK/$n.out" 2>/dev/null; do sleep 0.05; done
  echo "$pid $(grep -o '127.0.0.1:[0-9]*' "$WORK/$n.out" | head -1 | cut -d: -f2)"
}
run() { # setup scenario -> json line
  local setup=$1 scen=$2 a b pa pb
  PFX="b$RANDOM$RANDOM"   # each run its own cluster on the one Redis
  case $setup in
    single) read -r pa a < <(start s) ; nodes=(--addr "127.0.0.1:$a" --server-pid "$pa") ;;
    one)    read -r pa a < <(start n1 --cluster "redis://127.0.0.1:$RPORT" --node n1)
            nodes=(--addr "127.0.0.1:$a" --server-pid "$pa" --redis-pid "$RPID") ;;
    two)    read -r pa a < <(start n1 --cluster "redis://127.0.0.1:$RPORT" --node n1)
            read -r pb b < <(start n2 --cluster "redis://127.0.0.1:$RPORT" --node n2)
            nodes=(--addr "127.0.0.1:$a" --also-addr "127.0.0.1:$b" --server-pid "$pa" --also-pid "$pb" --redis-pid "$RPID") ;;
  esac
  if [ "$scen" = blast ]; then
    "$LG" "${nodes[@]}" --json fanout --clients "$CLIENTS" --messages "$MSGS" --window 32
  else
    "$LG" "${nodes[@]}" --json fanout --clients "$CLIENTS" --rate "$RATE" --duration "$SECS" --warmup 2
  fi
  for p in $pa ${pb:-}; do kill "$p"; while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done
}
printf "%-8s %-6s %14s %14s %14s %9s %9s %5s\n" setup run "cpu µs/deliv" "redis µs/msg" "deliveries/s" "p50 ms" "p99 ms" lost
for scen in blast paced; do
  for setup in single one two; do
    rows=()
    for r in $(seq "$RUNS"); do rows+=("$(run $setup $scen 2>>"$WORK/lg.err")"); done
    printf '%s\n' "${rows[@]}" | python3 -c '
import json,sys,statistics as st
rs=[json.loads(l) for l in sys.stdin if l.strip()]
m=lambda k: st.median([r[k] for r in rs if r.get(k) is not None]) if any(r.get(k) is not None for r in rs) else float("nan")
lat=lambda k: st.median([r["latency_ms"][k] for r in rs])
print("%-8s %-6s %14.3f %14.3f %14.0f %9.3f %9.3f %5d" % (sys.argv[1], sys.argv[2], m("server_cpu_us_per_delivery"), m("redis_cpu_us_per_message"), m("deliveries_per_sec"), lat("p50"), lat("p99"), sum(r["lost"] for r in rs)))
' "$setup" "$scen"
  done
done
