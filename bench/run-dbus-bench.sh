#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-dbus-bench.sh: the D-Bus performance targets (docs/design.md, section Performance),
# measured side by side with a trivial GDBus service on the same private bus, in the same run.
# See bench/README.md. As root, from anywhere:
#
#   bench/run-dbus-bench.sh
#
# Knobs (environment): BENCH_BUILDDIR (default build-bench), BENCH_PLUGINS (1000),
# BENCH_N (round trips per small call, 2000), BENCH_RUNS (start runs, 7), BENCH_TRACE=1 (one
# more start under `perf trace`, see below, written to BUILDDIR/bench-start-trace*.txt).
#
# It builds with -Dbench=true, mounts a tmpfs under /tmp for the state dirs and the private bus
# (the root fs of CI machines is an unjournaled ext4, where creating files is slow after many
# deletions), starts a private system bus plus polkitd through scripts/plugind-env.sh, creates
# the plugins through Manager.Create, and prints a table. It exits 0 whether or not the targets
# are met: targets are for reading, not for CI gates.

# no pipefail: plugind-env.sh is not written for it; its functions are called with "|| exit 1",
# which also keeps errexit out of them
set -eu

SRCDIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/bench-lib.sh
. "$SRCDIR/bench/bench-lib.sh"
BUILDDIR="${BENCH_BUILDDIR:-$SRCDIR/build-bench}"
case "$BUILDDIR" in /*) ;; *) BUILDDIR="$SRCDIR/$BUILDDIR" ;; esac
PLUGINS="${BENCH_PLUGINS:-1000}"
N="${BENCH_N:-2000}"
RUNS="${BENCH_RUNS:-7}"

if [ "$(id -u)" != 0 ]; then
  echo "run-dbus-bench.sh: needs root (private system bus, polkitd, tmpfs mount)" >&2
  exit 1
fi

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
WORK="$(mktemp -d /tmp/plugind-bench.XXXXXX)"
MOUNTED=0
DAEMON_PID=""
BARE_PID=""

cleanup() {
  local rc=$?
  set +e
  bench_stop_pid "$DAEMON_PID"
  bench_stop_pid "$BARE_PID"
  if declare -F pd_stop_daemon >/dev/null; then
    pd_stop_daemon
    pd_stop_system_bus
  fi
  if [ "$rc" != 0 ]; then
    bench_dump_logs "$WORK"/*.log "$WORK"/bus/*.log
  fi
  if [ "$MOUNTED" = 1 ]; then
    umount "$WORK" || umount -l "$WORK"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount -t tmpfs -o size=2g,mode=0755 plugind-bench "$WORK"
MOUNTED=1
mkdir -p "$WORK/bus"

# a private bus in our own dir, whatever runs on the machine: the library starts one when the
# address it is given does not answer
export PD_RUN_DIR="$WORK/bus"
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$PD_RUN_DIR/system_bus_socket"
export PD_QUIET=1
export LC_ALL=C.UTF-8
unset DBUS_SESSION_BUS_ADDRESS G_MESSAGES_DEBUG PLUGIND_CRASH_POINT || true
# shellcheck source=../scripts/plugind-env.sh
. "$SRCDIR/scripts/plugind-env.sh"

echo "building in $BUILDDIR" >&2
pd_build "$BUILDDIR" -Dbench=true || exit 1
pd_start_system_bus "$BUILDDIR" || exit 1
install -m 0644 "$SRCDIR/bench/org.plugind.Bench1.conf" "$PD_RUN_DIR/system.d/"
dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
  org.freedesktop.DBus.ReloadConfig >/dev/null

BENCH="$BUILDDIR/bench/bench-dbus"
BARE="$BUILDDIR/bench/bench-bare-service"
PLUGIND="$BUILDDIR/src/daemon/plugind"
export PLUGIND_EXTRACT_HELPER="$BUILDDIR/src/helpers/plugind-extract"
export PLUGIND_TRANSFER_HELPER="$BUILDDIR/src/helpers/plugind-transfer"
export PLUGIND_SANDBOX_INIT="$BUILDDIR/src/helpers/plugind-sandbox-init"
STATE_N="$WORK/state-$PLUGINS"
STATE_0="$WORK/state-0"
RESULTS="$WORK/results.txt"
: >"$RESULTS"
mkdir -p "$STATE_N" "$STATE_0" "$WORK/run"
chmod 0700 "$STATE_N" "$STATE_0" "$WORK/run"

# 1. populate through the real API; the finished jobs linger in this daemon only (their objects
#    are gone after the restart)
echo "creating $PLUGINS plugins through Manager.Create" >&2
STATE_DIRECTORY="$STATE_N" RUNTIME_DIRECTORY="$WORK/run" \
  PD_DAEMON_LOG="$WORK/populate.log" pd_start_daemon "$BUILDDIR" || exit 1
"$BENCH" populate --count "$PLUGINS" --parallel 8 >>"$RESULTS"
pd_stop_daemon || exit 1

# 2. start to name-owned and settled RSS: plugind with N and 0 plugins, the bare service with N
#    and 0 objects; the same state dirs for every run
export RUNTIME_DIRECTORY="$WORK/run"
for spec in "pd$PLUGINS:$STATE_N" "pd0:$STATE_0"; do
  label="${spec%%:*}"
  echo "timing plugind start ($label)" >&2
  STATE_DIRECTORY="${spec#*:}" "$BENCH" start --name org.plugind.Plugind1 --runs "$RUNS" \
    --label "$label" --log "$WORK/$label.log" -- "$PLUGIND" >>"$RESULTS"
done
for objects in "$PLUGINS" 0; do
  echo "timing bare-service start (--objects $objects)" >&2
  "$BENCH" start --name org.plugind.Bench1 --runs "$RUNS" --label "bare$objects" \
    --log "$WORK/bare$objects.log" -- "$BARE" --objects "$objects" >>"$RESULTS"
done

# 2b. BENCH_TRACE=1: one more start with N plugins under `perf trace` of the system calls that
#     mark the phases before the name is owned (records and blobs opened, directories listed,
#     D-Bus messages), for reading, not timing
trace_start() { # TRACER-COMMAND…: one start of plugind with N plugins under it
  local tracer traced="" _
  STATE_DIRECTORY="$STATE_N" setsid "$@" -- "$PLUGIND" </dev/null >>"$WORK/trace-plugind.log" 2>&1 &
  tracer=$!
  for _ in $(seq 100); do
    traced="$(pgrep -P "$tracer" -x plugind || true)"
    [ -z "$traced" ] || break
    sleep 0.05
  done
  if [ -n "$traced" ]; then
    DAEMON_PID="$traced"
    "$BENCH" wait-name org.plugind.Plugind1 "$traced" || true
    sleep 2 # the work after the name (GC, disk usage) shows in the trace as well
    bench_stop_pid "$traced"
    DAEMON_PID=""
  fi
  wait "$tracer" || true
}
if [ "${BENCH_TRACE:-0}" = 1 ]; then
  echo "tracing plugind starts ($PLUGINS plugins)" >&2
  # light: only the phase boundaries (arch_prctl: ld.so's first call; flock: the state lock,
  # just before the store is opened; threads; bus connection; messages), cheap enough not to
  # move them; full: every directory and record opened as well
  trace_start perf trace -T -o "$BUILDDIR/bench-start-trace-light.txt" \
    -e arch_prctl,flock,clone3,connect,sendmsg,recvmsg,exit_group
  trace_start perf trace -T -o "$BUILDDIR/bench-start-trace.txt" \
    -e openat,getdents64,sendmsg,recvmsg,connect,clone3,execve,exit_group
  # CPU profile of the main thread (DWARF call graphs: GLib and json-glib have no frame
  # pointers), inclusive time per function
  trace_start perf record -q -F 4000 --call-graph dwarf,16384 -o "$WORK/start.perf.data"
  perf report -i "$WORK/start.perf.data" --stdio --children --comms plugind -g none \
    --percent-limit 1 --sort sym >"$BUILDDIR/bench-start-perf.txt" 2>/dev/null || true
fi

# 3. calls, against plugind with N plugins and the bare service with N objects
echo "timing calls" >&2
STATE_DIRECTORY="$STATE_N" setsid "$PLUGIND" </dev/null >>"$WORK/calls-plugind.log" 2>&1 &
DAEMON_PID=$!
setsid "$BARE" --objects "$PLUGINS" </dev/null >>"$WORK/calls-bare.log" 2>&1 &
BARE_PID=$!
"$BENCH" wait-name org.plugind.Plugind1 "$DAEMON_PID"
"$BENCH" wait-name org.plugind.Bench1 "$BARE_PID"
sleep 1 # let the start-up work (disk usage, GC) finish
"$BENCH" calls --plugins "$PLUGINS" --n "$N" >>"$RESULTS"
bench_stop_pid "$DAEMON_PID"
DAEMON_PID=""
bench_stop_pid "$BARE_PID"
BARE_PID=""

# 4. the table
OUT="$BUILDDIR/bench-dbus-results.txt"
{
  echo "plugind D-Bus benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $PLUGINS plugins," \
    "$N round trips, start: median of $RUNS runs; load average before: $LOAD_BEFORE, after:" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  awk -v P="$PLUGINS" '
    $1 == "RESULT" { r[$2] = $3 }
    function row(metric, unit, scale, pd, base, target, limit, absolute,    a, b, ratio, met) {
      if (!(pd in r) || !(base in r)) { printf "| %s | missing | | | | |\n", metric; return }
      a = r[pd] / scale; b = r[base] / scale
      ratio = b > 0 ? a / b : 0
      if (limit == "") met = "—"
      else if (absolute) met = (a < limit) ? "yes" : "NO"
      else met = (ratio <= limit) ? "yes" : "NO"
      printf "| %s | %.3g %s | %.3g %s | %.2fx | %s | %s |\n", metric, a, unit, b, unit, ratio, \
        target, met
    }
    END {
      print "| metric | plugind | baseline | ratio | target | met? |"
      print "|---|---|---|---|---|---|"
      row("Plugin.Inspect() p50 vs bare method", "µs", 1, "plugind.inspect.p50_us", "bare.ping.p50_us", "≤ 1.5x", 1.5, 0)
      row("Plugin.Inspect() p90 vs bare method", "µs", 1, "plugind.inspect.p90_us", "bare.ping.p90_us", "≤ 1.5x", 1.5, 0)
      row("Properties.Get(Plugin.Name) p50 vs bare Get", "µs", 1, "plugind.get.p50_us", "bare.get.p50_us", "≤ 1.5x", 1.5, 0)
      row("Properties.Get(Plugin.Name) p90 vs bare Get", "µs", 1, "plugind.get.p90_us", "bare.get.p90_us", "≤ 1.5x", 1.5, 0)
      row("ListPlugins, " P " plugins, p50 vs bare flat list", "ms", 1000, "plugind.listplugins.p50_us", "bare.list.p50_us", "< 10 ms", 10, 1)
      row("ListPlugins, " P " plugins, p90 vs bare flat list", "ms", 1000, "plugind.listplugins.p90_us", "bare.list.p90_us", "< 10 ms", 10, 1)
      row("GetManagedObjects, " P " plugins, p50 vs bare flat list", "ms", 1000, "plugind.gmo.p50_us", "bare.list_gmo.p50_us", "—", "", 0)
      row("GetManagedObjects, " P " plugins, p50 vs bare ObjectManager (" P " x 6 props)", "ms", 1000, "plugind.gmo.p50_us", "bare.gmo.p50_us", "—", "", 0)
      row("start to name owned, " P " plugins (median)", "ms", 1, "pd" P ".start_ms", "bare" P ".start_ms", "< 500 ms", 500, 1)
      row("start to name owned, 0 plugins (median)", "ms", 1, "pd0.start_ms", "bare0.start_ms", "—", "", 0)
      row("idle VmRSS, " P " plugins", "MiB", 1024, "pd" P ".rss_kb", "bare" P ".rss_kb", "< 10 MiB", 10, 1)
      row("idle VmRSS, 0 plugins", "MiB", 1024, "pd0.rss_kb", "bare0.rss_kb", "—", "", 0)
      row("idle RssAnon (heap, stacks), " P " plugins", "MiB", 1024, "pd" P ".rss_anon_kb", "bare" P ".rss_anon_kb", "—", "", 0)
      row("idle RssFile (mapped binaries), " P " plugins", "MiB", 1024, "pd" P ".rss_file_kb", "bare" P ".rss_file_kb", "—", "", 0)
      row("idle Pss, " P " plugins", "MiB", 1024, "pd" P ".pss_kb", "bare" P ".pss_kb", "—", "", 0)
      row("VmRSS after the call benchmarks, " P " plugins", "MiB", 1024, "plugind.rss_after_calls_kb", "bare.rss_after_calls_kb", "—", "", 0)
      print ""
      printf "reply sizes: Inspect %d B, Ping %d B, ListPlugins %d B, bare List %d B, GetManagedObjects %d B, bare GetManagedObjects %d B\n", \
        r["plugind.inspect.reply_bytes"], r["bare.ping.reply_bytes"], r["plugind.listplugins.reply_bytes"], \
        r["bare.list.reply_bytes"], r["plugind.gmo.reply_bytes"], r["bare.gmo.reply_bytes"]
      printf "populating %d plugins through Manager.Create took %.1f s\n", P, r["populate.seconds"]
    }' "$RESULTS"
  echo
  echo "raw results:"
  sed 's/^RESULT /  /' "$RESULTS"
} | tee "$OUT"
echo "(also written to $OUT)" >&2
