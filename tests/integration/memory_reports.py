#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Finds sanitizer and valgrind reports in output: the first line of a report of
AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer, or a valgrind error summary that
counts errors.

A process reports through its exit status too, but a child that a test or the daemon forks
has a parent that may not look at it: pd_testcase.py checks the daemon's log after every
integration test, and scripts/test.sh runs this on meson's test logs as a backstop:

    memory_reports.py BUILDDIR/meson-logs/testlog[-SETUP].json

prints every report with the test whose output held it and exits 1 if there was one.
"""

import json
import re
import sys

REPORT = re.compile(r'^(?:==\d+==ERROR: (?:AddressSanitizer|LeakSanitizer)\b.*'
                    r'|\S+:\d+:\d+: runtime error: .*'
                    r'|==\d+== ERROR SUMMARY: [1-9].*)$', re.M)


def find(text):
    """The first lines of the reports in text (str)."""
    return REPORT.findall(text)


def main(paths):
    found = 0
    for path in paths:
        with open(path) as f:
            for line in f:
                test = json.loads(line)
                for stream in ('stdout', 'stderr'):
                    for report in find(test.get(stream) or ''):
                        print('%s: %s: %s' % (path, test['name'], report))
                        found += 1
    if found:
        print('%d sanitizer or valgrind report(s) in the test logs: a passing test does not '
              'excuse them (fix the bug, or suppress a library\'s with its reason in '
              'tests/valgrind.supp or tests/lsan.supp)' % found)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
