#!/usr/bin/env bash
# The cluster's guarantees under many randomized fault schedules (the CI
# runs four seeds; this runs more, each with 16 faults): a real redis-server,
# two or three real nodes, clients chatting and recording, a checker over the
# histories (tests/it/faults). Prints how many seeds ran clean and the
# failing ones; a failing seed replays with
#   FAULT_SEED=N cargo test --test it faults::replay -- --ignored
#   bash benches/cluster_faults.sh        # SEEDS=20 FIRST=1000 REFUSING=1
# REFUSING=1 (the default) adds a Redis that refuses: over its maxmemory
# with noeviction, its password changed and restored, DEBUG SLEEP stalls
# (replay a failing seed with FAULT_REFUSING=1 too).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "needs redis-server (apt-get install redis-server)"; exit 2; }
FAULT_SEEDS=${SEEDS:-20} FAULT_FIRST=${FIRST:-1000} FAULT_REFUSING=${REFUSING:-1} \
  cargo test --test it faults::many -- --ignored --nocapture 2>&1 | grep -E "^seed [0-9]+:|ran clean|  "
