#!/usr/bin/env bash
# linearity.sh: time and peak memory of `vmstate check`, `dump` and `reencode` on hostile
# streams of growing size (tests/examples/hostile_streams.rs), to show that every reader is
# linear in its input: doubling the input should about double the time, and memory should
# grow no faster than the input.
#
# Usage: bench/linearity.sh [DIR]   (default /tmp/vmstate-linearity)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-/tmp/vmstate-linearity}
cargo build --release -q -p vmstate-cli -p vmstate-tests --example hostile_streams \
  --manifest-path "$ROOT/Cargo.toml"
"$ROOT/target/release/examples/hostile_streams" "$DIR"
V=$ROOT/target/release/vmstate
printf '| stream | bytes | command | exit | seconds | peak RSS (KiB) |\n|---|---:|---|---:|---:|---:|\n'
for f in $(ls "$DIR"/*.mig | sort -V); do
  bytes=$(stat -c %s "$f")
  for cmd in check dump reencode; do
    args=("$cmd" "$f")
    [[ $cmd == reencode ]] && args+=(-o "$DIR/out.bin")
    [[ $cmd == dump ]] && args+=(--format json)
    set +e
    /usr/bin/time -f '%e %M' -o "$DIR/time.txt" "$V" "${args[@]}" >/dev/null 2>&1
    status=$?
    set -e
    read -r secs rss < <(tail -n 1 "$DIR/time.txt")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$(basename "$f")" "$bytes" "$cmd" "$status" "$secs" "$rss"
  done
done
rm -f "$DIR/out.bin" "$DIR/time.txt"
