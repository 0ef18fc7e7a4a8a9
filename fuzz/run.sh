#!/usr/bin/env bash
# fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#
# Runs one fuzz target for SECONDS in ONE process (cargo fuzz --jobs 1, no
# libFuzzer -fork/-jobs), with the limits that make unbounded memory or time
# a finding: -rss_limit_mb=2048 (and -malloc_limit_mb=2048) and -timeout=10.
# The corpus is fuzz/corpus/TARGET (build it with fuzz/seeds.sh), or
# $FUZZ_CORPUS; crashes, ooms and timeouts go to fuzz/artifacts/TARGET/.
# Final stats (-print_final_stats=1) end the output. Needs nightly and
# cargo-fuzz; see docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
secs=$2
shift 2
corpus=${FUZZ_CORPUS:-fuzz/corpus/$target}
mkdir -p "$corpus" "fuzz/artifacts/$target"
exec cargo +nightly fuzz run --jobs 1 -O "$target" "$corpus" -- \
  -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 "$@"
