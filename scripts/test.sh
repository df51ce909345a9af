#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The README's "test" command (and CI's): installs what is missing, then
#   1. a -Werror build and the whole suite (unit, integration, engines, gui, data, install);
#      the engines suite (real dockerd) and the gui suite (the desktop app under Xvfb) run only
#      here, never under valgrind or ASan,
#   2. the unit suite under valgrind,
#   3. an ASan+UBSan build running the unit and integration suites,
#   4. the libFuzzer targets (clang): their seed corpora, then 20 s of fuzzing each, two at a
#      time (about 2-3 minutes with the build; scripts/fuzz.sh).
# Fails on any failed or skipped test.
set -euo pipefail

. "$(dirname "$0")/plugind-env.sh"

pd_install_deps

# fails when meson's log ($1) shows a skipped test: a skip is a failure here
check_no_skips() {
  if /usr/bin/python3 - "$1" <<'PY'
import json, sys
skipped = [json.loads(l)["name"] for l in open(sys.argv[1]) if json.loads(l)["result"] == "SKIP"]
if skipped:
    print("skipped tests count as failures:", ", ".join(skipped))
    sys.exit(1)
PY
  then return 0; else return 1; fi
}

# runs meson test, then fails on a skipped test and on any sanitizer or valgrind report in the
# tests' output, also of a passing test (a forked child's report changes no exit status)
run_suite() {
  local builddir="$1"; shift
  local log="$builddir/meson-logs/testlog.json" prev=""
  for arg in "$@"; do
    [ "$prev" != "--setup" ] || log="$builddir/meson-logs/testlog-$arg.json"
    prev="$arg"
  done
  # pd_build has just built it; --quiet: the failures (with their logs) and the summary, not a
  # line for each of the ~900 passing tests (meson-logs/testlog*.txt has every one)
  meson test -C "$builddir" --no-rebuild --quiet --print-errorlogs "$@"
  check_no_skips "$log"
  /usr/bin/python3 "$PD_SRCDIR/tests/integration/memory_reports.py" "$log"
}

main_build="$PD_SRCDIR/build-ci"
asan_build="$PD_SRCDIR/build-asan"

echo "=== -Werror build, full suite"
# benchmarks are built (not run) so they keep compiling; the desktop app must build here
pd_build "$main_build" --werror -Dbench=true -Dapp=enabled
run_suite "$main_build" --num-processes 2

echo "=== unit suite under valgrind"
run_suite "$main_build" --setup valgrind --suite unit

echo "=== ASan+UBSan build: unit and integration suites"
pd_build "$asan_build" --werror -Db_sanitize=address,undefined -Db_lundef=false -Dman=false
# intercept_tls_get_addr=0: LeakSanitizer's exit-time scan crashes ("Tracer caught signal 11")
# in processes that loaded GnuTLS through GIO's TLS module (google/sanitizers#1322)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:intercept_tls_get_addr=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  LSAN_OPTIONS="suppressions=$PD_SRCDIR/tests/lsan.supp" \
  run_suite "$asan_build" --suite unit --suite integration --num-processes 2

echo "=== libFuzzer targets: seed corpora, then 20 s of fuzzing each"
"$PD_SRCDIR/scripts/fuzz.sh" 20

echo "=== all tests passed"
