#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The wrapper of meson's "valgrind" setup (tests/meson.build): runs one unit test under
# valgrind with a log per process, so that a child the test forks (the sandbox set-up process,
# a crash test's child) has its own, then prints every log and fails the test when any process
# reported an error, not only the test's own: a forked child's exit status is its parent's
# business, and a report that nothing checked was once read by no one.
#   valgrind-test.sh VALGRIND-OPTIONS... PROGRAM ARGS...
# The logs go in a directory of their own under G_TEST_BUILDDIR (the build tree, never /tmp),
# which is removed afterwards.

logs=$(mktemp -d "${G_TEST_BUILDDIR:-.}/valgrind-logs.XXXXXX") || exit 99
trap 'rm -rf "$logs"' EXIT

# prints the logs; fails (status 1) when one of them counts errors
print_logs() {
  found=0
  for log in "$logs"/*.log; do
    [ -e "$log" ] || continue
    cat "$log" >&2
    # "ERROR SUMMARY: 0 errors" is the only good end; a process killed before its summary (by
    # SIGKILL from outside) wrote none, and has nothing to report
    if grep -q '^==[0-9]*== ERROR SUMMARY: [1-9]' "$log"; then
      echo "valgrind-test: process ${log##*/} reported errors (above)" >&2
      found=1
    fi
  done
  return "$found"
}

# meson's timeout signals the whole process group: the logs still show what ran
trap 'print_logs; exit 143' TERM
trap 'print_logs; exit 130' INT

valgrind --log-file="$logs/%p.log" "$@"
status=$?
if ! print_logs && [ "$status" -eq 0 ]; then
  status=1
fi
exit "$status"
