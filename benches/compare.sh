#!/usr/bin/env bash
# Side-by-side load runs on this machine, loopback only, bounded in time:
# tcpplay (history on, the default, and --no-history; TLS; secure),
# `ncat --chat`, and the IRC servers ngircd and InspIRCd (Debian's packages,
# configs in benches/irc/ with every flood limit lifted; the load generator
# speaks IRC to them: NICK/USER, JOIN, PRIVMSG, no self-echo) beside
# tcpplay's own IRC listener (`serve --irc`, history on: the same bytes), same
# parameters and flow control, in one sitting. The fair
# figure is server CPU per delivery (utime+stime of the server process over
# the send phase / deliveries); deliveries/s, syscalls per delivery and bytes
# per write (from perf's tracepoints, when perf can attach) are beside it.
# Flat-out rows run RUNS times, peers alternating; medians are reported and
# a run that lost, dropped or stalled anyone is shown as invalid, never
# averaged in. Writes docs/BENCHMARKS.md's generated section.
#
#   bash benches/compare.sh            # full run (~10 minutes on 2 cores)
#   QUICK=1 bash benches/compare.sh    # smaller runs, for a smoke test
#   PYTHON_HOST=/path/to/host.py bash benches/compare.sh
#                                      # also the Python TCP-Playground server (not shipped
#                                      # here: point at your copy of the original)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
WINDOW=${WINDOW:-32}
IDLE=${IDLE:-10000}
SCALE=${SCALE:-19000}
PACED=${PACED:-20}
# Messages per sender: about a million deliveries per run at each size.
msgs_for() { if [ -n "${MSGS:-}" ]; then echo "$MSGS"; elif [ "$1" -le 10 ]; then echo 10000; else echo 1000; fi; }
if [ -n "${QUICK:-}" ]; then RUNS=1; MSGS=${MSGS:-300}; IDLE=1000; SCALE=2000; PACED=5; fi

cargo build --release --quiet --bin tcpplay --example loadgen --example secure_login
BIN=target/release/tcpplay
LG=target/release/examples/loadgen
if ! command -v ncat >/dev/null 2>&1; then
  echo "installing ncat (Debian package) for the comparison"
  (apt-get update -qq && apt-get install -y -qq ncat) >/dev/null || echo "ncat unavailable: its rows will be empty"
fi
for pkg in ngircd inspircd; do
  if ! command -v "$pkg" >/dev/null 2>&1; then
    echo "installing $pkg (Debian package) for the comparison"
    (apt-get update -qq && apt-get install -y -qq "$pkg") >/dev/null || echo "$pkg unavailable: its rows will be empty"
  fi
done
ulimit -n "$(ulimit -Hn)" || true

