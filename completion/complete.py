#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs bash's completion of pluginctl for a command line, the way bash calls it on Tab.

complete(line) splits the line into COMP_WORDS as bash does (at blanks, and at the '=' and ':'
of COMP_WORDBREAKS, each its own word), loads bash-completion and completion/pluginctl in a
fresh bash, runs the function `complete -p pluginctl` names with COMP_WORDS, COMP_CWORD,
COMP_LINE and COMP_POINT set, and returns COMPREPLY. The first word is the pluginctl to run
(the completion asks the daemon through the pluginctl it completes).

As a program: complete.py COMPLETION_FILE PLUGINCTL WORDS… prints the candidates, one a line.
"""

import os
import re
import subprocess
import sys

BASH_COMPLETION = '/usr/share/bash-completion/bash_completion'

DRIVER = r'''
set -u
source "$BASH_COMPLETION" || exit 90
source "$COMPLETION_FILE" || exit 91
spec=$(complete -p pluginctl) || exit 92
func=${spec#*-F }
func=${func%% *}
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=$LINE
COMP_POINT=${#LINE}
COMP_TYPE=9
COMPREPLY=()
"$func" pluginctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\0' "${COMPREPLY[@]}"
'''


def split_words(line):
    """COMP_WORDS of line, cursor at its end: the current word is the last (maybe empty)."""
    words = []
    for blank_word in line.split():
        words += re.findall(r'[=:]|[^=:]+', blank_word)
    if line == '' or line[-1].isspace():
        words.append('')
    return words


def complete(completion_file, pluginctl, line, env=None, timeout=60, argv_prefix=()):
    """The candidates bash offers for line (which starts with "pluginctl"); argv_prefix runs
    bash through another program (setpriv)."""
    words = split_words(line)
    assert words[0] == 'pluginctl', line
    words[0] = pluginctl
    e = dict(env if env is not None else os.environ)
    e.update(BASH_COMPLETION=BASH_COMPLETION, COMPLETION_FILE=completion_file,
             LINE=line.replace('pluginctl', pluginctl, 1))
    p = subprocess.run(list(argv_prefix) + ['/bin/bash', '--norc', '--noprofile', '-c', DRIVER,
                                                 'bash'] + words,
                       env=e, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError('bash failed (%d) completing %r: %s' %
                           (p.returncode, line, p.stderr.decode(errors='replace')))
    return [w.decode() for w in p.stdout.split(b'\0') if w != b'']


if __name__ == '__main__':
    for c in complete(sys.argv[1], sys.argv[2], ' '.join(['pluginctl'] + sys.argv[3:])):
        print(c)
