#!/usr/bin/env bash
# Side-by-side load runs on this machine, loopback only, bounded in time:
# tcpplay (plaintext, TLS, secure) and `ncat --chat`, same parameters, back to
# back. Writes docs/BENCHMARKS.md's generated section (between the markers).
#
#   bash benches/compare.sh            # full run (~3 minutes on 2 cores)
#   QUICK=1 bash benches/compare.sh    # smaller runs, for a smoke test
#   PYTHON_HOST=/path/to/host.py bash benches/compare.sh
#                                      # also the Python TCP-Playground server (not shipped
#                                      # here: point at your copy of the original)
set -euo pipefail
cd "$(dirname "$0")/.."

MSGS=${MSGS:-1000}
IDLE=${IDLE:-10000}
if [ -n "${QUICK:-}" ]; then MSGS=200; IDLE=1000; fi

cargo build --release --quiet --bin tcpplay --example loadgen --example secure_login
BIN=target/release/tcpplay
LG=target/release/examples/loadgen
if ! command -v ncat >/dev/null 2>&1; then
  echo "installing ncat (Debian package) for the comparison"
  (apt-get update -qq && apt-get install -y -qq ncat) >/dev/null || echo "ncat unavailable: its rows will be empty"
fi
ulimit -n "$(ulimit -Hn)" || true

WORK=$(mktemp -d)
RESULTS="$WORK/results.jsonl"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" gen-cert --out-dir "$WORK" >/dev/null
echo "bench room password" > "$WORK/pw"; chmod 600 "$WORK/pw"

