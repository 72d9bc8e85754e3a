#!/usr/bin/env bash
# The load benchmark under several kinds of player, ours and nginx-rtmp in each run: how much a
# result depends on how players read. Prints one line per (kind, server): CPU-seconds per GB,
# cores, memory per player and first frame.
#
# Usage: benches/load/kinds.sh [PLAYERS] [FFMPEG_PLAYERS]   (defaults 300 and 60)
# The last kind is real ffmpeg processes (`-c copy -f null`), fewer of them: each costs the
# machine far more than a load generator's player.
set -euo pipefail
cd "$(dirname "$0")/../.."
players=${1:-300}
ffmpeg_players=${2:-60}
kinds=(
  "bulk reader (256 KiB reads, acks every 2.5 MB, TCP_NODELAY)|"
  "small reads (4 KiB)|--read-size 4096"
  "reads every 20 ms (64 KiB)|--read-size 65536 --read-interval-ms 20"
  "never acknowledges|--ack-window 0"
  "Nagle on|--no-nodelay"
)
for kind in "${kinds[@]}"; do
  name=${kind%%|*} flags=${kind#*|}
  echo "### $name"
  LOADGEN_ARGS="$flags" bash benches/load/run.sh "$players" 2>/dev/null |
    grep -E "^==|delivered:|CPU-seconds|memory:|first video frame|players:"
done
echo "### ffmpeg players ($ffmpeg_players)"
FFMPEG_PLAYERS=1 bash benches/load/run.sh "$ffmpeg_players" 2>/dev/null |
  grep -E "^==|delivered:|CPU-seconds|memory:|players:"
