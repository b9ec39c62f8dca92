#!/usr/bin/env bash
# Start or stop a local cluster from a cluster file (default config/cluster-3.yaml):
#   scripts/cluster.sh start|stop [CLUSTER_FILE] [DIR]
# Members run in the background; logs and pids go to DIR (default ./data/cluster), data to the
# file's data-dir (./data/cluster/node-N for the shipped files).
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-start}
file=${2:-config/cluster-3.yaml}
dir=${3:-./data/cluster}
bin=./target/release/sdr-node
mkdir -p "$dir"
ids=$(grep -oE "\{id: *[0-9]+" "$file" | grep -oE "[0-9]+$")
case "$action" in
  start)
    for id in $ids; do
      pidf="$dir/node-$id.pid"
      if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
        echo "node $id already running (pid $(cat "$pidf"))"; continue
      fi
      "$bin" --config "$file" --node-id "$id" >"$dir/node-$id.log" 2>&1 &
      echo $! >"$pidf"
    done
    # Wait for a leader.
    first_port=$(grep -oE 'client: *"[^"]+"' "$file" | head -1 | grep -oE '[0-9]+"$' | tr -d '"')
    for _ in $(seq 1 100); do
      if command -v redis-cli >/dev/null && redis-cli -p "$first_port" INFO replication 2>/dev/null | grep -qE 'raft_leader_id:[0-9]+'; then break; fi
      sleep 0.1
    done
    echo "cluster from $file is up; client addresses:"
    grep -oE 'client: *"[^"]+"' "$file" | sed -E 's/client: *"(.*)"/  \1/'
    echo "try: redis-cli -c -p $first_port   (followers redirect with -MOVED; -c follows)"
    echo "logs: $dir/node-*.log   stop: make cluster-stop"
    ;;
  stop)
    for id in $ids; do
      pidf="$dir/node-$id.pid"
      [ -f "$pidf" ] || continue
      kill "$(cat "$pidf")" 2>/dev/null || true
      rm -f "$pidf"
    done
    echo "stopped (data kept under the file's data-dir)"
    ;;
  *) echo "usage: $0 start|stop [CLUSTER_FILE] [DIR]" >&2; exit 2 ;;
esac
