#!/usr/bin/env bash
# cli-bench.sh: throughput and peak memory of `vmstate check`, `vmstate dump --format json`
# and `vmstate reencode` against `cat`, `cp` and QEMU's scripts/analyze-migration.py, in
# the same run.
#
# Usage: bench/cli-bench.sh [RESULTS.md]
#   Env: BENCH_DIR (default /tmp/vmstate-bench: blob, scenario file, big stream),
#        BLOB_MIB (default 256), ANALYZER (default /tmp/qemu-scripts/analyze-migration.py;
#        a copy of qemu/qemu scripts/analyze-migration.py, never committed here),
#        RUNS (default 5).
# Needs QEMU >= 10.0 and ../shared/qemu for the big stream; hyperfine if installed
# (otherwise a loop of /usr/bin/time). Writes a Markdown table to RESULTS.md
# (default bench/CLI-BENCHMARKS.results.md) and prints it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/qemu}
BENCH_DIR=${BENCH_DIR:-/tmp/vmstate-bench}
BLOB_MIB=${BLOB_MIB:-256}
ANALYZER=${ANALYZER:-/tmp/qemu-scripts/analyze-migration.py}
RUNS=${RUNS:-5}
OUT=${1:-$ROOT/bench/CLI-BENCHMARKS.results.md}
mkdir -p "$BENCH_DIR"

cargo build --release -q -p vmstate-cli --manifest-path "$ROOT/Cargo.toml"
V=$ROOT/target/release/vmstate
DEVICES=$ROOT/vmstate-cli/tests/data/streams/x86-pc-devices.mig
NICS=$ROOT/tests/fixtures/x86-pc-5nics.mig
BIG=$BENCH_DIR/streams/x86-pc-big.mig

# 1. The big stream: a paused pc guest whose RAM holds BLOB_MIB MiB of random data
#    (loaded by -device loader at 1 MiB), so every one of those pages is a data page.
if [[ ! -s $BIG ]]; then
  command -v qemu-system-x86_64 >/dev/null || { echo "QEMU not installed: cannot make the big stream" >&2; exit 2; }
  [[ -s $BENCH_DIR/blob.bin ]] || head -c "$((BLOB_MIB << 20))" /dev/urandom > "$BENCH_DIR/blob.bin"
  mem=$((BLOB_MIB + 64))
  printf 'x86-pc-big qemu-system-x86_64 paused %d tcg - -M pc -device loader,file=%s,force-raw=on,addr=0x100000\n' \
    "$mem" "$BENCH_DIR/blob.bin" > "$BENCH_DIR/scenarios.txt"
  "$SHARED/make-streams.sh" --scenarios "$BENCH_DIR/scenarios.txt" "$BENCH_DIR/streams" x86-pc-big
fi

has_analyzer=0
[[ -r $ANALYZER ]] && has_analyzer=1 || echo "note: $ANALYZER not found: analyzer not measured" >&2

# Warm the page cache.
cat "$BIG" "$DEVICES" "$NICS" > /dev/null; cat "$BIG" "$DEVICES" "$NICS" > /dev/null

# mean_secs CMD: mean wall time of RUNS runs (hyperfine, or a /usr/bin/time loop).
mean_secs() {
  if command -v hyperfine >/dev/null; then
    local j; j=$(mktemp)
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$j" "$1" >/dev/null 2>&1 \
      || hyperfine --warmup 1 --runs "$RUNS" --export-json "$j" "$1" >/dev/null
    python3 -c 'import json,sys; print("%.6f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$j"
    rm -f "$j"
  else
    local t total=0 i
    for ((i = 0; i < RUNS; i++)); do
      t=$( { /usr/bin/time -f %e bash -c "$1" >/dev/null 2>/dev/null; } 2>&1 | tail -1)
      total=$(python3 -c "print($total + $t)")
    done
    python3 -c "print('%.6f' % ($total / $RUNS))"
  fi
}
# max_rss_mib CMD
max_rss_mib() {
  /usr/bin/time -v bash -c "$1 > /dev/null" 2>&1 >/dev/null | awk -F: '/Maximum resident/ { printf "%.1f", $2 / 1024 }'
}

{
  echo "| stream | bytes | command | mean s | MiB/s | vs cat (cp for reencode) | vs analyzer | max RSS MiB |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|"
} > "$OUT"
for s in "$BIG" "$DEVICES" "$NICS"; do
  bytes=$(stat -c %s "$s"); mib=$(python3 -c "print($bytes / 1048576)")
  declare -A T=() R=()
  cmds=(cat cp check dump reencode)
  declare -A C=([cat]="cat $s" [cp]="cp $s $BENCH_DIR/out-cp.mig" [check]="$V check $s"
                [dump]="$V dump $s --format json" [reencode]="$V reencode $s -o $BENCH_DIR/out-re.mig")
  if [[ $has_analyzer == 1 ]]; then cmds+=(analyzer); C[analyzer]="python3 $ANALYZER -f $s"; fi
  for c in "${cmds[@]}"; do
    T[$c]=$(mean_secs "${C[$c]}")
    R[$c]=$(max_rss_mib "${C[$c]}")
  done
  cmp "$s" "$BENCH_DIR/out-re.mig" || { echo "reencode of $s is not byte-identical" >&2; exit 1; }
  rm -f "$BENCH_DIR/out-cp.mig" "$BENCH_DIR/out-re.mig"
  for c in "${cmds[@]}"; do
    python3 - "$(basename "$s")" "$bytes" "$c" "${T[$c]}" "$mib" "${T[cat]}" "${T[cp]}" "${T[analyzer]:-}" "${R[$c]}" >> "$OUT" <<'PY'
import sys
name, bytes_, c, t, mib, tcat, tcp, tana, rss = sys.argv[1:10]
t, mib, tcat, tcp = float(t), float(mib), float(tcat), float(tcp)
base = tcp if c == "reencode" else tcat
vs = "%.2f" % (base / t) if c not in ("cat", "cp") else "1"
vs_ana = ("%.0fx faster" % (float(tana) / t)) if tana and c not in ("analyzer", "cat", "cp") else ""
print("| %s | %s | %s | %.4f | %.0f | %s | %s | %s |" % (name, bytes_, c, t, mib / t, vs, vs_ana, rss))
PY
  done
  unset T R C
done
cat "$OUT"
