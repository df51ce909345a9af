#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Failures as an administrator meets them: pluginctl status, the STATE of ls, inspect's State,
and one clear sentence when the daemon is not running, not reachable or says no."""

import json
import os
import re
import subprocess

from pd_testcase import (ERR, EXIT_FAILURE, EXIT_NOT_AUTHORIZED, PLUGIN_IFACE, PLUGINCTL,
                         TIMEOUT_MULT, main)
from test_pluginctl import PluginctlTestCase
from test_run import faulty_plugin

NOT_RUNNING = ('Error: The plugind daemon is not running and could not be started: start it '
               'with “systemctl start plugind” (or check that it is installed and its bus '
               'activation file is in place).\n')
UNREACHABLE = ('Error: The system bus cannot be reached: check that dbus-daemon runs and that '
               'DBUS_SYSTEM_BUS_ADDRESS, if set, names the system bus.\n')
NOT_AUTHORIZED = 'Error: Not authorized'


class StatusTests(PluginctlTestCase):
    autostart_daemon = False

    def setUp(self):
        super().setUp()
        # a crash loop in a second, not in 1 + 2 + 4 + 8 of them
        self.daemon_env = {'PLUGIND_RESTART_BACKOFF_MS': '20'}
        self.start_daemon()

    def test_crash_loop(self):
        path = faulty_plugin(self, 'crashloop', 'test/loop')
        self.ctl_ok('enable', 'test/loop')
        self.wait_until(lambda: self.plugin_prop(path, 'State') == 'failed', msg='failed')
        self.assertEqual(self.plugin_prop(path, 'RestartCount'), 4)
        self.assertEqual(self.plugin_prop(path, 'LastErrorName'), ERR + 'CrashLoop')
        # each exit before the last was PluginExited
        names = [s[3][1]['LastErrorName'] for s in self.signals_named('PropertiesChanged', path)
                 if s[3][0] == PLUGIN_IFACE and 'LastErrorName' in s[3][1]]
        self.assertIn(ERR + 'PluginExited', names)
        self.assertEqual(names[-1], ERR + 'CrashLoop')

        out = self.ctl_ok('status', 'test/loop')
        lines = out.splitlines()
        self.assertEqual(lines[0], 'test/loop:latest - A test plugin')
        self.assertRegex(out, r'\n *State: failed since \w{3} \d{4}-\d\d-\d\d [0-9:]{8} \w+; '
                              r'\d+s ago\n')
        self.assertRegex(out, r'\n *Enabled: yes\n')
        self.assertRegex(out, r'\n *Restarts: 4\n')
        self.assertRegex(out, r'\n *Error: The plugin stopped 5 times within 120 s and is not '
                              r'restarted any more; the last time: The plugin exited with status '
                              r'1; see the plugin.s log \(org\.plugind\.Plugind1\.Error\.'
                              r'CrashLoop\)\n')
        self.assertRegex(out, r'\n *Holders: none\n')
        self.assertNotIn('Main PID', out)
        # root reads the log: its last lines follow, at most 10
        log = out.split('\n\n', 1)[1]
        self.assertIn('runner-plugin: crashing\n', log)
        self.assertLessEqual(len(log.splitlines()), 10)
        self.assertNotIn('\x1b', out)
        self.assertNotIn('●', out)

        # someone who may not read logs gets the rest, a hint, and status 0
        p = self.ctl('status', 'test/loop', nobody=True)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stderr, b'')
        shown = p.stdout.decode()
        self.assertRegex(shown, r'\n *Restarts: 4\n')
        self.assertIn('\nHint: the log is not shown', shown)
        self.assertNotIn('runner-plugin:', shown)
        # an unknown name among known ones: status 4, as inspect
        p = self.ctl('status', 'test/loop', 'test/nope')
        self.assertEqual(p.returncode, 4)
        self.assertTrue(p.stdout.decode().startswith('test/loop:latest'))

        # colour and the bullet only on a terminal
        p, shown = self.ctl_terminal('status', 'test/loop')
        self.assertEqual(p.returncode, 0)
        self.assertIn('\x1b[1;31m●\x1b[0m test/loop:latest'.encode(), shown)
        self.assertIn(b'\x1b[1;31mfailed\x1b[0m since', shown)

        # ls: Docker's table for scripts, STATE on a terminal or with --state
        header = self.ctl_ok('ls').splitlines()[0]
        self.assertEqual(header.split(), ['ID', 'NAME', 'DESCRIPTION', 'ENABLED'])
        table = self.ctl_ok('ls', '--state').splitlines()
        self.assertEqual(table[0].split(), ['ID', 'NAME', 'DESCRIPTION', 'ENABLED', 'STATE'])
        self.assertEqual(table[1].split()[-2:], ['true', 'failed'])
        p, shown = self.ctl_terminal('ls')
        self.assertEqual(shown.decode().replace('\r', '').splitlines()[1].split()[-2:],
                         ['true', 'failed'])
        self.assertEqual(self.ctl_ok('ls', '--format',
                                     '{{.State}} {{.RestartCount}} {{.LastErrorName}}'),
                         'failed 4 %sCrashLoop\n' % ERR)
        self.assertIn('exited with status 1', self.ctl_ok('ls', '--format', '{{.LastError}}'))

        # inspect: Docker's members as they are, then plugind's State
        doc = json.loads(self.ctl_ok('inspect', 'test/loop'))[0]
        self.assertEqual(list(doc), ['Config', 'Enabled', 'Id', 'Name', 'PluginReference',
                                     'Settings', 'State'])
        self.assertEqual(doc['State'], {
            'Status': 'failed', 'Pid': 0, 'RestartCount': 4, 'ErrorName': ERR + 'CrashLoop',
            'Error': self.plugin_prop(path, 'LastErrorMessage')})
        self.assertEqual(self.ctl_ok('inspect', '-f', '{{.State.Status}}', 'test/loop'),
                         'failed\n')
        self.ctl_ok('disable', 'test/loop')

    def test_hostile_plugin(self):
        # what a plugin controls (its name's description) never reaches a terminal raw; a
        # plugin that exits at once shows as failed with ActivationFailed and its log
        path = faulty_plugin(self, 'exit', 'test/evil', Description='\x1b[2Jevil\x07\r\nline')
        self.ctl_fail(EXIT_FAILURE, 'enable', 'test/evil')
        self.assertEqual(self.plugin_prop(path, 'LastErrorName'), ERR + 'ActivationFailed')
        for p, shown in (self.ctl_terminal('status', 'test/evil'),
                         (self.ctl('status', 'test/evil'), None)):
            self.assertEqual(p.returncode, 0)
            text = shown if shown is not None else p.stdout
            colours = text.replace(b'\x1b[1;31m', b'').replace(b'\x1b[0m', b'')
            self.assertNotIn(b'\x1b', colours)
            self.assertNotIn(b'\x07', text)
            self.assertIn(b' - \\x1b[2Jevil\\x07line', text)
            self.assertIn(b'failed since', colours)
            self.assertIn(b'(org.plugind.Plugind1.Error.ActivationFailed)', text)
            self.assertIn(b'runner-plugin: exiting at once', text)
        # a 2 MiB line, bytes that are not UTF-8 and escapes in the log: status shows the
        # last lines, bounded and escaped
        path = faulty_plugin(self, 'binary', 'test/binary')
        self.ctl_ok('enable', 'test/binary')
        out = self.ctl_ok('status', 'test/binary')
        self.assertLess(len(out.encode()), 64 * 1024 + 4096)
        self.assertNotIn('\x1b', out)
        self.assertIn('\n\nbin\ufffd\ufffd\\x1b[31mred\nno newline', out)
        self.ctl_ok('disable', 'test/binary')
        # ten lines of 15,000 bytes: status shows their last 64 KiB, from a line start
        env = [{'Name': 'LONG%d' % i, 'Description': '', 'Settable': [], 'Value': str(i) * 15000}
               for i in range(10)]
        faulty_plugin(self, 'printenv', 'test/long', Env=env)
        self.ctl_fail(EXIT_FAILURE, 'enable', 'test/long')
        out = self.ctl_ok('status', 'test/long')
        log = out.split('\n\n', 1)[1]
        self.assertLessEqual(len(log.encode()), 64 * 1024)
        self.assertGreater(len(log.encode()), 64 * 1024 - 15020)
        self.assertRegex(log, r'^env LONG\d=')

    def test_clear_sentences(self):
        self.create_ok('test/mine')
        # not authorized: nobody, with and without a prompt allowed (no agent either way)
        for extra in ((), ('--no-ask-password',)):
            p = self.ctl(*(extra + ('rm', 'test/mine')), nobody=True)
            self.assertEqual(p.returncode, EXIT_NOT_AUTHORIZED)
            err = p.stderr.decode()
            self.assertTrue(err.startswith(NOT_AUTHORIZED), err)
            self.assertEqual(err.count('\n'), 1, err)
            self.assertNotIn('org.', err)
        # not reachable: no bus where the address says
        env = dict(os.environ, LC_ALL='C.UTF-8',
                   DBUS_SYSTEM_BUS_ADDRESS='unix:path=' + os.path.join(self.tmpdir, 'no-bus'))
        for args in (('ls',), ('status', 'test/mine')):
            p = subprocess.run([PLUGINCTL] + list(args), env=env, capture_output=True,
                               timeout=60 * TIMEOUT_MULT)
            self.assertEqual((p.returncode, p.stderr.decode()), (EXIT_FAILURE, UNREACHABLE))
        # not running: the bus is there, plugind is not (and cannot be activated)
        self.stop_daemon()
        for args in (('ls',), ('status', 'test/mine'), ('enable', 'test/mine')):
            _, err = self.ctl_fail(EXIT_FAILURE, *args)
            self.assertEqual(err, NOT_RUNNING)


if __name__ == '__main__':
    main()
