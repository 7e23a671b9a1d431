#!/usr/bin/env bash
# Instructions the server executes for a fixed piece of work, under
# valgrind's callgrind: a 10-client blast (MSGS lines per sender, 2,000 by
# default: 20,000 lines, 200,000 deliveries), history on. Unlike CPU time,
# instruction counts do not move with the machine's load, so two builds can
# be compared across sittings (kernel time is not in them: see
# examples/kernel_floor.rs for that side).
#   bash benches/callgrind.sh [BIN]     # default: a release build with symbols
#   KEEP=FILE keeps callgrind's output there (for callgrind_annotate --tree=caller)
# Prints the total and the main parts, per line and in all.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian: apt-get install valgrind)" >&2; exit 1; }
MSGS=${MSGS:-2000}
BIN=${1:-}
if [ -z "$BIN" ]; then
  CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=1 \
    cargo build --release --quiet --bin tcpplay --target-dir target/callgrind
  BIN=target/callgrind/release/tcpplay
fi
cargo build --release --quiet --example loadgen
LG=target/release/examples/loadgen
WORK=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; [ -n "${KEEP:-}" ] && cp "$WORK/cg.out" "$KEEP"; rm -rf "$WORK"' EXIT
TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS=0 TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 \
TCPPLAY_LIMITS__MESSAGES_PER_SECOND=0 HOME=$WORK \
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
  "$BIN" serve --bind 127.0.0.1 --port 0 --quiet --history "$WORK/h.sqlite3" \
  >"$WORK/out" 2>"$WORK/err" </dev/null &
PID=$!
for _ in $(seq 600); do grep -q "listening on" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$WORK/out" | head -1 | cut -d: -f2)
"$LG" --addr "127.0.0.1:$port" fanout --clients 10 --messages "$MSGS" --window 32 | tail -1
kill -INT $PID; wait $PID || true; PID=""
lines=$((10 * MSGS))
callgrind_annotate --inclusive=yes "$WORK/cg.out" 2>/dev/null | python3 -c '
import re, sys
lines = int(sys.argv[1])
parts = {
    "total": "PROGRAM TOTALS",
    "sessions (read, parse, publish, write)": "session/mod.rs:tcpplay::server::session::Session<S>::run::{{closure}}",
    "  parse a chat line": "protocol/codec.rs:tcpplay::protocol::codec::parse",
    "  serialize a chat line": "protocol/fast.rs:tcpplay::protocol::fast::write_chat_line",
    "history writer thread": "history/writer.rs:tcpplay::server::history::writer::Writer::run",
}
found = {}
for l in sys.stdin:
    m = re.match(r"\s*([\d,]+)", l)
    if not m:
        continue
    for name, key in parts.items():
        if key in l and name not in found:
            found[name] = int(m.group(1).replace(",", ""))
for name in parts:
    if name in found:
        print(f"{name:40} {found[name]/lines:10,.0f} per line {found[name]:15,} in all")
' "$lines"