WORK=$(mktemp -d)
RESULTS="$WORK/results.jsonl"
SERVER_PID=""
IDLE_PID=""
cleanup() {
  [ -n "$IDLE_PID" ] && kill "$IDLE_PID" 2>/dev/null
  [ -n "$SERVER_PID" ] && { pkill -P "$SERVER_PID" 2>/dev/null; kill "$SERVER_PID" 2>/dev/null; }
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" gen-cert --out-dir "$WORK" >/dev/null
echo "bench room password" > "$WORK/pw"; chmod 600 "$WORK/pw"

start_tcpplay() { # mode [extra serve args...] -> sets SERVER_PID and PORT
  local mode=$1; shift
  # History on (the default), in a fresh file per start: never the user's own.
  rm -rf "$WORK"/history.sqlite3*
  # /metrics on a port of its own: after the run, the history's dropped
  # lines (a run whose history fell behind is excluded).
  METRICS_PORT=$(free_port)
  local args=(serve --bind 127.0.0.1 --port 0 --quiet --metrics "127.0.0.1:$METRICS_PORT" "$@")
  case "$mode" in
    plain-nohist) args+=(--no-history) ;;
    *) args+=(--history "$WORK/history.sqlite3") ;;
  esac
  case "$mode" in
    irc) args+=(--irc 127.0.0.1:0) ;;
    tls) args+=(--tls --cert "$WORK/cert.pem" --key "$WORK/key.pem") ;;
    secure) args+=(--secure --password-file "$WORK/pw" --cert "$WORK/cert.pem" --key "$WORK/key.pem") ;;
  esac
  # Load from one loopback address: lift the per-address and per-client chat
  # limits, and the room count (64 by default) for the many-rooms rows.
  rm -f "$WORK/server.out"
  TCPPLAY_LIMITS__MAX_CLIENTS=30000 TCPPLAY_LIMITS__MAX_ROOMS=10000 TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS=0 \
  TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 TCPPLAY_LIMITS__MESSAGES_PER_SECOND=0 HOME="$WORK" \
  "$BIN" "${args[@]}" >"$WORK/server.out" 2>"$WORK/server.err" </dev/null &
  SERVER_PID=$!
  for _ in $(seq 200); do grep -q "listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.05; done
  PORT=$(grep -o '127.0.0.1:[0-9]*' "$WORK/server.out" | head -1 | cut -d: -f2)
  if [ "$mode" = irc ]; then # the IRC address, from the line serve prints for irssi
    for _ in $(seq 200); do grep -q "irssi: " "$WORK/server.out" 2>/dev/null && break; sleep 0.05; done
    PORT=$(grep "irssi: " "$WORK/server.out" | head -1 | awk '{print $NF}')
  fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" 2>/dev/null && return 0
    sleep 0.1
  done
}
start_ncat() {
  PORT=$(free_port)
  ncat --chat --max-conns 20000 -l 127.0.0.1 "$PORT" >/dev/null 2>&1 &
  SERVER_PID=$!
  wait_port
}
irc_conf() { # template -> config path, with PORT and WORK filled in
  sed "s#@PORT@#$PORT#g; s#@WORK@#$WORK#g" "benches/irc/$1" >"$WORK/$1"; echo "$WORK/$1"
}
start_ngircd() {
  PORT=$(free_port)
  ngircd --nodaemon --config "$(irc_conf ngircd.conf)" >/dev/null 2>&1 &
  SERVER_PID=$!
  wait_port
}
start_inspircd() {
  PORT=$(free_port)
  # --runasroot: CI and these machines run as root; the server binds loopback only.
  inspircd --nofork --runasroot --config="$(irc_conf inspircd.conf)" >/dev/null 2>&1 &
  SERVER_PID=$!
  wait_port
}
start_python() {
  PORT=$(free_port)
  ( (echo n; sleep 900) | python3 -u "$PYTHON_HOST" --bind 127.0.0.1 --port "$PORT" >/dev/null 2>&1 ) &
  SERVER_PID=$!
  wait_port
  # The server is python3 itself (under the subshell): measure that process.
  local py; py=$(pgrep -n -f "$PYTHON_HOST" || true); [ -n "$py" ] && SERVER_PID_MEASURED=$py
}
stop() {
  pkill -P "$SERVER_PID" 2>/dev/null || true; kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

run() { # label peer [serve args] -- loadgen-mode loadgen-args...   (@PID: the server's pid)
  local label=$1 peer=$2; shift 2
  local serve_args=()
  while [ "$1" != "--" ]; do serve_args+=("$1"); shift; done; shift
  local lmode=$1; shift
  SERVER_PID_MEASURED=""
  METRICS_PORT=""
  case "$peer" in
    ncat) command -v ncat >/dev/null 2>&1 || return 0; start_ncat ;;
    ngircd) command -v ngircd >/dev/null 2>&1 || return 0; start_ngircd ;;
    inspircd) command -v inspircd >/dev/null 2>&1 || return 0; start_inspircd ;;
    python) [ -n "${PYTHON_HOST:-}" ] || return 0; start_python ;;
    *) start_tcpplay "$peer" "${serve_args[@]}" ;;
  esac
  local pid=${SERVER_PID_MEASURED:-$SERVER_PID}
  local extra=()
  [ "$lmode" = secure ] && extra=(--password "bench room password")
  [ "$lmode" = tls ] || [ "$lmode" = secure ] && extra+=(--cert "$WORK/cert.pem")
  local args=()
  for a in "$@"; do args+=("${a/@PID/$pid}"); done
  echo "== $label: loadgen --mode $lmode ${args[*]}" >&2
  if out=$(timeout 300 "$LG" --addr "127.0.0.1:$PORT" --mode "$lmode" --json --server-pid "$pid" "${extra[@]}" "${args[@]}" 2>"$WORK/lg.err"); then
    echo "$out" | python3 -c '
