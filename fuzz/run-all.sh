#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 30), seeded from the real-peer fixtures.
# Exits non-zero as soon as a target crashes, takes over 5 s on one input or holds over 1 GiB;
# its input is left in fuzz/artifacts/<target>/.
#
#   bash fuzz/run-all.sh          # 30 s per target
#   bash fuzz/run-all.sh 300      # 5 min per target
#   bash fuzz/run-all.sh 20 chunk_decode amf0_decode
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-30}"
shift || true

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# cargo-fuzz needs nightly flags: the nightly toolchain when there is one, else the stable
# compiler with its unstable features unlocked.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

python3 seed.py
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <("${fuzz[@]}" list)
fi

"${fuzz[@]}" build
for target in "${targets[@]}"; do
    log="target/fuzz-$target.log"
    mkdir -p target
    echo "== $target: ${seconds}s"
    if ! "${fuzz[@]}" run "$target" -- -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "== $target FAILED (log: fuzz/$log, input: fuzz/artifacts/$target/)"
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "== $target: ok, $runs runs"
done
