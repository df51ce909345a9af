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

import hashlib
import os
import signal
import sys
import tempfile

from gui_session import GuiSession, PolkitAgent
from pd_testcase import BUILDDIR, EXAMPLE_CONTEXT, PRIV_CONFIG, PlugindTestCase, main, opts
from registry_testcase import RegistryTestCase
from test_agent import AdminMixin, on_sigterm

# AT-SPI roles as GTK 4.8 maps its widgets
LABEL = 'label'
SWITCH = 'check box'


class AppMixin(AdminMixin):
    """The app of the administrator AdminMixin makes, for a PlugindTestCase."""

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

    def start_agent(self):
        """polkit's agent for the app's process, as the desktop session would have one."""
        agent = PolkitAgent(self.uid, self.gid, self.bus.dir, self.session.app.pid, self.user)
        self.addCleanup(agent.stop)
        return agent

    def dump_logs(self):
        super().dump_logs()
        if self.session is not None:
            for name in ('app', 'driver', 'at-spi-bus-launcher', 'xvfb', 'session-bus'):
                sys.stderr.write('\n----- %s log -----\n%s----- end -----\n' %
                                 (name, self.session.log(name)))

    def stop_session(self):
        # the logs are read by dump_logs() after the test, the session's dir is gone by then
        self.session.keep_logs()
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

    def start_install(self, remote):
        """Opens the install page, enters remote and looks it up."""
        s = self.start_session()
        s.wait(LABEL, 'No Plugins')
        s.action('push button', 'Install a Plugin', 'click')
        s.set_text('text', 'Plugin reference', remote)
        s.action('push button', 'Look Up', 'click')
        return s

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


class ListTests(AppMixin, PlugindTestCase):

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

    def test_password_granted(self):
        # no rule: polkit asks the agent for the administrator's password, the plugin runs
        self.create_example()
        s = self.start_session()
        agent = self.start_agent()
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        s.action(SWITCH, EXAMPLE_SWITCH, 'toggle')
        agent.expect('Authentication is required to start the plugin ' + EXAMPLE)
        # the switch waits for the answer
        self.assertNotIn('sensitive', s.states(SWITCH, EXAMPLE_SWITCH))
        agent.answer_password(self.password)
        agent.expect('AUTHENTICATION COMPLETE')
        s.wait(LABEL, 'Running', timeout=60, within=EXAMPLE_ROW)
        self.assertIn('checked', s.states(SWITCH, EXAMPLE_SWITCH))
        self.assertNotIn(self.password, agent.read(0))

    def test_password_refused(self):
        # a wrong password: polkit refuses, the app says so in one sentence and goes on
        self.create_example()
        s = self.start_session()
        agent = self.start_agent()
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        s.action(SWITCH, EXAMPLE_SWITCH, 'toggle')
        agent.answer_password(self.password + 'x')
        agent.expect('AUTHENTICATION FAILED')
        s.wait(LABEL, 'You are not allowed to do this.', timeout=30)
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



class InstallTests(AppMixin, RegistryTestCase):

    def test_install_with_consent(self):
        self.push_plugin('test/priv', config=PRIV_CONFIG)
        self.grant('query-remote', 'install', 'install-privileged')
        s = self.start_session()
        s.wait(LABEL, 'No Plugins')
        s.action('push button', 'Install a Plugin', 'click')
        remote = self.remote('test/priv')
        s.set_text('text', 'Plugin reference', remote)
        s.action('push button', 'Look Up', 'click')
        # the privileges in plain words, each risky one called out
        s.wait(LABEL, 'Install %s?' % remote)
        s.wait(LABEL, r'^This plugin asks for access to this computer\.', regex=True)
        privileges = ('list', 'Privileges')
        for words in ('Use this computer’s network directly, with all its connections',
                      'Act with the administrator’s powers CAP_SYS_ADMIN, CAP_NET_ADMIN'):
            s.wait('list item', words, within=privileges)
        s.wait(LABEL, 'Risky: this reaches beyond the plugin’s own files', within=privileges)
        s.screenshot('install-consent')
        s.action(SWITCH, 'Start it after installing', 'toggle')
        s.action('push button', 'Install', 'click')
        s.wait(LABEL, 'Installed', timeout=60)
        s.wait(LABEL, remote)
        s.action('push button', 'Done', 'click')
        # the new plugin is selected in the list
        row = ('list item', remote)
        s.wait(LABEL, 'Disabled', within=row)
        self.assertIn('selected', s.states(*row))

    def test_lookup_error(self):
        # no such repository: one sentence under the field, the page stays for another try
        self.grant('query-remote', 'install')
        s = self.start_install(self.remote('test/missing'))
        s.wait(LABEL, r'^[^\n]*(not found|NAME_UNKNOWN|unknown)[^\n]*$', regex=True)
        s.wait('push button', 'Look Up')
        self.assertIn('sensitive', s.states('push button', 'Look Up'))


class InstallProgressTests(AppMixin, RegistryTestCase):
    registry_kind = 'proxy'

    def test_progress_and_cancel(self):
        _, _, blobs = self.push_plugin('test/slow', files={'big': (os.urandom(96 * 1024), 0o644)})
        layer = 'sha256:' + hashlib.sha256(blobs[0]).hexdigest()
        # about 10 KiB/s: 10 s unless cancelled
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'trickle', count=None, chunk=1024,
                             delay=0.1)
        self.grant('query-remote', 'install')
        s = self.start_install(self.remote('test/slow'))
        # no privileges asked for: said so, and the button is the ordinary one
        s.wait(LABEL, 'This plugin asks for no access to this computer beyond its own files.')
        s.action(SWITCH, 'Start it after installing', 'toggle')
        s.action('push button', 'Install', 'click')
        # one row per layer, with what it does and how far it is; the rate of the whole
        row = ('list item', 'Layer ' + layer[len('sha256:'):][:12])
        s.wait(LABEL, r'^Downloading — .* of ', regex=True, within=row)
        s.wait(LABEL, r'^[0-9.]+\s\S+ of [0-9.]+\s\S+, [0-9.]+\s\S+/s$', regex=True)
        s.wait(LABEL, 'Downloading…')
        s.screenshot('install-progress')
        s.action('push button', 'Cancel', 'click')
        s.wait(LABEL, 'Cancelled', timeout=30)
        s.wait(LABEL, 'The plugin was not installed; nothing changed.')
        s.action('push button', 'Done', 'click')
        s.wait(LABEL, 'No Plugins')


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, on_sigterm)
    main()