import json, re, sys, urllib.request
d = json.loads(sys.stdin.read()); d["label"] = sys.argv[1]
if sys.argv[2]:
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[2], timeout=10).read().decode()
    m = re.search(r"^tcpplay_history_dropped_total (\d+)", text, re.M)
    d["history_dropped"] = int(m.group(1)) if m else 0
print(json.dumps(d))' "$label" "$METRICS_PORT" >>"$RESULTS"
  else
    echo "{\"label\": \"$label\", \"failed\": true}" >>"$RESULTS"; tail -3 "$WORK/lg.err" >&2
  fi
  stop
}

# Flow-controlled blasts: every client sends, everyone receives; a sender
# stays at most WINDOW messages ahead of its slowest receiver, for every peer,
# and writes each line on its own (TCP_NODELAY), as interactive clients do.
# tcpplay's rows: protocol-3 clients (what `tcpplay join` speaks) and legacy
# ones (the original's clients), each in its own row.
for c in 10 50 100; do
  m=$(msgs_for "$c")
  for _ in $(seq "$RUNS"); do
    run "fan-out $c: tcpplay" plain -- plain fanout --clients "$c" --messages "$m" --window "$WINDOW"
    run "fan-out $c: tcpplay --no-history" plain-nohist -- plain fanout --clients "$c" --messages "$m" --window "$WINDOW"
    run "fan-out $c: tcpplay, legacy clients" plain -- plain --legacy fanout --clients "$c" --messages "$m" --window "$WINDOW"
    run "fan-out $c: ncat --chat" ncat -- lines fanout --clients "$c" --messages "$m" --window "$WINDOW"
    run "fan-out $c: ngircd" ngircd -- irc fanout --clients "$c" --messages "$m" --window "$WINDOW"
    run "fan-out $c: InspIRCd" inspircd -- irc fanout --clients "$c" --messages "$m" --window "$WINDOW"
    run "fan-out $c: tcpplay --irc" irc -- irc fanout --clients "$c" --messages "$m" --window "$WINDOW"
    run "fan-out $c: Python TCP-Playground" python -- plain fanout --clients "$c" --messages 100 --window "$WINDOW"
  done
done
# What the generator used to do: a flat-out sender put up to its window of
# lines in one write. No interactive client does that, and it flattered
# tcpplay (which reads a batch and fans it out in one go) far more than the
# peers: both rows beside the one-line-per-write rows above, in one sitting.
for c in 10 50; do
  m=$(msgs_for "$c")
  for _ in $(seq "$RUNS"); do
    run "fan-out $c: tcpplay, $WINDOW lines per write" plain -- plain fanout --clients "$c" --messages "$m" --window "$WINDOW" --lines-per-write "$WINDOW"
    run "fan-out $c: InspIRCd, $WINDOW lines per write" inspircd -- irc fanout --clients "$c" --messages "$m" --window "$WINDOW" --lines-per-write "$WINDOW"
  done
done
# Many rooms: ROOMS rooms of 10 (client i in room i mod ROOMS), everyone
# speaking in its own room.
ROOMS=${ROOMS:-100}
[ -n "${QUICK:-}" ] && ROOMS=10
for _ in $(seq "$RUNS"); do
  for peer in plain ngircd inspircd irc; do
    lmode=irc; label=$peer; [ "$peer" = plain ] && { lmode=plain; label=tcpplay; }
    [ "$peer" = inspircd ] && label=InspIRCd
    [ "$peer" = irc ] && label="tcpplay --irc"
    run "rooms $ROOMS x 10: $label" "$peer" -- "$lmode" fanout --clients "$((ROOMS * 10))" --rooms "$ROOMS" --messages "${MSGS:-1000}" --window "$WINDOW"
  done
