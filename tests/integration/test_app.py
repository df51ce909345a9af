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
import time

from gui_session import GuiSession, PolkitAgent
from pd_testcase import (BUILDDIR, EXAMPLE_CONTEXT, PRIV_CONFIG, PlugindTestCase, main, opts,
                         plugin_call)
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

    def start_session(self, dark=False):
        shots = os.environ.get('PLUGIND_SCREENSHOTS') or os.path.join(BUILDDIR, 'test-screenshots')
        os.makedirs(shots, exist_ok=True)
        self.assertIsNone(self.session, 'one desktop session a test')
        self.session = GuiSession(self.uid, self.gid, self.bus.address, shots)
        self.addCleanup(self.stop_session, self.session)
        self.session.start()
        # libadwaita's dark style, as a desktop that prefers it would ask for
        self.session.start_app({'ADW_DEBUG_COLOR_SCHEME': 'prefer-dark'} if dark else None)
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

    def stop_session(self, session):
        # the logs are read by dump_logs() after the test, the session's dir is gone by then
        session.keep_logs()
        leftovers = session.stop()
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

    def wait_sensitive(self, s, role, name, timeout=20):
        deadline = time.monotonic() + timeout
        while 'sensitive' not in s.states(role, name):
            self.assertLess(time.monotonic(), deadline, '%s %r stays insensitive' % (role, name))
            time.sleep(0.1)

    def wait_text(self, s, role, name, needle, timeout=20):
        deadline = time.monotonic() + timeout
        while needle not in s.text(role, name):
            self.assertLess(time.monotonic(), deadline, '%s %r never showed %r: %r' %
                            (role, name, needle, s.text(role, name)))
            time.sleep(0.1)

    def create_example(self):
        with open(EXAMPLE_CONTEXT, 'rb') as f:
            context = f.read()
        path, res = self.create_ok('plugind/example', context,
                                   options=opts(grant_all_privileges=True))
        self.data_dir = tempfile.mkdtemp(prefix='example-data-', dir=self.tmpdir)
        self.set_settings(path, {'data': self.data_dir})
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
        s = self.start_session(dark=True)
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        s.action(SWITCH, EXAMPLE_SWITCH, 'toggle')
        s.wait(LABEL, 'Failed', timeout=60, within=EXAMPLE_ROW)
        # the reason under the description, and the call's error in one sentence
        reason = r'mount source %s: No such file or directory' % missing
        s.wait(LABEL, 'plugind example volume plugin\n' + reason, within=EXAMPLE_ROW)
        s.wait(LABEL, r'^[^\n]*%s[^\n]*$' % reason, regex=True)
        s.screenshot('failed-dark')
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
        # no rule: polkit asks the agent for the administrator's password, the plugin runs;
        # with another administrator on the machine, the agent picks the test's user
        self.add_admin('b', 'another admin')
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

    def test_details(self):
        path = self.create_example()
        self.set_settings(path, {'DEBUG': 's3cret-7'})
        self.grant('set', 'enable', 'disable', 'read-logs')
        s = self.start_session()
        s.wait(LABEL, 'Disabled', within=EXAMPLE_ROW)
        s.action('push button', 'Open ' + EXAMPLE, 'click')
        # state, privileges in plain words, holders
        s.wait('list item', 'Disabled', within=('list', 'Status'))
        privileges = ('list', 'Privileges Granted')
        s.wait('list item', 'Act with the administrator’s powers CAP_SYS_ADMIN',
               within=privileges)
        s.wait('list item', r'^Read and change the files in /tmp/.*/example-data-', regex=True,
               within=privileges)
        s.wait('list item', 'Nothing holds it: it may be stopped and removed',
               within=('list', 'Held By'))
        s.screenshot('details')
        # values stay hidden; asking to read them is refused without a password
        debug = 'DEBUG — Set to 1 to log every request to stderr'
        data = 'data — Host directory that holds the volumes, one directory each under volumes/'
        self.assertEqual(s.description('text', debug), 'Value hidden')
        s.action('push button', 'Show Values', 'click')
        s.wait(LABEL, 'You are not allowed to do this.')
        self.assertEqual(s.description('text', debug), 'Value hidden')
        self.assertNotIn('s3cret-7', str(s.shown()))
        # checked as the daemon checks it, before any call that changes something
        s.set_text('text', data, 'relative')
        s.wait(LABEL, r'mount source "relative" must be an absolute path', regex=True)
        self.assertNotIn('sensitive', s.states('push button', 'Apply'))
        s.screenshot('details-invalid')
        # a folder chooser for the mount source
        s.action('push button', 'Choose a folder for data', 'click')
        # GTK's own dialog: its buttons keep GTK 4.8's doubled names
        s.wait('push button', r'^(_Choose )?Choose$', regex=True)
        s.action('push button', r'^(_Cancel )?Cancel$', 'click', regex=True)
        s.gone('push button', r'^(_Choose )?Choose$', regex=True)
        # the env var and the mount back, in one call
        s.set_text('text', data, self.data_dir)
        s.set_text('text', debug, '1')
        s.gone(LABEL, r'mount source', regex=True)
        s.wait('push button', 'Apply')
        self.wait_sensitive(s, 'push button', 'Apply')
        s.action('push button', 'Apply', 'click')
        s.wait(LABEL, 'Settings saved')
        self.assertEqual(s.description('text', debug), '1')
        self.assertEqual(s.description('text', data), self.data_dir)
        # its log, followed: what the plugin writes as it runs comes in
        s.action('push button', 'Back', 'click')
        s.action(SWITCH, EXAMPLE_SWITCH, 'toggle')
        s.wait(LABEL, 'Running', timeout=60, within=EXAMPLE_ROW)
        s.action('push button', 'Open ' + EXAMPLE, 'click')
        s.wait('list item', 'Running', within=('list', 'Status'))
        s.action('push button', 'Show the Log', 'click')
        self.wait_text(s, 'text', 'The plugin’s output', 'POST /Plugin.Activate')
        sock = self.plugin_prop(self.get_plugin(EXAMPLE), 'Socket')
        plugin_call(sock, 'VolumeDriver.Create', {'Name': 'followed', 'Opts': {}})
        self.wait_text(s, 'text', 'The plugin’s output', 'created "followed"')

    def test_remove_with_password(self):
        # remove from the details page, after its question, with the administrator's password
        self.create_example()
        s = self.start_session()
        agent = self.start_agent()
        s.action('push button', 'Open ' + EXAMPLE, 'click')
        s.action('push button', 'Remove…', 'click')
        s.wait(LABEL, 'Remove %s?' % EXAMPLE)
        s.wait(LABEL, 'Its settings and its log go with it.')
        s.action('push button', r'^(_Remove )?Remove$', 'click', regex=True)
        agent.expect('Authentication is required to remove the plugin ' + EXAMPLE)
        agent.answer_password(self.password)
        # back on the list, which is empty now
        s.wait(LABEL, 'No Plugins', timeout=30)

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

    def test_upgrade(self):
        self.push_plugin('test/up', 'v1')
        self.push_plugin('test/up', 'v2', files={'v2': (b'2', 0o644)})
        self.pull_ok(self.remote('test/up', 'v1'), 'test/up')
        self.grant('query-remote', 'upgrade')
        s = self.start_session()
        s.action('push button', 'Open test/up:latest', 'click')
        s.wait(LABEL, self.remote('test/up', 'v1'), within=('list', 'Status'))
        s.action('push button', 'Upgrade…', 'click')
        s.set_text('text', 'Plugin reference', self.remote('test/up', 'v2'))
        s.action('push button', 'Look Up', 'click')
        s.wait(LABEL, 'Upgrade to %s?' % self.remote('test/up', 'v2'))
        s.wait(LABEL, 'This plugin asks for no access to this computer beyond its own files.')
        s.action('push button', 'Upgrade', 'click')
        s.wait(LABEL, 'Upgraded', timeout=60)
        s.action('push button', 'Done', 'click')
        # back on its page, which shows where it comes from now
        s.wait(LABEL, self.remote('test/up', 'v2'), within=('list', 'Status'))

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
