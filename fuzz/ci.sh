#!/usr/bin/env bash
# The short fuzz pass of .ci/run: every target of fuzz/ for FUZZ_SECS (10)
# seconds, one process at a time, seeded from the fixtures.
#
# cargo-fuzz needs nightly. The toolchain and cargo-fuzz are installed only
# when missing (rustup toolchain install nightly --profile minimal; cargo
# install --locked cargo-fuzz), so a machine that has them pays nothing. If
# either cannot be had, or this nightly cannot build the fuzz crate, the pass
# is skipped with a line that says so and exit status 0: the regression
# inputs (tests/fuzz-regressions) have run in the stable tests already. A
# finding (crash, oom, timeout, failed oracle) fails: its input is printed in
# hex, to keep under tests/fuzz-regressions/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECS:-10}
targets="stream_reader reencode typed_loads registry dump_compat listen ber json"

skip() {
  echo "fuzz: SKIPPED: $1; the fuzz regression inputs ran with the stable tests"
  exit 0
}

t=$SECONDS
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing nightly (rustup toolchain install nightly --profile minimal)"
  rustup toolchain install nightly --profile minimal || skip "the nightly toolchain could not be installed"
fi
echo "fuzz: $(rustup run nightly rustc --version) (toolchain step: $((SECONDS - t)) s)"

t=$SECONDS
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (cargo install --locked cargo-fuzz)"
  cargo install --locked cargo-fuzz || skip "cargo-fuzz could not be installed"
fi
echo "fuzz: $(cargo fuzz --version) (install step: $((SECONDS - t)) s)"

t=$SECONDS
(cd fuzz && cargo +nightly fuzz build -O) || skip "this nightly cannot build the fuzz targets"
echo "fuzz: targets built ($((SECONDS - t)) s)"

t=$SECONDS
fuzz/seeds.sh || { echo "fuzz: the seed corpora could not be built"; exit 1; }
echo "fuzz: seeds built ($((SECONDS - t)) s)"

failed=""
for target in $targets; do
  t=$SECONDS
  log=$(mktemp)
  if fuzz/run.sh "$target" "$secs" >"$log" 2>&1; then
    stats=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -1 | tr -s "[:space:]" " ")
    echo "fuzz: $target: no finding in $((SECONDS - t)) s: ${stats:-(no stats line)}"
  else
    echo "fuzz: $target: FINDING ($((SECONDS - t)) s):"
    grep -E "panicked|ERROR|SUMMARY|Violation|Test unit written" "$log" | head -20
    for a in fuzz/artifacts/"$target"/*; do
      [ -f "$a" ] || continue
      echo "fuzz: input $a ($(wc -c <"$a") bytes), hex:"
      od -An -v -tx1 "$a" | head -c 65536
    done
    failed="$failed $target"
  fi
  rm -f "$log"
done
if [ -n "$failed" ]; then
  echo "fuzz: findings in:$failed (reproduce: cargo +nightly fuzz run TARGET FILE in fuzz/, see docs/fuzzing.md)"
  exit 1
fi
echo "fuzz: every target ran ${secs} s without a finding"
