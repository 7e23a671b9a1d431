#!/usr/bin/env bash
# What history costs on the chat path: fan-out with history on (a fresh SQLite
# file per start) and with --no-history, same parameters, alternating, on
# loopback. Prints one loadgen JSON line per run and how many lines were stored.
#
#   bash benches/history.sh                                   # fan-out, 50 and 100 clients, 2 rounds
#   CLIENTS=100 ROUNDS=1 LGARGS="--rate 100 --duration 20" bash benches/history.sh   # paced latency
set -u
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin tcpplay --example loadgen
ulimit -n "$(ulimit -Hn)" || true
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
for round in ${ROUNDS:-1 2}; do
  for c in ${CLIENTS:-50 100}; do
    for mode in on off; do
      rm -rf "$W"/h.sqlite3*
      if [ "$mode" = on ]; then H=(--history "$W/h.sqlite3"); else H=(--no-history); fi
      HOME=$W TCPPLAY_LIMITS__MAX_CLIENTS=20000 TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS=0 \
      TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 TCPPLAY_LIMITS__MESSAGES_PER_SECOND=0 \
        target/release/tcpplay serve --bind 127.0.0.1 --port 0 --quiet "${H[@]}" >"$W/out" 2>"$W/err" </dev/null &
      SP=$!
      for _ in $(seq 100); do grep -q "listening on" "$W/out" 2>/dev/null && break; sleep 0.1; done
      PORT=$(grep -o '127.0.0.1:[0-9]*' "$W/out" | head -1 | cut -d: -f2)
      # shellcheck disable=SC2086
      out=$(timeout 120 target/release/examples/loadgen --addr "127.0.0.1:$PORT" --mode plain --json \
        fanout --clients "$c" ${LGARGS:---messages 1000} 2>/dev/null)
      kill "$SP"; wait "$SP" 2>/dev/null
      stored=-
      [ "$mode" = on ] && stored=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from messages").fetchone()[0])' "$W/h.sqlite3")
      echo "round=$round clients=$c history=$mode stored=$stored $out"
    done
  done
done
