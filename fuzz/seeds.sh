#!/usr/bin/env bash
# fuzz/seeds.sh: builds fuzz/corpus/<target>/ from the repository's fixtures
# (and ../shared/streams when present) and the kept regression inputs; the
# corpora are not committed. Runs on stable.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -p vmstate-tests --example fuzz_seeds -- fuzz/corpus
