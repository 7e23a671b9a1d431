#!/usr/bin/env bash
# What joining a secure room costs, per binary, in one sitting: N joins one
# after another (each leaves at once), the wall time of each `tcpplay join`
# and the server's CPU time per join (all its threads, /proc/PID/task/*/schedstat).
#   bash benches/secure_join.sh BIN_A [BIN_B ...]      (N=20 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
WORK=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s+=$1} END {print s}'; }
printf "%-36s %14s %20s\n" binary "join wall ms" "server CPU ms/join"
for bin in "$@"; do
  HOME=$WORK "$bin" gen-cert --out-dir "$WORK" --force >/dev/null
  echo "bench room password" >"$WORK/pw"; chmod 600 "$WORK/pw"
  rm -f "$WORK/out"
  HOME=$WORK TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE=0 "$bin" serve --bind 127.0.0.1 --port 0 --no-history --quiet \
    --secure --password-file "$WORK/pw" --cert "$WORK/cert.pem" --key "$WORK/key.pem" >"$WORK/out" 2>/dev/null </dev/null &
  PID=$!
  until grep -q "listening on" "$WORK/out" 2>/dev/null; do sleep 0.05; done
  port=$(grep -o '127.0.0.1:[0-9]*' "$WORK/out" | head -1 | cut -d: -f2)
  before=$(cpu_ns $PID)
  start=$(date +%s%N)
  for i in $(seq "$N"); do
    HOME=$WORK TCPPLAY_PASSWORD="bench room password" "$bin" join --host localhost --port "$port" \
      --cert "$WORK/cert.pem" --name "j$i" </dev/null >/dev/null 2>&1
  done
  end=$(date +%s%N)
  after=$(cpu_ns $PID)
  python3 -c "import sys; n,s,e,b,a=map(float,sys.argv[2:]); print(f'{sys.argv[1]:<36} {(e-s)/1e6/n:14.1f} {(a-b)/1e6/n:20.3f}')" "$bin" "$N" "$start" "$end" "$before" "$after"
  kill $PID; while kill -0 $PID 2>/dev/null; do sleep 0.05; done; PID=""
done
