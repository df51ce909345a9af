#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The desktop app (src/app/, plugind-plugins) as a user meets it: run as an unprivileged
user with a password on an X server of its own, against the real daemon, polkitd and
registry, driven through its accessibility tree (gui_session.py, atspi_driver.py). Every state
asserted is read from what the app shows: accessible names and text.

Its own meson suite ('gui'): run once per test command, never under ASan or valgrind.
Screenshots of the main views go to PLUGIND_SCREENSHOTS (default: test-screenshots/ in the
build dir); docs/ has the chosen ones.
"""

import os
import signal
import tempfile

from gui_session import GuiSession
from pd_testcase import BUILDDIR, EXAMPLE_CONTEXT, PlugindTestCase, main, opts
from test_agent import AdminMixin, on_sigterm

# AT-SPI roles as GTK 4.8 maps its widgets
LABEL = 'label'
SWITCH = 'check box'


class AppTestCase(AdminMixin, PlugindTestCase):
    """The app of the administrator AdminMixin makes, with the example plugin installed."""

    def setUp(self):
        super().setUp()
        self.session = None

    def start_session(self):
        shots = os.environ.get('PLUGIND_SCREENSHOTS') or os.path.join(BUILDDIR, 'test-screenshots')
        os.makedirs(shots, exist_ok=True)
        self.session = GuiSession(self.uid, self.gid, self.bus.address, shots)
        self.addCleanup(self.stop_session)
        self.session.start()
        self.session.start_app()
        return self.session

    def stop_session(self):
        leftovers = self.session.stop()
        self.assertEqual(leftovers, [], 'the desktop session left these behind')

    def grant(self, *operations):
        """A polkit rule letting the test's user do operations without a password (it has no
        session, where the policy asks an administrator's password for nearly everything)."""
        actions = ', '.join('"org.plugind.plugind1.%s"' % op for op in operations)
        self.add_polkit_rule(self.user, 'polkit.addRule(function(action, subject) {\n'
                             '    if (subject.user == "%s" && [%s].indexOf(action.id) >= 0)\n'
                             '        return polkit.Result.YES;\n'
                             '    return polkit.Result.NOT_HANDLED;\n'
                             '});\n' % (self.user, actions))

    def create_example(self):
        with open(EXAMPLE_CONTEXT, 'rb') as f:
            context = f.read()
        path, res = self.create_ok('plugind/example', context,
                                   options=opts(grant_all_privileges=True))
        data_dir = tempfile.mkdtemp(prefix='example-data-', dir=self.tmpdir)
        self.set_settings(path, {'data': data_dir})
        return path


EXAMPLE = 'plugind/example:latest'
EXAMPLE_ROW = ('list item', EXAMPLE)
EXAMPLE_SWITCH = 'Enable ' + EXAMPLE


class ListTests(AppTestCase):

    def test_toggle_runs_plugin(self):
        self.create_example()
        self.grant('enable', 'disable')
        s = self.start_session()
        s.wait(LABEL, 'plugind example volume plugin', within=EXAMPLE_ROW)
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        self.assertNotIn('checked', s.states(SWITCH, EXAMPLE_SWITCH))
        s.action(SWITCH, EXAMPLE_SWITCH, 'toggle')
        s.wait(LABEL, 'Running', timeout=60, within=EXAMPLE_ROW)
        self.assertIn('checked', s.states(SWITCH, EXAMPLE_SWITCH))
        s.screenshot('list')
        s.action(SWITCH, EXAMPLE_SWITCH, 'toggle')
        s.wait(LABEL, 'Disabled', timeout=60, within=EXAMPLE_ROW)
        self.assertNotIn('checked', s.states(SWITCH, EXAMPLE_SWITCH))

    def test_failure_and_reason(self):
        # the example's data mount names a dir that does not exist: its sandbox cannot start
        path = self.create_example()
        missing = os.path.join(self.tmpdir, 'missing-data')
        self.set_settings(path, {'data': missing})
        self.grant('enable', 'disable')
        s = self.start_session()
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        s.action(SWITCH, EXAMPLE_SWITCH, 'toggle')
        s.wait(LABEL, 'Failed', timeout=60, within=EXAMPLE_ROW)
        # the reason under the description, and the call's error in one sentence
        reason = r'mount source %s: No such file or directory' % missing
        s.wait(LABEL, 'plugind example volume plugin\n' + reason, within=EXAMPLE_ROW)
        s.wait(LABEL, r'^[^\n]*%s[^\n]*$' % reason, regex=True)
        s.screenshot('failed')
        self.assertNotIn('checked', s.states(SWITCH, EXAMPLE_SWITCH))

    def test_refused(self):
        # no rule, no agent: polkit refuses; the app says so and the switch stays off
        self.create_example()
        s = self.start_session()
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        s.action(SWITCH, EXAMPLE_SWITCH, 'toggle')
        s.wait(LABEL, 'You are not allowed to do this.')
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        self.assertNotIn('checked', s.states(SWITCH, EXAMPLE_SWITCH))
        self.assertIn('sensitive', s.states(SWITCH, EXAMPLE_SWITCH))

    def test_live_list(self):
        # every change comes from the daemon's signals: a plugin added and removed behind
        # the app's back, the daemon stopped and started again
        s = self.start_session()
        s.wait(LABEL, 'No Plugins')
        s.wait(LABEL, r'pluginctl install', regex=True)
        s.screenshot('empty')
        path = self.create_example()
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        s.gone(LABEL, 'No Plugins')
        self.stop_daemon()
        s.wait(LABEL, 'The Plugin Service Is Not Running')
        s.gone('list item', EXAMPLE)
        self.start_daemon()
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        self.remove(path)
        s.wait(LABEL, 'No Plugins')
        s.gone('list item', EXAMPLE)


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, on_sigterm)
    main()
