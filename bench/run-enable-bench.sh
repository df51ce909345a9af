#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-enable-bench.sh: the Enable latency target (docs/design.md, section Performance:
# enable to running within 50 ms of the plugin's own start), measured side by side with the
# plugin run directly, under plain bubblewrap and under plugind's sandbox without D-Bus, in the
# same run. See bench/README.md. As root, from anywhere:
#
#   bench/run-enable-bench.sh
#
# Knobs (environment): BENCH_BUILDDIR (default build-bench), BENCH_N (measured rounds, 30),
# BENCH_STRACE=1 (after the measurement, 3 more Enable/Disable rounds with strace attached to
# plugind; the trace is kept as BUILDDIR/bench-enable-strace.txt, for reading, not timing).
#
# It builds with -Dbench=true, mounts a tmpfs under /tmp for the state dirs, the plugin's data
# dir and the private bus, starts a private system bus plus polkitd through
# scripts/plugind-env.sh and plugind on it, and runs bench-enable, which installs the example
# plugin through Manager.Create and times the four variants interleaved. It exits 0 whether or
# not the target is met: targets are for reading, not for CI gates.

# no pipefail: plugind-env.sh is not written for it (see run-dbus-bench.sh)
set -eu

SRCDIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/bench-lib.sh
. "$SRCDIR/bench/bench-lib.sh"
BUILDDIR="${BENCH_BUILDDIR:-$SRCDIR/build-bench}"
case "$BUILDDIR" in /*) ;; *) BUILDDIR="$SRCDIR/$BUILDDIR" ;; esac
N="${BENCH_N:-30}"

if [ "$(id -u)" != 0 ]; then
  echo "run-enable-bench.sh: needs root (private system bus, polkitd, tmpfs mount, bwrap)" >&2
  exit 1
fi

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
WORK="$(mktemp -d /tmp/plugind-enable-bench.XXXXXX)"
MOUNTED=0
DAEMON_PID=""

# processes running a binary under the work dir (a plugin left behind by a failure)
kill_leftovers() {
  local p exe
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null)" || continue
    case "$exe" in "$WORK"/*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;; esac
  done
}

cleanup() {
  local rc=$?
  set +e
  bench_stop_pid "$DAEMON_PID" 150
  if declare -F pd_stop_system_bus >/dev/null; then
    pd_stop_system_bus
  fi
  kill_leftovers
  if [ "$rc" != 0 ]; then
    bench_dump_logs "$WORK"/*.log
  fi
  if [ "$MOUNTED" = 1 ]; then
    umount "$WORK" || umount -l "$WORK"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount -t tmpfs -o size=512m,mode=0755 plugind-enable-bench "$WORK"
MOUNTED=1
mkdir -p "$WORK/bus" "$WORK/state" "$WORK/run" "$WORK/scratch"
chmod 0700 "$WORK/state" "$WORK/run"

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

PLUGIND="$BUILDDIR/src/daemon/plugind"
CONTEXT="$BUILDDIR/example/plugind-example-context.tar.gz"
RESULTS="$WORK/results.txt"

# plugind as in production: no --verbose (as run-dbus-bench.sh's call benchmarks)
STATE_DIRECTORY="$WORK/state" RUNTIME_DIRECTORY="$WORK/run" \
  PLUGIND_EXTRACT_HELPER="$BUILDDIR/src/helpers/plugind-extract" \
  PLUGIND_TRANSFER_HELPER="$BUILDDIR/src/helpers/plugind-transfer" \
  PLUGIND_SANDBOX_INIT="$BUILDDIR/src/helpers/plugind-sandbox-init" \
  setsid "$PLUGIND" </dev/null >>"$WORK/plugind.log" 2>&1 &
DAEMON_PID=$!
"$BUILDDIR/bench/bench-dbus" wait-name org.plugind.Plugind1 "$DAEMON_PID"

echo "timing $N rounds of: Enable/Disable over D-Bus, direct, plain bwrap, plugind's sandbox" >&2
TRACE_ARGS=()
if [ "${BENCH_STRACE:-0}" = 1 ]; then
  TRACE_ARGS=(--strace-pid "$DAEMON_PID" --strace-out "$WORK/strace.txt")
fi
# bench-enable starts sandboxes itself too: its init is the daemon's, from the build tree
PLUGIND_SANDBOX_INIT="$BUILDDIR/src/helpers/plugind-sandbox-init" \
  "$BUILDDIR/bench/bench-enable" --context "$CONTEXT" --state-dir "$WORK/state" \
  --runtime-dir "$WORK/run" --work-dir "$WORK/scratch" --n "$N" "${TRACE_ARGS[@]}" >"$RESULTS"
if [ -s "$WORK/strace.txt" ]; then
  cp "$WORK/strace.txt" "$BUILDDIR/bench-enable-strace.txt"
  echo "(strace of plugind: $BUILDDIR/bench-enable-strace.txt)" >&2
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
bench_stop_pid "$DAEMON_PID" 150
DAEMON_PID=""

OUT="$BUILDDIR/bench-enable-results.txt"
{
  echo "plugind Enable benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $N rounds" \
    "(after 2 discarded), nearest-rank percentiles; load average before: $LOAD_BEFORE, after:" \
    "$LOAD_AFTER"
  echo
  awk '
    $1 == "RESULT" { r[$2] = $3 }
    function ms(key) { return r[key] / 1000 }
    function row(name, key, note) {
      if (!((key ".p50_us") in r)) { printf "| %s | missing | | |\n", name; return }
      printf "| %s | %.2f ms | %.2f ms | %s |\n", name, ms(key ".p50_us"), ms(key ".p90_us"), note
    }
    function ratio(name, a, b, p, target, ok,    x) {
      x = r[b "." p "_us"] > 0 ? r[a "." p "_us"] / r[b "." p "_us"] : 0
      printf "| %s (%s) | %.2fx | %s | %s |\n", name, p, x, target, ok
    }
    END {
      print "| variant (time to answering /Plugin.Activate) | p50 | p90 | note |"
      print "|---|---|---|---|"
      row("(a) plugind: Enable call → reply (running)", "plugind.enable", "over D-Bus, polkit-checked")
      row("    (a) Enable → execve of bwrap", "plugind.enable.to_bwrap_exec", "D-Bus, polkit, prepare, filter, fork")
      row("    (a) execve of bwrap → execve of the plugin", "plugind.enable.bwrap_exec_to_exec", "bwrap set-up")
      row("    (a) execve → socket appears", "plugind.enable.exec_to_socket", "the plugin itself")
      row("    (a) socket appears → Enable reply", "plugind.enable.socket_to_end", "25 ms poll, Activate, reply")
      row("    (a) socket waits for the first 25 ms poll tick", "plugind.enable.socket_wait_for_tick", "tick = bwrap execve + 25 ms")
      row("    (a) first poll tick → Enable reply", "plugind.enable.after_first_tick", "Activate, record, reply")
      row("    a refused Enable (PluginEnabled)", "plugind.enable_refused", "D-Bus + polkit + dispatch floor")
      row("    Disable call → reply", "plugind.disable", "not part of the target")
      row("(b) direct: spawn → answer", "direct", "no sandbox: the plugin own start-up")
      row("    (b) execve → socket appears", "direct.exec_to_socket", "")
      row("(c) plain bwrap: spawn → answer", "bwrap", "no filter, no capability narrowing")
      row("    (c) spawn → execve of bwrap", "bwrap.to_bwrap_exec", "posix_spawn")
      row("    (c) execve of bwrap → execve of the plugin", "bwrap.bwrap_exec_to_exec", "bwrap set-up")
      row("(d) plugind sandbox, no D-Bus: set-up + spawn → answer", "sandbox", "")
      row("    (d) pd_sandbox_prepare_rootfs", "sandbox.prepare_rootfs", "")
      row("    (d) pd_sandbox_spawn: argv, filter, init memfd, fork + exec", "sandbox.spawn", "")
      row("    (d) init handshake and the daemon /proc mounts", "sandbox.init_setup", "")
      row("    (d) spawn → answer", "sandbox.spawn_to_answer", "")
      row("    (d) spawn → execve of bwrap", "sandbox.to_bwrap_exec", "fork, child set-up")
      row("    (d) execve of bwrap → execve of the plugin", "sandbox.bwrap_exec_to_exec", "bwrap set-up")
      print ""
      print "| derived | value | target | met? |"
      print "|---|---|---|---|"
      for (i = 0; i < 2; i++) {
        p = i == 0 ? "p50" : "p90"
        ov = (r["plugind.enable." p "_us"] - r["direct." p "_us"]) / 1000
        printf "| enable overhead (a) − (b) (%s) | %.2f ms | ≤ 50 ms | %s |\n", p, ov, ov <= 50 ? "yes" : "NO"
      }
      ratio("sandbox cost (d)/(c), set-up included", "sandbox", "bwrap", "p50", "—", "—")
      ratio("sandbox cost (d)/(c), spawn → answer only", "sandbox.spawn_to_answer", "bwrap", "p50", "—", "—")
      ratio("sandbox cost (d)/(c), set-up included", "sandbox", "bwrap", "p90", "—", "—")
      ratio("plugind/D-Bus overhead (a)/(d)", "plugind.enable", "sandbox", "p50", "—", "—")
      ratio("plugind/D-Bus overhead (a)/(d)", "plugind.enable", "sandbox", "p90", "—", "—")
      ratio("plain bwrap vs direct (c)/(b)", "bwrap", "direct", "p50", "—", "—")
    }' "$RESULTS"
  echo
  echo "raw results (µs):"
  sed 's/^RESULT /  /' "$RESULTS"
} | tee "$OUT"
echo "(also written to $OUT)" >&2
