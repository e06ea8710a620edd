#!/usr/bin/env bash
# `make fuzz-smoke` (CI): every cargo-fuzz target of fuzz/ for FUZZ_SECONDS (default 20)
# each, starting from the committed seeds (fuzz/seeds/<target>; new inputs go to a scratch
# corpus, not the repository). A crash fails the run and leaves its input under
# fuzz/artifacts/<target>/ — turn it into a regression test. Installs cargo-fuzz if missing.
# `FUZZ_SECONDS=600 scripts/fuzz-smoke.sh verify_token` for a longer run of one target.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
# cargo-fuzz needs a few unstable rustc flags; the stable toolchain allows them this way.
export RUSTC_BOOTSTRAP=1
cd fuzz
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
scratch=$(mktemp -d -t tessera-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
# No sanitizer: the code under test forbids `unsafe`; libFuzzer's coverage guidance and the
# targets' own assertions are what find bugs here.
cargo fuzz build -s none
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  echo "fuzz: $target for ${seconds}s"
  status=0
  cargo fuzz run -s none "$target" "$scratch/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$scratch/$target.log" 2>&1 || status=$?
  # libFuzzer's chatter stays in the log; the totals and any failure are shown.
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|thread )" "$scratch/$target.log" || true
  if ((status != 0)); then
    tail -n 30 "$scratch/$target.log"
    echo "fuzz: $target FAILED (input in fuzz/artifacts/$target/)"
    exit 1
  fi
done
echo "fuzz: ${#targets[@]} targets passed"
