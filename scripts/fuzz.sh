#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the libFuzzer targets (fuzz/, clang with ASan+UBSan) in build-fuzz and runs each for
# SECONDS (default 20), two at a time, starting from its seed corpus in fuzz/corpus/<target>.
#
#   scripts/fuzz.sh [SECONDS [TARGET…]]
#
# New inputs go to build-fuzz/corpus/<target> (kept between runs, never into the repository);
# a crash, leak or timeout is written to build-fuzz/artifacts/<target>/ and fails the run.
# Once fixed, copy the input into fuzz/corpus/<target>/ so that it stays a regression test
# (meson test -C build-fuzz --suite fuzz replays every seed). docs/HACKING.md has more.
set -euo pipefail

. "$(dirname "$0")/plugind-env.sh"

seconds="${1:-20}"
shift || true
fuzz_build="$PD_SRCDIR/build-fuzz"

CC=clang pd_build "$fuzz_build" --werror -Dfuzzing=true -Db_sanitize=address,undefined \
  -Db_lundef=false -Dtests=false -Dman=false

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd "$PD_SRCDIR/fuzz/corpus" && ls)
fi

# the seeds, and every crash kept among them, must pass before anything new is looked for
meson test -C "$fuzz_build" --no-rebuild --quiet --suite fuzz --print-errorlogs

run_target() {
  local t="$1" seconds="$2" build="$3" src="$4"
  local corpus="$build/corpus/$t" artifacts="$build/artifacts/$t" log="$build/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  # -timeout: an input taking 10 s is a hang; -rss_limit_mb: a bomb, not the machine's memory
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" \
      "$corpus" "$src/fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz-$t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs, no crash"
  else
    echo "fuzz-$t: FAILED; see $log and $artifacts/" >&2
    grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' "$log" >&2 || true
    return 1
  fi
}
export -f run_target

echo "fuzzing ${#targets[@]} targets for $seconds s each, two at a time"
printf '%s\n' "${targets[@]}" |
  xargs -P 2 -I '{}' bash -c 'run_target "$@"' _ '{}' "$seconds" "$fuzz_build" "$PD_SRCDIR"
