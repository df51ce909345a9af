#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bounds on what callers, configs and settings can make large, and the daemon's exit status:
no input makes a reply or a signal too large for the bus, and the daemon exits non-zero
whenever it stops for another reason than SIGTERM, SIGINT or a --replace handover.
"""

import json
import os
import signal
import subprocess

from pd_testcase import (BUS_NAME, DBUS_ERR, DENIED, ERR, MANAGER_IFACE, MANAGER_PATH,
                         PLUGIN_IFACE, TIMEOUT_MULT, GLib, PlugindTestCase, _Bus, main,
                         make_context, plugin_config)
from test_run import RunTestCase

MIB = 1024 * 1024
SET_ACTION = 'org.plugind.plugind1.set'
# what a caller gets back may quote its input, but only a short piece of it
SHORT = 1024


class EchoTests(RunTestCase):
    """Untrusted text echoed in error messages is cut short; nobody cannot stop the daemon."""

    def setUp(self):
        super().setUp()
        self.enable()
        self.main_pid = self.plugin_prop(self.path, 'MainPID')

    def assertStillServing(self):
        """The daemon owns its name, answers, and the plugin runs on in the same process."""
        self.assertIsNone(self.daemon.poll(), 'plugind exited')
        owner = self.conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                    'org.freedesktop.DBus', 'GetConnectionUnixProcessID',
                                    GLib.Variant('(s)', (BUS_NAME,)),
                                    GLib.VariantType('(u)'), 0, -1, None).unpack()[0]
        self.assertEqual(owner, self.daemon.pid)
        self.assertEqual(self.get_plugin('plugind/example'), self.path)
        self.assertEqual(self.plugin_prop(self.path, 'State'), 'running')
        self.assertEqual(self.plugin_prop(self.path, 'MainPID'), self.main_pid)

    def test_get_plugin_huge_name_as_nobody(self):
        # 9 MiB of control characters: escaped 4 times as large, more than the bus allows
        _, err = self.nobody_call(MANAGER_PATH, MANAGER_IFACE, 'GetPlugin', 's',
                                  args_json=[{'$repeat': ['\x01', 9 * MIB]}], reply='(o)')
        self.assertIsNotNone(err)
        self.assertIn(err.name, (ERR + 'NoSuchPlugin', DBUS_ERR + 'LimitsExceeded'), err.name)
        self.assertLess(len(err.message), SHORT, err.message[:200])
        self.assertStillServing()

    def test_get_plugin_long_name_is_cut(self):
        # small enough to be looked at: the message quotes a short, marked piece of it
        _, err = self.nobody_call(MANAGER_PATH, MANAGER_IFACE, 'GetPlugin', 's',
                                  args_json=[{'$repeat': ['\x1b', 3 * MIB]}], reply='(o)')
        self.assertIsNotNone(err)
        self.assertEqual(err.name, ERR + 'NoSuchPlugin')
        self.assertLess(len(err.message), SHORT, err.message[:200])
        self.assertIn('\\x1b\\x1b', err.message)
        self.assertIn('…', err.message)
        self.assertStillServing()

    def test_huge_unknown_option_key_as_nobody(self):
        # the options are checked before anyone is asked, so nobody gets the message; the
        # smaller key is looked at and quoted short, the larger one refused unread
        for size in (3 * MIB, 9 * MIB):
            options = {'$dict': [[{'$repeat': ['\x02', size]}, {'$variant': ['b', True]}]]}
            _, err = self.nobody_call(self.path, PLUGIN_IFACE, 'Disable', 'a{sv}',
                                      args_json=[options])
            self.assertIsNotNone(err)
            self.assertIn(err.name, (DBUS_ERR + 'InvalidArgs', DBUS_ERR + 'LimitsExceeded'),
                          err.name)
            self.assertLess(len(err.message), SHORT, err.message[:200])
            self.assertStillServing()


class SetLimitTests(PlugindTestCase):
    """Set's keys, values and number of pairs are bounded, and checked before anything is
    saved: the record stays loadable and the daemon keeps serving."""

    def setUp(self):
        super().setUp()
        self.path, _ = self.create_ok('test/limits', make_context())
        self.set_settings(self.path, {'DEBUG': '1'})

    def assertSetRefused(self, settings, names=(DBUS_ERR + 'LimitsExceeded',)):
        before = self.snapshot_files()
        err = self.assertDBusError(names, self.set_settings, self.path, settings)
        self.assertLess(len(err.message), SHORT, err.message[:200])
        self.assertEqual(self.snapshot_files(), before, 'a refused Set changed the state')
        self.assertEqual(self.inspect(self.path)['Settings']['Env'], ['DEBUG=1'])
        return err

    def test_set_huge_value(self):
        # 17 MiB: refused before it is looked at; 65 KiB: refused by Set's own bound
        self.assertSetRefused({'DEBUG': 'x' * (17 * MIB)})
        err = self.assertSetRefused({'DEBUG': 'x' * (65 * 1024)})
        self.assertIn('DEBUG', err.message)
        # the daemon answers, and the plugin comes back as it was after a restart
        self.restart_daemon()
        self.assertEqual(self.get_plugin('test/limits'), self.path)
        self.assertEqual(self.inspect(self.path)['Settings']['Env'], ['DEBUG=1'])

    def test_set_too_many_or_too_long_keys(self):
        self.assertSetRefused({'K%d' % i: '' for i in range(300)})
        self.assertSetRefused({'K' * 1000: ''})
        # a value just under the bound is fine
        self.set_settings(self.path, {'DEBUG': 'y' * (64 * 1024)})
        self.assertEqual(self.inspect(self.path)['Settings']['Env'], ['DEBUG=' + 'y' * (64 * 1024)])


class SetRepeatTests(PlugindTestCase):
    """Attack: Set's pairs are ordered and a key may repeat (issue 10). An unprivileged caller
    repeating one key gains nothing: repeats count towards the 256 pairs, are refused before
    polkit is asked, the polkit "settings" detail names the key once, and what is saved is the
    one last value."""

    polkit_mock = True

    def setUp(self):
        super().setUp()
        self.path, _ = self.create_ok('test/repeat', make_context())
        self.polkit_clear()

    def set_as_nobody(self, pairs):
        args = GLib.Variant('(a(ss)a{sv})', (pairs, {})).print_(True)
        return self.nobody_call(self.path, PLUGIN_IFACE, 'Set', 'a(ss)a{sv}', args)

    def settings_details(self):
        calls = self.polkit_mock_call('GetMethodCalls',
                                      GLib.Variant('(s)', ('CheckAuthorization',)), '(a(tav))')[0]
        return [args[2].get('settings') for _, args in calls]

    def test_repeated_key_as_nobody(self):
        before = self.snapshot_files()
        # past the bound by repeats alone: refused unread, polkit never asked
        _, err = self.set_as_nobody([('DEBUG', 'x')] * 257)
        self.assertEqual(err.name, DBUS_ERR + 'LimitsExceeded')
        self.assertIn('257 settings in one call, more than 256', err.message)
        self.assertEqual(self.polkit_checks(), [])
        # at the bound, denied: nothing changes, and the detail names the key once
        _, err = self.set_as_nobody([('DEBUG', 'x'), ('DEBUG.value', 'y')] * 128)
        self.assertIn(err.name, DENIED)
        self.assertEqual(self.settings_details(), ['DEBUG,DEBUG.value'])
        self.assertEqual(self.snapshot_files(), before)
        # allowed (a site grants set): 256 values of 12 KiB make one value of 12 KiB, the last
        self.polkit_allow(SET_ACTION)
        self.polkit_clear()
        pairs = [('DEBUG', '%03d' % i + 'v' * (12 * 1024)) for i in range(256)]
        _, err = self.set_as_nobody(pairs)
        self.assertIsNone(err)
        self.assertEqual(self.settings_details(), ['DEBUG'])
        self.assertEqual(self.plugin_env(self.path), ['DEBUG=' + pairs[-1][1]])
        record = os.path.join(self.plugin_dir(self.plugin_prop(self.path, 'Id')), 'plugin.json')
        self.assertLess(os.path.getsize(record), 2 * 12 * 1024 + 16 * 1024)
        with open(record) as f:
            self.assertEqual(json.load(f)['user-set'], ['env:DEBUG'])


class ConfigLimitTests(PlugindTestCase):
    """A new plugin's config must stay within the documented sizes."""

    def test_config_too_large(self):
        cases = [
            ('Description', plugin_config(Description='d' * 4097)),
            ('Documentation', plugin_config(Documentation='https://example.com/' + 'd' * 4096)),
            ('Env[0].Description',
             plugin_config(Env=[{'Name': 'DEBUG', 'Description': 'd' * 4097,
                                 'Settable': ['value'], 'Value': '0'}])),
            ('Env', plugin_config(Env=[{'Name': 'E%d' % i, 'Description': '', 'Settable': [],
                                        'Value': ''} for i in range(257)])),
            ('Entrypoint[1]', plugin_config(Entrypoint=['/bin/hello', 'a' * (64 * 1024 + 1)])),
        ]
        for key, config in cases:
            with self.subTest(key=key):
                err, _ = self.create_expect_error(ERR + 'InvalidConfig', 'test/big',
                                                  make_context(config))
                self.assertIn('config: %s ' % key, err.message)
                self.assertLess(len(err.message), SHORT, err.message[:200])
        # the same sizes within the bounds are fine
        self.create_ok('test/big', make_context(plugin_config(
            Description='d' * 4096,
            Entrypoint=['/bin/hello', 'a' * (64 * 1024)],
            Env=[{'Name': 'E%d' % i, 'Description': 'e', 'Settable': ['value'], 'Value': ''}
                 for i in range(256)])))


