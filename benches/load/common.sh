# Shared by the load benchmarks (sourced, not run): builds the example server and the load
# generator, and makes the stream they publish.

# Builds the release server and load generator, and prints the path of a 30-s 720p30 H.264/AAC
# FLV file at video bitrate $1 (made once with ffmpeg, then reused from target/load).
prepare_source() {
  local bitrate=$1 work=target/load
  mkdir -p "$work"
  cargo build --release -q --example server --example loadgen
  local source="$work/source-$bitrate.flv"
  if [ ! -s "$source" ]; then
    ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
      -f lavfi -i sine=frequency=440:sample_rate=44100 -t 30 -pix_fmt yuv420p \
      -c:v libx264 -preset veryfast -b:v "$bitrate" -maxrate "$bitrate" -bufsize "$bitrate" -g 60 \
      -c:a aac -b:a 128k -f flv "$source"
  fi
  echo "$source"
}

# Writes target/load/nginx.conf: nginx-rtmp, one worker without a master (a per-core
# comparison), RTMP on 127.0.0.1:$1 with chunk size 4096, at most $2 connections.
nginx_conf() {
  local port=$1 connections=$2 work=target/load
  cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log $PWD/$work/nginx-error.log;
pid $PWD/$work/nginx.pid;
events { worker_connections $connections; }
rtmp {
    server {
        listen 127.0.0.1:$port;
        chunk_size 4096;
        application live { live on; }
    }
}
CONF
}
