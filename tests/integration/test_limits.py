#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bounds on what callers, configs and settings can make large, and the daemon's exit status:
no input makes a reply or a signal too large for the bus, and the daemon exits non-zero
whenever it stops for another reason than SIGTERM, SIGINT or a --replace handover.
"""

import signal
import subprocess

from pd_testcase import (BUS_NAME, DBUS_ERR, ERR, MANAGER_IFACE, MANAGER_PATH, PLUGIN_IFACE,
                         TIMEOUT_MULT, GLib, PlugindTestCase, _Bus, main, make_context,
                         plugin_config)
from test_run import RunTestCase

MIB = 1024 * 1024
# what a caller gets back may quote its input, but only a short piece of it
SHORT = 1024


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
