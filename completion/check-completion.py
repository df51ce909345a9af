#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks that the bash completion offers every command and option pluginctl's help lists, and
knows which options take a value, so that the completion stays in step with pluginctl.

usage: check-completion.py COMPLETION_FILE PLUGINCTL
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from complete import complete  # noqa: E402

OPTION = re.compile(r'^\s+(?:(-\w), )?(--[\w-]+)(=\S+)?\s')


def helptext(pluginctl, *args):
    env = dict(os.environ, LC_ALL='C.UTF-8', LANGUAGE='')
    p = subprocess.run([pluginctl] + list(args) + ['--help'], env=env, capture_output=True,
                       text=True, check=True, stdin=subprocess.DEVNULL)
    return p.stdout


def options(text):
    """(option, takes a value) of every option in a --help text"""
    found = []
    for line in text.splitlines():
        m = OPTION.match(line)
        if m:
            for name in m.group(1), m.group(2):
                if name is not None:
                    found.append((name, m.group(3) is not None))
    return found


def commands(text):
    section = text.split('Commands:\n', 1)[1].split('\n\n', 1)[0]
    names = []
    for line in section.splitlines():
        names += [n.strip() for n in line.split('  ')[1].split(',')] if line.startswith('  ') else []
    return names


def takes_value(completion_file, command, option):
    p = subprocess.run(['/bin/bash', '--norc', '--noprofile', '-c',
                        'source "$0" && _pluginctl_takes_value "$1" "$2"',
                        completion_file, command, option], stdin=subprocess.DEVNULL)
    return p.returncode == 0


def main():
    completion_file, pluginctl = sys.argv[1:3]
    env = dict(os.environ)
    # no daemon: the check is about commands and options
    env['DBUS_SYSTEM_BUS_ADDRESS'] = 'unix:path=/nonexistent'
    errors = []
    checked = 0

    def offered(line):
        return complete(completion_file, pluginctl, line, env=env)

    top = helptext(pluginctl)
    cmds = commands(top)
    if len(cmds) < 10:
        errors.append('found only %r in pluginctl --help' % cmds)
    got = offered('pluginctl ')
    for c in cmds:
        checked += 1
        if c not in got:
            errors.append('command %s is not offered' % c)
    got = offered('pluginctl -')
    for opt, _ in options(top):
        checked += 1
        if opt not in got:
            errors.append('global option %s is not offered' % opt)

    for c in cmds:
        got = offered('pluginctl %s -' % c)
        for opt, valued in options(helptext(pluginctl, c)):
            checked += 1
            if opt not in got:
                errors.append('option %s of %s is not offered' % (opt, c))
            if opt not in ('-h', '--help') and takes_value(completion_file, c, opt) != valued:
                errors.append('option %s of %s %s a value, the completion thinks otherwise' %
                              (opt, c, 'takes' if valued else 'takes no'))
    for e in errors:
        print('FAIL:', e)
    print('checked %d commands and options' % checked)
    return 1 if errors or checked == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