done
# Threads: the same blast with one and two worker threads.
for c in 50 100; do
  for _ in $(seq "$RUNS"); do
    for w in 1 2; do
      run "fan-out $c: tcpplay --workers $w" plain --workers "$w" -- plain fanout --clients "$c" --messages "$(msgs_for "$c")" --window "$WINDOW"
    done
  done
done
# TLS and the secure room at 50. A secure payload (base64 of nonce +
# ciphertext + tag) of a 100-byte text is 188 bytes: TLS with 188-byte texts
# moves the same bytes per line as the secure room.
m=$(msgs_for 50)
run "fan-out 50: tcpplay TLS" tls -- tls fanout --clients 50 --messages "$m" --window "$WINDOW"
run "fan-out 50: tcpplay TLS, 188-byte texts" tls -- tls fanout --clients 50 --messages "$m" --window "$WINDOW" --bytes 188
run "fan-out 50: tcpplay secure room" secure -- secure fanout --clients 50 --messages "$m" --window "$WINDOW"

# Paced: 100 clients, 100 messages/s in all (1 each per second).
run "paced 100: tcpplay" plain -- plain fanout --clients 100 --rate 100 --duration "$PACED"
run "paced 100: ncat --chat" ncat -- lines fanout --clients 100 --rate 100 --duration "$PACED"
run "paced 100: Python TCP-Playground" python -- plain fanout --clients 100 --rate 100 --duration "$PACED"

# Memory: idle members (server RSS growth per client after all joined).
run "idle $IDLE: tcpplay plaintext" plain -- plain idle --clients "$IDLE"
run "idle $IDLE: tcpplay TLS" tls -- tls idle --clients "$IDLE"

# Scale: SCALE idle members (who read everything) and 100 more chatting at
# 10 msg/s in all among them: every line goes to all SCALE+100 members.
start_tcpplay plain
"$LG" --addr "127.0.0.1:$PORT" --json idle --clients "$SCALE" --hold 600 --server-pid "$SERVER_PID" >"$WORK/idle.json" 2>"$WORK/idle.err" &
IDLE_PID=$!
for _ in $(seq 1200); do [ -s "$WORK/idle.json" ] && break; kill -0 "$IDLE_PID" 2>/dev/null || break; sleep 0.1; done
if [ -s "$WORK/idle.json" ]; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["label"]="scale: %d idle members" % d["clients"]; print(json.dumps(d))' "$WORK/idle.json" >>"$RESULTS"
  echo "== scale: paced chat beside $SCALE idle members" >&2
  if out=$(timeout 200 "$LG" --addr "127.0.0.1:$PORT" --json --server-pid "$SERVER_PID" fanout --clients 100 --rate 10 --duration "$((PACED + 10))" --warmup 1 2>>"$WORK/lg.err"); then
    echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["label"]="scale: 100 chatting beside %s idle" % sys.argv[1]; print(json.dumps(d))' "$SCALE" >>"$RESULTS"
  else
    echo "{\"label\": \"scale: 100 chatting beside $SCALE idle\", \"failed\": true}" >>"$RESULTS"
  fi
else
  echo "{\"label\": \"scale: $SCALE idle members\", \"failed\": true}" >>"$RESULTS"; tail -3 "$WORK/idle.err" >&2
fi
kill "$IDLE_PID" 2>/dev/null || true; wait "$IDLE_PID" 2>/dev/null || true; IDLE_PID=""
stop

KDF=$(target/release/examples/secure_login)
python3 benches/report.py "$RESULTS" "$KDF" "$WINDOW" "$RUNS"
cp "$RESULTS" "${RESULTS_OUT:-/tmp/tcpplay-bench-results.jsonl}" 2>/dev/null || true
