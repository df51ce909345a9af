# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the bench/run-*.sh scripts (sourced).

# bench_stop_pid PID [TENTHS]: SIGTERM, up to TENTHS tenths of a second (default 100), SIGKILL
bench_stop_pid() {
  local pid="$1" tenths="${2:-100}" _
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq "$tenths"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# bench_dump_logs FILE…: the last lines of each non-empty file, after a failure
bench_dump_logs() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "----- $f (last lines) -----" >&2
    tail -n 20 "$f" >&2
  done
}
