#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-pull-bench.sh: the pull+extract target (docs/design.md, section Performance): plugind
# pulling a small (~5 MiB, 2,000 files) and a large (~300 MiB) plugin image from a loopback
# registry, side by side in the same run with `skopeo copy` + `umoci unpack` of an OCI image
# with the same layer blob, and with the single-pass limit of the machine (the slowest of the
# raw download, sha256 and gunzip+untar of that blob). See bench/README.md. As root, from
# anywhere:
#
#   bench/run-pull-bench.sh
#
# Knobs (environment): BENCH_BUILDDIR (default build-bench), BENCH_RUNS (timed rounds per size,
# 5), BENCH_SIZES (small,large), BENCH_PERF=1 (after the rounds of each size, one more pull
# under `perf record -a -g`, reported in BUILDDIR/bench-pull-perf-SIZE.txt with the data kept
# as BUILDDIR/bench-pull-perf-SIZE.data, for reading, not timing; BENCH_PERF=dwarf: the same
# with DWARF call graphs, which see through the libraries built without frame pointers),
# BENCH_TRACE=1 (one more pull per size under `perf trace -a` of the system calls that mark the
# steps of a pull, written to BUILDDIR/bench-pull-trace-SIZE.txt), BENCH_AB=A=DIR1,B=DIR2
# (instead of the other tools: plugind built in DIR1 and in DIR2 pulling in alternation, BENCH_RUNS
# rounds, with the CPU time of each thread; for before/after comparisons, raw results only).
#
# It builds with -Dbench=true, mounts a tmpfs under /tmp for everything (images, the registry's
# storage, plugind's state, skopeo's layout, umoci's bundle, the extraction dirs), starts a
# private system bus plus polkitd through scripts/plugind-env.sh, and runs bench/pull-bench.py,
# which starts docker-registry on 127.0.0.1 and a fresh plugind (empty CONFIGURATION_DIRECTORY)
# per size. It exits 0 whether or not the targets are met: targets are for reading, not for CI
# gates.

# no pipefail: plugind-env.sh is not written for it (see run-dbus-bench.sh)
set -eu

SRCDIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/bench-lib.sh
. "$SRCDIR/bench/bench-lib.sh"
BUILDDIR="${BENCH_BUILDDIR:-$SRCDIR/build-bench}"
case "$BUILDDIR" in /*) ;; *) BUILDDIR="$SRCDIR/$BUILDDIR" ;; esac
RUNS="${BENCH_RUNS:-5}"
SIZES="${BENCH_SIZES:-small,large}"
PERF_ARGS=()
case "${BENCH_PERF:-0}" in
  1) PERF_ARGS=(--perf fp) ;;
  dwarf) PERF_ARGS=(--perf dwarf) ;;
esac
if [ "${BENCH_TRACE:-0}" = 1 ]; then
  PERF_ARGS+=(--trace)
fi
if [ -n "${BENCH_AB:-}" ]; then
  PERF_ARGS+=(--ab "$BENCH_AB")
fi

if [ "$(id -u)" != 0 ]; then
  echo "run-pull-bench.sh: needs root (private system bus, polkitd, tmpfs mount)" >&2
  exit 1
fi
missing=()
for tool in docker-registry skopeo umoci curl openssl gzip tar /usr/bin/time; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "run-pull-bench.sh: missing ${missing[*]} (apt-get install docker-registry skopeo" \
    "umoci curl openssl gzip tar time)" >&2
  exit 1
fi

# BENCH_NICE=-10: on a shared machine, the scheduling autogroup of this session and of each
# daemon (their own sessions) gets that nice value, so that the benchmark's processes take the
# cores from other sessions' work, as on a quiet machine (Linux autogroups: a plain nice only
# ranks processes within their own session)
if [ -n "${BENCH_NICE:-}" ]; then
  echo "$BENCH_NICE" >/proc/self/autogroup
  export BENCH_NICE
fi
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
WORK="$(mktemp -d /tmp/plugind-pull-bench.XXXXXX)"
MOUNTED=0

# what pull-bench.py started, should it die without stopping it (it writes their PIDs)
stop_started() {
  local f
  for f in "$WORK"/pids/*; do
    [ -f "$f" ] || continue
    bench_stop_pid "$(cat "$f")" 100
    rm -f "$f"
  done
}

cleanup() {
  local rc=$?
  set +e
  # a reader that went away (… | head) must not cut the clean-up short
  trap '' PIPE
  stop_started
  if declare -F pd_stop_system_bus >/dev/null; then
    pd_stop_system_bus
  fi
  if [ "$rc" != 0 ]; then
    bench_dump_logs "$WORK"/*.log "$WORK"/registry/registry.log "$WORK"/bus/*.log
  fi
  if [ "$MOUNTED" = 1 ]; then
    umount "$WORK" || umount -l "$WORK"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# the large image is ~320 MB plain and ~170 MB gzipped; at most a few copies of each exist at once
mount -t tmpfs -o size=6g,mode=0755 plugind-pull-bench "$WORK"
MOUNTED=1
mkdir -p "$WORK/bus" "$WORK/etc" "$WORK/pids"

export PD_RUN_DIR="$WORK/bus"
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$PD_RUN_DIR/system_bus_socket"
export PD_QUIET=1
export LC_ALL=C.UTF-8
export TMPDIR="$WORK"
# loopback only: no proxy for plugind (it reads these), skopeo or curl
unset DBUS_SESSION_BUS_ADDRESS G_MESSAGES_DEBUG PLUGIND_CRASH_POINT PLUGIND_JOB_LINGER_MS \
  http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY || true
# shellcheck source=../scripts/plugind-env.sh
. "$SRCDIR/scripts/plugind-env.sh"

echo "building in $BUILDDIR" >&2
pd_build "$BUILDDIR" -Dbench=true || exit 1
pd_start_system_bus "$BUILDDIR" || exit 1

RESULTS="$WORK/results.txt"
/usr/bin/python3 "$SRCDIR/bench/pull-bench.py" --work "$WORK" --builddir "$BUILDDIR" \
  --srcdir "$SRCDIR" --config-dir "$WORK/etc" --runs "$RUNS" --sizes "$SIZES" \
  "${PERF_ARGS[@]}" >"$RESULTS"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

OUT="$BUILDDIR/bench-pull-results.txt"
{
  echo "plugind pull benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $RUNS runs" \
    "per size; load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
  echo
  if [ -z "${BENCH_AB:-}" ]; then
    /usr/bin/python3 "$SRCDIR/bench/pull-bench.py" --table "$RESULTS" "$RUNS" "$SIZES"
    echo
  fi
  echo "raw results (seconds, KiB, bytes):"
  sed 's/^RESULT /  /' "$RESULTS"
} | tee "$OUT"
echo "(also written to $OUT)" >&2
