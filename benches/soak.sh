#!/usr/bin/env bash
# Soak run: N clients chatting at a set total rate for M minutes against a fresh
# release server on loopback. Reports server RSS over time, lost/duplicated/
# reordered deliveries (must be 0 for clients that keep up) and disconnects by
# reason (the server's refusal counters, logged at shutdown).
#
#   bash benches/soak.sh                     # 1000 clients, 100 msg/s, 10 minutes
#   CLIENTS=200 RATE=50 MINUTES=1 bash benches/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-1000}; SENDERS=${SENDERS:-100}; RATE=${RATE:-100}; MINUTES=${MINUTES:-10}
cargo build --release --quiet --bin tcpplay --example loadgen
WORK=$(mktemp -d); trap 'kill $SP 2>/dev/null || true; rm -rf "$WORK"' EXIT
TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS=0 TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 \
  target/release/tcpplay serve --bind 127.0.0.1 --port 0 --quiet --history "$WORK/history.sqlite3" >"$WORK/out" 2>"$WORK/err" </dev/null &
SP=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
PORT=$(grep -o '127.0.0.1:[0-9]*' "$WORK/out" | cut -d: -f2)
rss() { awk '/VmRSS/ {print $2}' "/proc/$SP/status"; }
echo "soak: $CLIENTS clients ($SENDERS sending), $RATE msg/s in total, $MINUTES min; server pid $SP"
echo "t=0s server RSS $(rss) KiB"
target/release/examples/loadgen --addr "127.0.0.1:$PORT" fanout --clients "$CLIENTS" --senders "$SENDERS" \
  --rate "$RATE" --duration "$((MINUTES * 60))" --drain 15 >"$WORK/lg" 2>&1 &
LG=$!
START=$(date +%s)
while kill -0 "$LG" 2>/dev/null; do
  sleep 30
  kill -0 "$LG" 2>/dev/null && echo "t=$(( $(date +%s) - START ))s server RSS $(rss) KiB"
done
wait "$LG" || true
echo "loadgen: $(tail -1 "$WORK/lg")"
kill -TERM "$SP"; wait "$SP" || true
echo "server: $(grep -o 'refusals and drops by limit: .*' "$WORK/err" || echo 'no summary')"
