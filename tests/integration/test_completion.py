#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pluginctl's bash completion (completion/pluginctl) against the real daemon: plugin names and
the keys `set` accepts come from the daemon, quietly, without a prompt, and without hanging
when no daemon answers."""

import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from pd_testcase import (PLUGINCTL, SRCDIR, PlugindTestCase, main, make_context,
                         plugin_config)

sys.path.insert(0, os.path.join(SRCDIR, 'completion'))
from complete import complete  # noqa: E402

COMPLETION = os.path.join(SRCDIR, 'completion', 'pluginctl')

# every kind of setting, settable and not
SETTINGS_CONFIG = plugin_config(
    Env=[{'Name': 'DEBUG', 'Description': '', 'Settable': ['value'], 'Value': '0'},
         {'Name': 'FIXED', 'Description': 'not settable', 'Settable': [], 'Value': '1'},
         {'Name': 'LEVEL', 'Description': '', 'Settable': ['value'], 'Value': 'info'}],
    Mounts=[{'Name': 'data', 'Description': '', 'Settable': ['source'], 'Source': '/srv',
             'Destination': '/data', 'Type': 'bind', 'Options': ['rbind']}],
    Linux={'Capabilities': [], 'AllowAllDevices': False,
           'Devices': [{'Name': 'disk', 'Description': '', 'Settable': ['path'],
                        'Path': '/dev/null'}]},
    Args={'Name': 'args', 'Description': '', 'Settable': ['value'], 'Value': []})
SETTINGS_PRIVILEGES = [('mount', '', ['/srv']), ('device', '', ['/dev/null'])]


class CompletionTestCase(PlugindTestCase):

    def setUp(self):
        if not os.access(PLUGINCTL, os.X_OK):
            raise RuntimeError('%s is not built' % PLUGINCTL)
        super().setUp()

    def env(self, **kw):
        e = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL='C.UTF-8')
        e.pop('DBUS_SESSION_BUS_ADDRESS', None)
        e.update(kw)
        return e

    def complete(self, line, **kw):
        return complete(COMPLETION, PLUGINCTL, line, env=kw.pop('env', None) or self.env(), **kw)

    def test_names_and_settable_keys(self):
        self.create_ok('test/settings', make_context(SETTINGS_CONFIG),
                       privileges=SETTINGS_PRIVILEGES)
        self.create_ok('other:1.0')
        names = ['other:1.0', 'test/settings:latest']

        for cmd in ('inspect', 'rm', 'remove', 'status', 'logs', 'push', 'upgrade', 'set',
                    'enable'):
            self.assertEqual(sorted(self.complete('pluginctl %s ' % cmd)), names, cmd)
        self.assertEqual(self.complete('pluginctl --no-ask-password inspect te'),
                         ['test/settings:latest'])
        # readline replaces what follows the ':' of NAME:TAG
        self.assertEqual(self.complete('pluginctl inspect test/settings:l'), ['latest'])
        # inspect and rm take many names; logs one
        self.assertEqual(sorted(self.complete('pluginctl rm other:1.0 ')), names)
        self.assertEqual(self.complete('pluginctl logs -n 5 other:1.0 '), [])
        self.assertEqual(sorted(self.complete('pluginctl logs -n 5 ')), names)
        # created plugins are disabled: nothing to disable
        self.assertEqual(self.complete('pluginctl disable '), [])

        # the keys Set accepts, and only those
        self.assertEqual(sorted(self.complete('pluginctl set test/settings ')),
                         ['DEBUG=', 'LEVEL=', 'args=', 'data.source=', 'disk.path='])
        self.assertEqual(self.complete('pluginctl set test/settings DEBUG=1 d'),
                         ['data.source=', 'disk.path='])
        self.assertEqual(self.complete('pluginctl set test/settings:latest L'), ['LEVEL='])
        # a mount source is a file name
        self.assertIn('/dev', self.complete('pluginctl set test/settings data.source=/de'))
        self.assertEqual(self.complete('pluginctl set no/such '), [])

        # what the keys offer is what Set takes
        keys = self.complete('pluginctl set test/settings ')
        p = self.run_pluginctl('set', 'test/settings', *[k + '/dev/null' if k.endswith(
            ('.path=', '.source=')) else k + '1' for k in keys])
        self.assertEqual(p.returncode, 0, p.stderr.decode())

    def test_tab_in_interactive_bash(self):
        """Tab in a real interactive bash on a terminal, with bash-completion loaded as a
        distribution loads it and pluginctl found on PATH."""
        self.create_ok('test/settings', make_context(SETTINGS_CONFIG),
                       privileges=SETTINGS_PRIVILEGES)
        env = self.env(PATH=os.path.dirname(PLUGINCTL) + ':/usr/bin:/bin', PS1='READY$ ',
                       HOME=self.tmpdir, INPUTRC='/dev/null', TERM='dumb')
        pid, fd = pty.fork()
        if pid == 0:
            os.execve('/bin/bash', ['bash', '--norc', '--noprofile', '-i'], env)
        self.addCleanup(os.close, fd)

        def reap():
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self.addCleanup(reap)
        seen = b''

        def until(text, timeout=30, first=False):
            """waits for text on the terminal; first: nothing else came before it"""
            nonlocal seen
            end = time.monotonic() + timeout
            while text.encode() not in seen:
                left = end - time.monotonic()
                self.assertGreater(left, 0, 'no %r on the terminal: %r' % (text, seen))
                if select.select([fd], [], [], left)[0]:
                    try:
                        seen += os.read(fd, 65536)
                    except OSError:
                        break
            if first:
                self.assertTrue(seen.startswith(text.encode()), 'expected %r, got %r' %
                                (text, seen))
            seen = seen[seen.index(text.encode()) + len(text):]

        def send(text):
            os.write(fd, text.encode())

        send("bind 'set bell-style none'; bind 'set show-all-if-ambiguous on'; "
             "source /usr/share/bash-completion/bash_completion; source '%s'; echo LOAD''ED\n" %
             COMPLETION)
        # (the echo of the line itself reads LOAD''ED)
        until('LOADED\r\nREADY$ ')
        # one candidate: readline inserts the rest
        send('pluginctl se')
        until('pluginctl se')
        send('\t')
        until('t ', first=True)
        send('test/se')
        until('test/se')
        send('\t')
        until('ttings:latest ', first=True)
        # several: listed, then the prompt again
        send('\t')
        for key in ('DEBUG=', 'LEVEL=', 'args=', 'data.source=', 'disk.path=', 'READY$ '):
            until(key)
        send('L')
        until('L')
        send('\t')
        until('EVEL=', first=True)
        # Ctrl+U empties the line (not Ctrl+C: readline may lose it right after a completion)
        send('\x15')
        # NAME:TAG: only what follows the ':' is replaced
        send('pluginctl inspect test/settings:l')
        until('pluginctl inspect test/settings:l')
        send('\t')
        until('atest ', first=True)
        send('\x15exit 0\n')
        self.assertEqual(os.waitpid(pid, 0)[1], 0)

    def run_pluginctl(self, *args):
        return subprocess.run([PLUGINCTL] + list(args), env=self.env(), capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=60)

    def test_hostile_names_are_never_offered_or_run(self):
        """A plugin's config names settings: a name that would need quoting is not offered,
        and nothing in it is ever expanded or run."""
        marker = os.path.join(self.tmpdir, 'ran')
        hostile = ['$(touch %s)' % marker, '`touch %s`' % marker, 'a b', 'x;touch ' + marker,
                   '*', 'new\nline']
        config = plugin_config(Env=[{'Name': n, 'Description': '', 'Settable': ['value'],
                                     'Value': ''} for n in hostile] +
                               [{'Name': 'GOOD', 'Description': '', 'Settable': ['value'],
                                 'Value': ''}])
        self.create_ok('hostile', make_context(config))
        self.assertEqual(sorted(self.complete('pluginctl set hostile ')), ['GOOD=', 'args='])
        self.assertFalse(os.path.exists(marker))

    def test_unprivileged_user_gets_names_without_a_prompt(self):
        self.create_ok('test/settings', make_context(SETTINGS_CONFIG),
                       privileges=SETTINGS_PRIVILEGES)
        # nobody must read the completion file: a copy outside the checkout, which may be
        # unreadable to nobody
        d = tempfile.mkdtemp(prefix='plugind-completion-')
        self.addCleanup(shutil.rmtree, d)
        os.chmod(d, 0o755)
        copy = os.path.join(d, 'pluginctl')
        shutil.copy(COMPLETION, copy)
        os.chmod(copy, 0o644)
        env = {'PATH': '/usr/bin:/bin', 'HOME': '/', 'LC_ALL': 'C.UTF-8',
               'DBUS_SYSTEM_BUS_ADDRESS': self.bus.address}
        nobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']
        self.assertEqual(complete(copy, PLUGINCTL, 'pluginctl set ', env=env,
                                  argv_prefix=nobody), ['test/settings:latest'])
        self.assertEqual(sorted(complete(copy, PLUGINCTL, 'pluginctl set test/settings ',
                                         env=env, argv_prefix=nobody)),
                         ['DEBUG=', 'LEVEL=', 'args=', 'data.source=', 'disk.path='])

    def test_no_daemon_no_hang(self):
        """Without a daemon, or with a bus that never answers, completion offers no names and
        returns (pluginctl is given 3 seconds)."""
        self.stop_daemon()
        self.assertEqual(self.complete('pluginctl inspect '), [])
        self.assertEqual(self.complete('pluginctl set test '), [])
        # a socket that accepts connections and never says a word
        path = os.path.join(self.tmpdir, 'stalled-bus')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(path)
        s.listen(8)
        env = self.env(DBUS_SYSTEM_BUS_ADDRESS='unix:path=' + path)
        self.assertEqual(self.complete('pluginctl inspect ', env=env, timeout=30), [])
        # commands and options need no daemon
        self.assertIn('inspect', self.complete('pluginctl in', env=env))


if __name__ == '__main__':
    main()
