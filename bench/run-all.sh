#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-all.sh: every row of the performance targets in one run on one machine, each beside its
# reference: the pull benchmark (run-pull-bench.sh) and the start/RSS part of the D-Bus
# benchmark (run-dbus-bench.sh), then one table with ratios and the target of each row. See
# bench/README.md. As root, from anywhere:
#
#   bench/run-all.sh
#
# Knobs: those of both scripts (BENCH_BUILDDIR; BENCH_PULL_RUNS, default 5, is passed to the
# pull benchmark as BENCH_RUNS; BENCH_START_RUNS, default 7, to the D-Bus benchmark; BENCH_N,
# default 500 here, round trips of the D-Bus benchmark's calls, which are not in this table).
# The table goes to stdout and to BUILDDIR/bench-all-results.txt, the two scripts' own tables
# and raw results to theirs. It exits 0 whether or not the targets are met.

set -eu

SRCDIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILDDIR="${BENCH_BUILDDIR:-$SRCDIR/build-bench}"
case "$BUILDDIR" in /*) ;; *) BUILDDIR="$SRCDIR/$BUILDDIR" ;; esac
export BENCH_BUILDDIR="$BUILDDIR"

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
START="$(date -u '+%Y-%m-%d %H:%M UTC')"
BENCH_RUNS="${BENCH_PULL_RUNS:-5}" "$SRCDIR/bench/run-pull-bench.sh" >/dev/null
LOAD_MID="$(cut -d' ' -f1-3 /proc/loadavg)"
BENCH_RUNS="${BENCH_START_RUNS:-7}" BENCH_N="${BENCH_N:-500}" \
  "$SRCDIR/bench/run-dbus-bench.sh" >/dev/null
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

OUT="$BUILDDIR/bench-all-results.txt"
{
  echo "plugind performance targets, $START, $(nproc) CPUs, $(uname -m);" \
    "load average before: $LOAD_BEFORE, between the pull and the D-Bus parts: $LOAD_MID," \
    "after: $LOAD_AFTER"
  command -v igzip >/dev/null || echo "(igzip not installed: the inflate stage is zlib's only)"
  echo
  # both scripts end with "raw results:" followed by "  key value" lines
  for f in "$BUILDDIR/bench-pull-results.txt" "$BUILDDIR/bench-dbus-results.txt"; do
    sed -n '/^raw results/,$p' "$f" | awk 'NF == 2 { print $1, $2 }'
  done | awk -v ncpu="$(nproc)" '
    { r[$1] = $2 }
    function has(k) { return (k in r) }
    function s(k) { return has(k) ? sprintf("%.3f s", r[k]) : "missing" }
    function ms(k) { return has(k) ? sprintf("%.0f ms", r[k]) : "missing" }
    function mib(k) { return has(k) ? sprintf("%.1f MiB", r[k] / 1024) : "missing" }
    function ratio(a, b) { return (has(a) && has(b) && r[b] > 0) ? r[a] / r[b] : -1 }
    function fr(x) { return x < 0 ? "—" : sprintf("%.2fx", x) }
    function ok(c) { return c ? "met" : "NOT met" }
    function row(work, pd, ref, rat, target, met) {
      printf "| %s | %s | %s | %s | %s | %s |\n", work, pd, ref, rat, target, met
    }
    function pull(size, label,    p, x, y, z, st, f, lim13) {
      p = size ".plugind.median"
      x = ratio(p, size ".stage_limit.median")
      row(label " pull+extract vs the slowest stage alone", s(p), \
        sprintf("%s (download %s, sha256 %s, inflate zlib %s, igzip %s, tar -x %s)", \
          s(size ".stage_limit.median"), s(size ".download.median"), s(size ".sha256.median"), \
          s(size ".inflate.median"), s(size ".inflate_igzip.median"), s(size ".untar.median")), \
        fr(x), size == "large" ? "≤ 1.3x" : "— (its target is < 0.1 s)", \
        size == "large" ? (x < 0 ? "—" : ok(x <= 1.3)) : "—")
      # the floor of the whole work (pull-bench.py, run_limit): the CPU time of each stage alone,
      # summed over the cores, or the slowest stage if longer; a target below it is impossible
      if (has(size ".machine_floor.median")) {
        f = r[size ".machine_floor.median"]
        lim13 = 1.3 * r[size ".stage_limit.median"]
        x = ratio(p, size ".machine_floor.median")
        row(label " pull+extract vs the floor of the whole work on " ncpu " cores", s(p), \
          sprintf("%s (the stages alone: %.2f CPU s summed / %d cores = %s; slowest stage %s)", \
            s(size ".machine_floor.median"), r[size ".stage_cpu_sum.median"], ncpu, \
            s(size ".cpu_floor.median"), s(size ".stage_limit.median")), \
          fr(x), "— (a bound)", size != "large" ? "—" : \
          lim13 < f ? sprintf("≤ 1.3x the slowest stage (%.3f s) is below it: impossible", lim13) \
                    : sprintf("≤ 1.3x the slowest stage (%.3f s) is above it: possible", lim13))
        x = ratio(p, size ".bare_pipeline.median")
        row(label " pull+extract vs bare tools doing the whole work as one pipeline", s(p), \
          sprintf("%s (curl \\| tee blob >(sha256) \\| igzip -dc \\| tee >(sha256) \\| tar -x)", \
            s(size ".bare_pipeline.median")), fr(x), "—", "—")
      }
      if (has(size ".skopeo.median") && has(size ".gzip_untar.median")) {
        st = r[size ".skopeo.median"] + r[size ".gzip_untar.median"]
        r[size ".skopeo_tar"] = st
      }
      y = ratio(p, size ".skopeo_tar")
      row(label " pull+extract vs skopeo copy + gzip -dc \\| tar -x", s(p), s(size ".skopeo_tar"), \
        fr(y), size == "large" ? "≤ 0.5x (2x faster)" : "—", \
        size == "large" ? (y < 0 ? "—" : ok(y <= 0.5)) : "—")
      z = ratio(p, size ".skopeo_umoci.median")
      row(label " pull+extract vs skopeo copy + umoci unpack", s(p), \
        s(size ".skopeo_umoci.median"), fr(z), "< 1x", z < 0 ? "—" : ok(z < 1))
    }
    END {
      print "| work | plugind | reference (same run) | ratio | target | met? |"
      print "|---|---|---|---|---|---|"
      pull("large", "large (165 MB gzip)")
      pull("small", "small (2.7 MB gzip, 2,000 files)")
      row("small pull+extract, absolute", s("small.plugind.median"), "—", "—", "< 0.1 s", \
        has("small.plugind.median") ? ok(r["small.plugind.median"] < 0.1) : "—")
      x = ratio("pd1000.start_ms", "bare1000.start_ms")
      row("start to bus name, 1,000 plugins, median of the runs", ms("pd1000.start_ms"), \
        "bare GDBus service, 1,000 objects: " ms("bare1000.start_ms"), fr(x), "< 200 ms", \
        has("pd1000.start_ms") ? ok(r["pd1000.start_ms"] < 200) : "—")
      x = ratio("pd1000.start_max_ms", "bare1000.start_max_ms")
      row("start to bus name, 1,000 plugins, slowest run", ms("pd1000.start_max_ms"), \
        "bare: " ms("bare1000.start_max_ms"), fr(x), "< 300 ms", \
        has("pd1000.start_max_ms") ? ok(r["pd1000.start_max_ms"] < 300) : "—")
      x = ratio("pd0.rss_kb", "bare0.rss_kb")
      row("idle VmRSS, 0 plugins", mib("pd0.rss_kb"), "bare, 0 objects: " mib("bare0.rss_kb"), \
        fr(x), "≤ 1.5x", x < 0 ? "—" : ok(x <= 1.5))
      x = ratio("pd1000.rss_kb", "bare1000.rss_kb")
      row("idle VmRSS, 1,000 plugins", mib("pd1000.rss_kb"), \
        "bare, 1,000 objects: " mib("bare1000.rss_kb"), fr(x), "≤ 1.5x", x < 0 ? "—" : ok(x <= 1.5))
      x = ratio("small.plugind.idle_vmrss_1pull_kb", "bare0.rss_kb")
      row("idle VmRSS after one small pull (plugin removed again, 0 plugins)", \
        mib("small.plugind.idle_vmrss_1pull_kb"), "bare, 0 objects: " mib("bare0.rss_kb"), fr(x), \
        "≤ 1.5x", x < 0 ? "—" : ok(x <= 1.5))
      x = ratio("small.plugind.idle_vmrss_1pull_kb", "small.plugind.idle_vmrss_first_kb")
      row("idle VmRSS after one small pull vs the same daemon before it", \
        mib("small.plugind.idle_vmrss_1pull_kb"), \
        "before: " mib("small.plugind.idle_vmrss_first_kb"), fr(x), "≤ 1.1x", \
        x < 0 ? "—" : ok(x <= 1.1))
      row("plugind-transfer, the helper of the small pull job: peak VmRSS (context; a process of the job alone)", \
        mib("small.transfer.rss_kb"), "—", "—", "—", "—")
      row("plugind-transfer, the spare a job leaves for the next: VmRSS 1 s after the job (context; gone after 10 s without a job, before the row above was read)", \
        mib("small.transfer_spare.rss_kb"), "—", "—", "—", "—")
      x = ratio("pd1000.rss_anon_kb", "bare1000.rss_anon_kb")
      row("idle RssAnon, 1,000 plugins (context)", mib("pd1000.rss_anon_kb"), \
        "bare: " mib("bare1000.rss_anon_kb"), fr(x), "—", "—")
      x = ratio("pd0.start_ms", "bare0.start_ms")
      row("start to bus name, 0 plugins (context)", ms("pd0.start_ms"), \
        "bare: " ms("bare0.start_ms"), fr(x), "—", "—")
    }'
  echo
  echo "Pull times: medians of the pull benchmark's interleaved rounds; start: median and slowest"
  echo "of the D-Bus benchmark's start runs; the details are in bench-pull-results.txt and"
  echo "bench-dbus-results.txt next to this file."
} | tee "$OUT"
echo "(also written to $OUT)" >&2