class ExitStatusTests(PlugindTestCase):
    """How the daemon's exit status tells a service manager whether to restart it."""

    autostart_daemon = False

    def start_daemon_on(self, bus):
        p = self.spawn_daemon(bus=bus)
        self.addCleanup(self.reap, p)
        return p

    @staticmethod
    def reap(p):
        if p.poll() is None:
            p.kill()
        p.wait()

    def wait_exit(self, p, what):
        try:
            return p.wait(30 * TIMEOUT_MULT)
        except subprocess.TimeoutExpired:
            self.fail('plugind did not exit after %s' % what)

    def test_bus_connection_lost_exits_nonzero(self):
        # a bus of its own: this one goes away under the daemon
        bus = _Bus()
        try:
            p = self.start_daemon_on(bus)
            bus.dbus.kill()
            bus.dbus.wait()
            rc = self.wait_exit(p, 'losing its bus')
        finally:
            bus.stop()
        self.assertNotEqual(rc, 0, 'plugind exited 0 after losing its bus connection: a '
                            'service manager would not restart it')

    def test_replace_handover_exits_zero(self):
        old = self.start_daemon_on(self.bus)
        new = self.start_daemon_on(self.bus)
        # the replaced instance leaves quietly, so that it is not restarted against the new one
        self.assertEqual(self.wait_exit(old, 'being replaced'), 0)
        self.assertIsNone(new.poll())
        new.send_signal(signal.SIGTERM)
        self.assertEqual(self.wait_exit(new, 'SIGTERM'), 0)

    def test_sigint_exits_zero(self):
        p = self.start_daemon_on(self.bus)
        p.send_signal(signal.SIGINT)
        self.assertEqual(self.wait_exit(p, 'SIGINT'), 0)


if __name__ == '__main__':
    main()
