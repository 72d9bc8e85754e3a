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
# "--read-size 4096"; see benches/load/kinds.sh).
# Needs: ffmpeg, nginx, libnginx-mod-rtmp (apt-get install -y ffmpeg nginx libnginx-mod-rtmp).
set -euo pipefail
cd "$(dirname "$0")/../.."
counts=("${@:-100 1000}")
[ $# -gt 0 ] || counts=(100 1000)
ulimit -n "$(ulimit -Hn)"

work=target/load
mkdir -p "$work"
cargo build --release -q --example server --example loadgen
bitrate=${BITRATE:-4M}
source="$work/source-$bitrate.flv"
if [ ! -s "$source" ]; then
  ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=44100 -t 30 -pix_fmt yuv420p \
    -c:v libx264 -preset veryfast -b:v $bitrate -maxrate $bitrate -bufsize $bitrate -g 60 -c:a aac -b:a 128k \
    -f flv "$source"
fi

cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log $PWD/$work/nginx-error.log;
pid $PWD/$work/nginx.pid;
events { worker_connections 20000; }
rtmp {
    server {
        listen 127.0.0.1:19701;
        chunk_size 4096;
        application live { live on; }
    }
}
CONF

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
    # shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags.
    target/release/examples/loadgen --url "rtmp://127.0.0.1:$port/live/bench" --players "$n" --seconds 15 --server-pid "$pid" ${LOADGEN_ARGS:-}
  done
  kill "$publisher" 2>/dev/null || true
}

${SERVER_BIN:-target/release/examples/server} --listen 127.0.0.1:19700 ${SERVER_ARGS:-} > "$work/server.log" 2>&1 &
ours=$!
pids+=("$ours")
sleep 1
run "rtmp-rs ${SERVER_ARGS:-(chunk size 1024)}" 19700 "$ours"
kill "$ours"
[ "${SKIP_NGINX:-0}" = 1 ] && exit 0

nginx -c "$PWD/$work/nginx.conf" -p "$PWD/$work" &
nginx_pid=$!
pids+=("$nginx_pid")
sleep 1
run "nginx-rtmp (1 worker, chunk size 4096)" 19701 "$nginx_pid"