start_tcpplay() { # mode -> sets SERVER_PID and PORT
  # History on (the default), in a fresh file per start: never the user's own.
  rm -f "$WORK"/history.sqlite3*
  local args=(serve --bind 127.0.0.1 --port 0 --quiet)
  case "$1" in
    plain-nohist) args+=(--no-history) ;;
    *) args+=(--history "$WORK/history.sqlite3") ;;
  esac
  case "$1" in
    tls) args+=(--tls --cert "$WORK/cert.pem" --key "$WORK/key.pem") ;;
    secure) args+=(--secure --password-file "$WORK/pw" --cert "$WORK/cert.pem" --key "$WORK/key.pem") ;;
  esac
  # Load from one loopback address: lift the per-address and per-client chat limits.
  TCPPLAY_LIMITS__MAX_CLIENTS=20000 TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS=0 \
  TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 TCPPLAY_LIMITS__MESSAGES_PER_SECOND=0 \
  "$BIN" "${args[@]}" >"$WORK/server.out" 2>"$WORK/server.err" </dev/null &
  SERVER_PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
  PORT=$(grep -o '127.0.0.1:[0-9]*' "$WORK/server.out" | head -1 | cut -d: -f2)
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_ncat() {
  PORT=$(free_port)
  ncat --chat --max-conns 20000 -l 127.0.0.1 "$PORT" >/dev/null 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" 2>/dev/null && break
    sleep 0.1
  done
}
start_python() {
  PORT=$(free_port)
  ( (echo n; sleep 900) | python3 -u "$PYTHON_HOST" --bind 127.0.0.1 --port "$PORT" >/dev/null 2>&1 ) &
  SERVER_PID=$!
  for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" 2>/dev/null && break
    sleep 0.1
  done
}
stop() { pkill -P "$SERVER_PID" 2>/dev/null || true; kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

run() { # label server-mode loadgen-mode loadgen-args...
  local label=$1 smode=$2 lmode=$3; shift 3
  if [ "$smode" = ncat ]; then
    command -v ncat >/dev/null 2>&1 || return 0
    start_ncat
  elif [ "$smode" = python ]; then
    [ -n "${PYTHON_HOST:-}" ] || return 0
    start_python
  else
    start_tcpplay "$smode"
  fi
  local extra=()
  [ "$lmode" = secure ] && extra=(--password "bench room password")
  [ "$lmode" = tls ] || [ "$lmode" = secure ] && extra+=(--cert "$WORK/cert.pem")
  local args=()
  for a in "$@"; do args+=("${a/@PID/$SERVER_PID}"); done
  echo "== $label: loadgen --mode $lmode ${args[*]}" >&2
  if out=$(timeout 300 "$LG" --addr "127.0.0.1:$PORT" --mode "$lmode" --json "${extra[@]}" "${args[@]}" 2>"$WORK/lg.err"); then
    echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["label"]=sys.argv[1]; print(json.dumps(d))' "$label" >>"$RESULTS"
  else
    echo "{\"label\": \"$label\", \"failed\": true}" >>"$RESULTS"; tail -3 "$WORK/lg.err" >&2
  fi
  stop
}

for c in 50 100; do
  run "tcpplay plaintext fan-out $c" plain plain fanout --clients "$c" --messages "$MSGS"
  run "tcpplay plaintext fan-out $c, --no-history" plain-nohist plain fanout --clients "$c" --messages "$MSGS"
  run "ncat --chat fan-out $c" ncat lines fanout --clients "$c" --messages "$MSGS"
  run "Python TCP-Playground fan-out $c" python plain fanout --clients "$c" --messages 100
  run "tcpplay TLS fan-out $c" tls tls fanout --clients "$c" --messages "$MSGS"
  run "tcpplay secure fan-out $c" secure secure fanout --clients "$c" --messages "$MSGS"
done
# A secure payload (base64 of nonce + ciphertext + tag) of a 100-byte text is 188
# bytes: TLS with 188-byte texts moves the same bytes per line as secure mode.
run "tcpplay TLS fan-out 50, 188-byte texts" tls tls fanout --clients 50 --messages "$MSGS" --bytes 188
run "tcpplay plaintext paced 100" plain plain fanout --clients 100 --rate 100 --duration 20
run "ncat --chat paced 100" ncat lines fanout --clients 100 --rate 100 --duration 20
run "Python TCP-Playground paced 100" python plain fanout --clients 100 --rate 100 --duration 20
run "tcpplay plaintext idle $IDLE" plain plain idle --clients "$IDLE" --server-pid @PID
run "tcpplay TLS idle $IDLE" tls tls idle --clients "$IDLE" --server-pid @PID

# Scale: SCALE clients connected and joined, and 100 more chatting at 10 msg/s
# among them (every line goes to all SCALE+100 members).
SCALE=${SCALE:-19000}; [ -n "${QUICK:-}" ] && SCALE=2000
start_tcpplay plain
"$LG" --addr "127.0.0.1:$PORT" --json idle --clients "$SCALE" --hold 60 --server-pid "$SERVER_PID" >"$WORK/idle.json" 2>"$WORK/idle.err" &
IDLE_PID=$!
for _ in $(seq 600); do [ -s "$WORK/idle.json" ] && break; sleep 0.1; done
if [ -s "$WORK/idle.json" ]; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["label"]="tcpplay scale: %d idle clients" % d["clients"]; print(json.dumps(d))' "$WORK/idle.json" >>"$RESULTS"
  echo "== scale: paced chat beside $SCALE idle clients" >&2
  if out=$(timeout 120 "$LG" --addr "127.0.0.1:$PORT" --json fanout --clients 100 --rate 10 --duration 15 2>>"$WORK/lg.err"); then
    echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["label"]="tcpplay paced 100 beside %s idle" % sys.argv[1]; print(json.dumps(d))' "$SCALE" >>"$RESULTS"
  fi
else
  echo "{\"label\": \"tcpplay scale: $SCALE idle clients\", \"failed\": true}" >>"$RESULTS"; tail -3 "$WORK/idle.err" >&2
fi
kill "$IDLE_PID" 2>/dev/null || true; wait "$IDLE_PID" 2>/dev/null || true
stop

KDF=$(target/release/examples/secure_login)
python3 benches/report.py "$RESULTS" "$KDF" "$MSGS"
