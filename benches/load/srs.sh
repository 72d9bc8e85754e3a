#!/usr/bin/env bash
# SRS's published RTMP load test on this machine: one 200 kbit/s H.264 + 32 kbit/s AAC stream
# at 25 fps and 11 520 players, the server pinned to core 0 and the publisher and load
# generator to core 1; our example server, then nginx-rtmp (one worker). Prints, per server:
# players served, the server's share of its core, CPU-seconds per GB and microseconds of server
# CPU per delivered message. With PROFILE=1 it also records a `perf` profile of our server
# during the window (target/load/srs-perf.data) and prints where its time goes.
#
# Usage: benches/load/srs.sh [PLAYERS]   (default 11520)
# Environment: SERVER_ARGS (flags for our server, e.g. "--write-interval-ms 350"), SERVER_BIN
# (another build), RUNS (windows measured on our server, default 1; with more, the median core
# share is printed too: one run's share varies by a few points on a shared machine), WINDOW
# (seconds measured per run, default 60: the first seconds after the players joined cost more
# and vary more, and a long window holds every player's keep-alive pings),
# SKIP_NGINX=1, PROFILE=1 (needs linux-perf; profiles the first window).
set -euo pipefail
cd "$(dirname "$0")/../.."
players=${1:-11520}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=target/load
# shellcheck source=benches/load/common.sh
source benches/load/common.sh
prepare_source 4M > /dev/null
nginx_conf 19711 "$((players + 100))"

# SRS's stream: 25 fps H.264 at 200 kbit/s and AAC at 32 kbit/s, made once.
source="$work/srs-source.flv"
if [ ! -s "$source" ]; then
  ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=25 \
    -f lavfi -i sine=frequency=440:sample_rate=44100 -t 30 -pix_fmt yuv420p \
    -c:v libx264 -preset veryfast -b:v 200k -maxrate 200k -bufsize 200k -g 50 \
    -c:a aac -b:a 32k -f flv "$source"
fi
# Messages a second in the stream (video frames and audio frames), to price each delivered one.
packets=$(ffprobe -v error -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$source" |
  awk '{sum += $1} END {print sum}')
seconds=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$source")
rate=$(awk -v packets="$packets" -v seconds="$seconds" 'BEGIN {print packets / seconds}')

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

measure() {
  local name=$1 port=$2 pid=$3 publisher out profiler=""
  taskset -c 1 ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i "$source" -c copy -f flv \
    "rtmp://127.0.0.1:$port/live/srs" &
  publisher=$!
  pids+=("$publisher")
  sleep 3
  echo "== $name, $players players (server on core 0; publisher and players on core 1)"
  if [ "${PROFILE:-0}" = 1 ] && [ "$port" = 19710 ] && [ ! -s "$work/srs-perf.data.new" ]; then
    # The window starts once every player has its first frame; sample 10 s inside it.
    (sleep 25 && perf record -q -e cpu-clock -g -p "$pid" -o "$work/srs-perf.data.new" -- sleep 10 \
      > /dev/null 2>&1) &
    profiler=$!
  fi
  out=$(taskset -c 1 target/release/examples/loadgen --url "rtmp://127.0.0.1:$port/live/srs" \
    --players "$players" --seconds "${WINDOW:-60}" --server-pid "$pid")
  echo "$out"
  local playing cores
  playing=$(awk '/^players:/ {print $2}' <<<"$out")
  cores=$(sed -n 's/.*(\([0-9.]*\) cores;.*/\1/p' <<<"$out")
  if [ -n "$cores" ] && [ "${playing:-0}" -gt 0 ]; then
    shares+=("$cores")
    awk -v cores="$cores" -v playing="$playing" -v rate="$rate" 'BEGIN {
      printf "server core: %.1f%%, %.2f us per delivered message (%.1f messages a second to each of %d players)\n",
        cores * 100, cores * 1e6 / (playing * rate), rate, playing
    }'
  fi
  kill "$publisher" 2>/dev/null || true
  wait "$publisher" 2>/dev/null || true
  [ -z "$profiler" ] || wait "$profiler" || true
}

taskset -c 0 "${SERVER_BIN:-target/release/examples/server}" --listen 127.0.0.1:19710 \
  ${SERVER_ARGS:-} > "$work/srs-server.log" 2>&1 &
ours=$!
pids+=("$ours")
sleep 1
shares=()
rm -f "$work/srs-perf.data.new"
for _ in $(seq "${RUNS:-1}"); do
  measure "rtmp-rs ${SERVER_ARGS:-(defaults)}" 19710 "$ours"
done
kill "$ours"
[ ! -s "$work/srs-perf.data.new" ] || mv "$work/srs-perf.data.new" "$work/srs-perf.data"
if [ "${#shares[@]}" -gt 1 ]; then
  printf '%s\n' "${shares[@]}" | sort -n | awk '{share[NR] = $1 * 100} END {
    printf "server core over %d runs: median %.1f%% (%.1f%% to %.1f%%)\n", NR,
      NR % 2 ? share[(NR + 1) / 2] : (share[NR / 2] + share[NR / 2 + 1]) / 2, share[1], share[NR]
  }'
fi
if [ "${PROFILE:-0}" = 1 ]; then
  echo "== where our server's time went (perf, cpu-clock samples)"
  report() { perf report -i "$work/srs-perf.data" --stdio "$@" 2>/dev/null | grep -E '^ +[0-9]' || true; }
  report --no-children --sort dso | head -6 || true
  # On loopback the receiving side's TCP work runs in the sender's softirq: the part of the
  # samples under net_rx_action would run on the players' machines with a real network.
  report --children --sort sym | awk '
    / \[k\] (entry_SYSCALL_64_after_hwframe|tcp_sendmsg|net_rx_action|sock_def_readable)$/ {
      printf "%8s of samples under %s\n", $1, $NF
    }'
  echo "-- the hottest functions:"
  report --no-children --sort sym | head -20 || true
fi
[ "${SKIP_NGINX:-0}" = 1 ] && exit 0

taskset -c 0 nginx -c "$PWD/$work/nginx.conf" -p "$PWD/$work" &
nginx_pid=$!
pids+=("$nginx_pid")
sleep 1
measure "nginx-rtmp (1 worker)" 19711 "$nginx_pid"
