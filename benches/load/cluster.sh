#!/usr/bin/env bash
# Cluster load figure: N players of one stream on a single node, against the same N spread over
# three edges that pull the stream from one origin (four example servers and a Redis on this
# machine). Prints players held, delivered throughput, CPU-seconds per GB (all servers of the
# run together) and time to first video frame.
#
# Usage: benches/load/cluster.sh [PLAYERS]   (default 300; a multiple of 3)
# Environment: BITRATE (video, default 1M).
# Needs: ffmpeg, redis-server.
set -euo pipefail
cd "$(dirname "$0")/../.."
players=${1:-300}
ulimit -n "$(ulimit -Hn)"
work=target/load
# shellcheck source=benches/load/common.sh
source benches/load/common.sh
source=$(prepare_source "${BITRATE:-1M}")
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
server=target/release/examples/server
loadgen=target/release/examples/loadgen

# CPU seconds (user + system) of the processes given.
cpu() {
  local total=0 pid
  for pid in "$@"; do
    total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{print t + ($14 + $15) / hz}' "/proc/$pid/stat")
  done
  echo "$total"
}

publish() {
  ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i "$source" -c copy -f flv "rtmp://127.0.0.1:$1/live/bench" &
  pids+=("$!")
  sleep 3
}

# Runs loadgens (PORT:COUNT ...) at once; prints their lines and the totals, counting the CPU
# of every server pid in $servers over the run.
measure() {
  local before after outputs=() port count i=0
  before=$(cpu "${servers[@]}")
  for spec in "$@"; do
    port=${spec%%:*} count=${spec##*:}
    "$loadgen" --url "rtmp://127.0.0.1:$port/live/bench" --players "$count" --seconds 15 > "$work/cluster-$i.out" &
    outputs+=("$!")
    i=$((i + 1))
  done
  wait "${outputs[@]}"
  after=$(cpu "${servers[@]}")
  cat "$work"/cluster-*.out
  awk -v cpu="$(echo "$after - $before" | bc -l)" '
    /players:/ { held += $2 }
    /delivered:/ { mbs = $2; secs = $(NF - 1); bytes += mbs * 1e6 * secs }
    END { printf "total: %d players held, %.1f MB/s, %.3f CPU-seconds per GB (all servers, ramp-up included)\n", held, bytes / 15 / 1e6, cpu / (bytes / 1e9) }
  ' "$work"/cluster-*.out
  rm -f "$work"/cluster-*.out
}

redis-server --port 19710 --bind 127.0.0.1 --save "" --appendonly no > "$work/redis.log" 2>&1 &
pids+=("$!")

echo "== single node, $players players"
"$server" --listen 127.0.0.1:19711 > "$work/single.log" 2>&1 &
single=$!
pids+=("$single")
sleep 1
publish 19711
servers=("$single")
measure "19711:$players"
kill "$single"

echo "== origin and three edges, $players players over the edges"
cluster=(--cluster redis://127.0.0.1:19710 --cluster-lease-secs 10)
nodes=()
for port in 19720 19721 19722 19723; do
  "$server" --listen "127.0.0.1:$port" "${cluster[@]}" --node-url "rtmp://127.0.0.1:$port" > "$work/node-$port.log" 2>&1 &
  nodes+=("$!")
  pids+=("$!")
done
sleep 1
publish 19720
servers=("${nodes[@]}")
share=$((players / 3))
measure "19721:$share" "19722:$share" "19723:$share"
