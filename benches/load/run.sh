#!/usr/bin/env bash
# Server load benchmark: one publisher of a 4 Mbit/s H.264/AAC stream and N players on
# 127.0.0.1, against our example server and against nginx with libnginx-mod-rtmp (one worker,
# for a per-core comparison). Prints delivered throughput, server CPU-seconds per GB, memory
# per player and time to first video frame.
#
# Usage: benches/load/run.sh [PLAYER_COUNTS...]   (default: 100 1000)
# Environment: BITRATE (video, default 4M), SERVER_ARGS (flags for our server, e.g.
# "--write-interval-ms 40"), SERVER_BIN (another build of the example server, to compare
# builds in one run), SKIP_NGINX=1 to measure ours only, LOADGEN_ARGS (how players read, e.g.
# "--read-size 4096"; see benches/load/kinds.sh), FFMPEG_PLAYERS=1 to play with N real ffmpeg
# processes (`-c copy -f null`) instead of the load generator: bytes are then counted on the
# loopback interface, and no first frame is measured. HTTP_FLV=1 measures our server's
# HTTP-FLV viewers (`--watch`) in the same run, after its RTMP players (WATCH_ARGS: flags of
# the viewer listener instead of lifting its per-address cap). HLS=1 measures Low-Latency HLS
# clients (each rendition read part by part with blocking reloads, as hls.js does) the same
# way, after the HTTP-FLV viewers when both are asked for.
# Needs: ffmpeg, nginx, libnginx-mod-rtmp (apt-get install -y ffmpeg nginx libnginx-mod-rtmp).
set -euo pipefail
cd "$(dirname "$0")/../.."
counts=("${@:-100 1000}")
[ $# -gt 0 ] || counts=(100 1000)
# 20 000 players need 20 000 descriptors on each side; root may raise the hard limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=target/load
# shellcheck source=benches/load/common.sh
source benches/load/common.sh
source=$(prepare_source "${BITRATE:-4M}")

nginx_conf 19701 20000

# The cost to process $1 so far: user and system CPU ticks (1/100 s) and resident KiB.
cost() {
  local stat
  stat=$(cut -d')' -f2- "/proc/$1/stat")
  echo "$(echo "$stat" | awk '{print $12, $13}') $(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")"
}

# N ffmpeg players of $1 on the server $2: the same figures as the load generator prints.
ffmpeg_players() {
  local url=$1 pid=$2 n=$3 players=() window=15
  read -r _ _ rss0 < <(cost "$pid")
  for _ in $(seq "$n"); do
    ffmpeg -nostdin -loglevel error -i "$url" -c copy -f null - &
    players+=("$!")
  done
  sleep 8
  local playing=0
  for player in "${players[@]}"; do kill -0 "$player" 2>/dev/null && playing=$((playing + 1)); done
  read -r user1 system1 rss1 < <(cost "$pid")
  local lo1 lo2
  lo1=$(cat /sys/class/net/lo/statistics/tx_bytes)
  sleep "$window"
  lo2=$(cat /sys/class/net/lo/statistics/tx_bytes)
  read -r user2 system2 _ < <(cost "$pid")
  kill "${players[@]}" 2>/dev/null || true
  wait "${players[@]}" 2>/dev/null || true
  # Loopback carries the publisher's stream once and each player's copy of it.
  awk -v n="$n" -v playing="$playing" -v bytes=$((lo2 - lo1)) -v window="$window" \
    -v user=$((user2 - user1)) -v sys=$((system2 - system1)) -v rss0="$rss0" -v rss1="$rss1" 'BEGIN {
      gb = bytes * n / (n + 1) / 1e9
      printf "players: %d playing, %d failed\n", playing, n - playing
      printf "delivered: %.1f MB/s over %d s (loopback)\n", gb * 1000 / window, window
      printf "server: %.3f CPU-seconds per GB delivered (%.2f cores; user %.3f, system %.3f per GB)\n", \
        (user + sys) / 100 / gb, (user + sys) / 100 / window, user / 100 / gb, sys / 100 / gb
      printf "server memory: %.1f MiB with players, %.1f KiB per player\n", rss1 / 1024, (rss1 - rss0) / n
    }'
}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

run() {
  local name=$1 port=$2 pid=$3
  local publisher
  ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i "$source" -c copy -f flv "rtmp://127.0.0.1:$port/live/bench" &
  publisher=$!
  pids+=("$publisher")
  sleep 3
  for n in "${counts[@]}"; do
    echo "== $name, $n players"
    if [ "${FFMPEG_PLAYERS:-0}" = 1 ]; then
      ffmpeg_players "rtmp://127.0.0.1:$port/live/bench" "$pid" "$n"
      continue
    fi
    # shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags.
    target/release/examples/loadgen --url "${url:-rtmp://127.0.0.1:$port/live/bench}" --players "$n" --seconds 15 --server-pid "$pid" ${LOADGEN_ARGS:-}
  done
  kill "$publisher" 2>/dev/null || true
}

watch=()
# Every viewer comes from 127.0.0.1: the per-address cap is lifted (WATCH_ARGS set, even to
# nothing, replaces that flag, e.g. for a build that has no such cap).
# shellcheck disable=SC2206 # WATCH_ARGS is a list of flags.
[ "${HTTP_FLV:-0}" = 1 ] || [ "${HLS:-0}" = 1 ] && watch=(--watch 127.0.0.1:19702 ${WATCH_ARGS---watch-max-connections-per-ip 100000})
# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags.
${SERVER_BIN:-target/release/examples/server} --listen 127.0.0.1:19700 "${watch[@]}" ${SERVER_ARGS:-} > "$work/server.log" 2>&1 &
ours=$!
pids+=("$ours")
sleep 1
run "rtmp-rs ${SERVER_ARGS:-(chunk size 1024)}" 19700 "$ours"
if [ "${HTTP_FLV:-0}" = 1 ]; then
  url=http://127.0.0.1:19702/live/bench.flv run "rtmp-rs HTTP-FLV viewers" 19700 "$ours"
fi
if [ "${HLS:-0}" = 1 ]; then
  url=http://127.0.0.1:19702/live/bench/index.m3u8 run "rtmp-rs LL-HLS clients" 19700 "$ours"
fi
kill "$ours"
[ "${SKIP_NGINX:-0}" = 1 ] && exit 0

nginx -c "$PWD/$work/nginx.conf" -p "$PWD/$work" &
nginx_pid=$!
pids+=("$nginx_pid")
sleep 1
run "nginx-rtmp (1 worker, chunk size 4096)" 19701 "$nginx_pid"
