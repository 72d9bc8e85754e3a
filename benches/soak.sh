#!/usr/bin/env bash
# Soak: an hour of every protocol against the example server (release build), on 127.0.0.1.
#
# Each minute:
# - the publisher (ffmpeg, H.264/AAC test picture) restarts: it stops 55 s after it started and
#   comes back 2 s later, within the republish grace, so players ride through;
# - RTMP players, HTTP-FLV viewers and WebSocket-FLV viewers join (examples/loadgen, PLAYERS of
#   each), play for 40 s and leave; one real ffmpeg player plays for 30 s;
# - a line gives the server's resident memory, its open descriptors, the players of the minute
#   that got video, and the failures so far (a player with no first frame, an ffmpeg player that
#   decoded nothing, the server gone).
# At the end: resident memory of the first and last minutes, descriptors before and after (once
# every client left), failures. It exits non-zero on a failure, memory that grew more than 10%
# from the fifth minute to the last, or descriptors left open.
#
# Usage: benches/soak.sh   Environment: MINUTES (default 60), PLAYERS (default 20 per protocol).
# Needs: ffmpeg (apt-get install -y ffmpeg).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${MINUTES:-60}
players=${PLAYERS:-20}
work=target/soak
mkdir -p "$work"
cargo build --release --example server --example loadgen
server_bin=target/release/examples/server
loadgen=target/release/examples/loadgen

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rtmp=$(free_port)
http=$(free_port)
watch=$(free_port)
"$server_bin" --listen "127.0.0.1:$rtmp" --http "127.0.0.1:$http" --watch "127.0.0.1:$watch" \
  >"$work/server.log" 2>&1 &
server=$!
children=()
cleanup() {
  # The publisher's loop runs ffmpeg as a child of its own.
  [ ${#children[@]} -eq 0 ] || pkill -P "${children[0]}" 2>/dev/null || true
  kill "${children[@]}" 2>/dev/null || true
  kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
until (echo >"/dev/tcp/127.0.0.1/$rtmp") 2>/dev/null; do sleep 0.1; done
until (echo >"/dev/tcp/127.0.0.1/$watch") 2>/dev/null; do sleep 0.1; done

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
fds() { find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l; }
base_fds=$(fds)
url="rtmp://127.0.0.1:$rtmp/live/soak"

# The publisher: 55 s on, 2 s off, until the end.
(
  while true; do
    ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=25 \
      -f lavfi -i sine -t 55 -pix_fmt yuv420p -c:v libx264 -preset veryfast -g 50 \
      -c:a aac -f flv "$url" || true
    sleep 2
  done
) &
children+=("$!")
sleep 3

failures=0
first_rss=""
fifth_rss=""
printf '%-6s %-10s %-5s %-28s %s\n' minute rss_kib fds "playing (rtmp http ws ffmpeg)" failures
for minute in $(seq "$minutes"); do
  started=$(date +%s)
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the server is gone" >&2
    failures=$((failures + 1))
    break
  fi
  for kind in rtmp http ws; do
    case $kind in
      rtmp) target=$url ;;
      http) target="http://127.0.0.1:$watch/live/soak.flv" ;;
      ws) target="ws://127.0.0.1:$watch/live/soak.flv" ;;
    esac
    "$loadgen" --url "$target" --players "$players" --seconds 30 >"$work/$kind.out" 2>&1 &
    children+=("$!")
  done
  timeout 40 ffmpeg -nostdin -loglevel error -i "$url" -t 30 -c copy -f flv -y "$work/ffmpeg.flv" \
    >/dev/null 2>&1 &
  ffmpeg_player=$!
  sleep 45
  wait "$ffmpeg_player" 2>/dev/null || true
  wait "${children[@]:1}" 2>/dev/null || true
  children=("${children[0]}")
  line=""
  for kind in rtmp http ws; do
    playing=$(awk '/^players:/ {print $2}' "$work/$kind.out")
    playing=${playing:-0}
    line="$line $playing"
    failures=$((failures + players - playing))
  done
  decoded=$(ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames \
    -of csv=p=0 "$work/ffmpeg.flv" 2>/dev/null || echo 0)
  decoded=${decoded:-0}
  if [ "$decoded" -gt 0 ] 2>/dev/null; then line="$line 1"; else line="$line 0"; failures=$((failures + 1)); fi
  now_rss=$(rss)
  [ -n "$first_rss" ] || first_rss=$now_rss
  [ "$minute" -ne 5 ] || fifth_rss=$now_rss
  printf '%-6s %-10s %-5s %-28s %s\n' "$minute" "$now_rss" "$(fds)" "$line" "$failures"
  sleep $((60 - ($(date +%s) - started) > 0 ? 60 - ($(date +%s) - started) : 0))
done
last_rss=$(rss)
pkill -P "${children[0]}" 2>/dev/null || true
kill "${children[@]}" 2>/dev/null || true
wait "${children[@]}" 2>/dev/null || true
children=()
sleep 15
end_fds=$(fds)
echo "resident memory: first minute ${first_rss} KiB, fifth ${fifth_rss:-n/a} KiB, last ${last_rss} KiB"
echo "descriptors: ${base_fds} before, ${end_fds} after every client left"
echo "failures: ${failures}"
status=0
[ "$failures" -eq 0 ] || status=1
[ "$end_fds" -le "$base_fds" ] || status=1
if [ -n "$fifth_rss" ] && [ "$last_rss" -gt $((fifth_rss * 11 / 10)) ]; then status=1; fi
exit $status
