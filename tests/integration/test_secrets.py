#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What other local users can read: env values and args (where passwords go) and the output of
plugins reach no property, signal, job result or method error that anyone may read; Inspect
shows the values to root and to callers polkit allows read-settings without a prompt; an
Upgrade that changes settings needs an action a grant of upgrade alone does not cover."""

import json
import os
import uuid

from gi.repository import Gio, GLib

from pd_testcase import (BUILDDIR, BUS_NAME, DENIED, ERR, JOB_IFACE, PLUGIN_IFACE, PROPS_IFACE,
                         ROOT_PATH, TIMEOUT_MULT, DBusError, PlugindTestCase, main, make_context,
                         opts, plugin_config, settings_pairs)
from registry_testcase import RegistryTestCase

READ_SETTINGS = 'org.plugind.plugind1.read-settings'
UPGRADE = 'org.plugind.plugind1.upgrade'
UPGRADE_WITH_SETTINGS = 'org.plugind.plugind1.upgrade-with-settings'
# polkit's CheckAuthorizationFlags
ALLOW_USER_INTERACTION = 1

SECRET_ENV = 'env-s3cret-7f1c0d'
SECRET_ARG = 'arg-s3cret-9a2e4b'
HIDDEN = '<hidden>'

MOUNT_SOURCE = '/srv/visible-source'
SECRETS_CONFIG = plugin_config(
    Mounts=[{'Name': 'data', 'Description': 'data dir', 'Settable': ['source'],
             'Source': MOUNT_SOURCE, 'Destination': '/data', 'Type': 'bind',
             'Options': ['rbind']}])


def read_to_end(fd):
    out = b''
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return out
        out += chunk


def runner_plugin_files(test):
    """The runner's test plugin (tests/runner-plugin.c) under a name of this test's own."""
    with open(os.path.join(BUILDDIR, 'tests', 'runner-plugin'), 'rb') as f:
        binary = f.read()
    test.plugin_binary = 'runner-plugin-' + uuid.uuid4().hex[:12]
    return {test.plugin_binary: (binary, 0o755)}


class SecretsMixin:

    def assertNoSecret(self, data, what, secrets=(SECRET_ENV, SECRET_ARG)):
        text = data if isinstance(data, str) else json.dumps(data)
        for secret in secrets:
            self.assertNotIn(secret, text, '%s shows a secret: %s' % (what, text[:2000]))

    def assertHiddenInspect(self, doc, n_args):
        self.assertEqual(doc['Settings']['Env'], ['DEBUG=' + HIDDEN])
        self.assertEqual(doc['Settings']['Args'], [HIDDEN] * n_args)
        # mount sources are privileges, not secrets
        self.assertEqual([m['Source'] for m in doc['Settings']['Mounts']], [MOUNT_SOURCE])
        # the rest of Docker's object is there, and plugind's State
        self.assertEqual(set(doc), {'Id', 'Name', 'Enabled', 'PluginReference', 'Settings',
                                    'Config', 'State'})

    def assertShownInspect(self, doc):
        self.assertEqual(doc['Settings']['Env'], ['DEBUG=' + SECRET_ENV])
        self.assertEqual(doc['Settings']['Args'], ['--password', SECRET_ARG])


class PropertyTests(SecretsMixin, PlugindTestCase):
    """The real polkitd: nobody reads names, never values."""

    def setUp(self):
        super().setUp()
        self.path, _ = self.create_ok('test/secrets', make_context(SECRETS_CONFIG),
                                      options=opts(grant_all_privileges=True))
        self.set_settings(self.path, {'DEBUG': SECRET_ENV, 'args': '--password ' + SECRET_ARG})

    def test_nobody_reads_no_values_in_properties(self):
        props = self.assertNobodyAllowed(self.path, PROPS_IFACE, 'GetAll', 's',
                                         "('%s',)" % PLUGIN_IFACE)[0]
        self.assertNoSecret(props, 'GetAll')
        self.assertEqual(props['Env'], ['DEBUG'])
        self.assertNotIn('Args', props)
        settings = {s[0]: s for s in props['Settings']}
        self.assertEqual(settings['DEBUG'], ['DEBUG', 'env', 'debug level', '', True])
        self.assertEqual(settings['args'], ['args', 'args', 'extra arguments', '', True])
        self.assertEqual(settings['data'], ['data', 'mount', 'data dir', MOUNT_SOURCE, True])
        env = self.assertNobodyAllowed(self.path, PROPS_IFACE, 'Get', 'ss',
                                       "('%s', 'Env')" % PLUGIN_IFACE)[0]
        self.assertEqual(env, ['DEBUG'])
        # the property is gone: whatever the answer, no value
        result, err = self.nobody_call(self.path, PROPS_IFACE, 'Get', 'ss',
                                       "('%s', 'Args')" % PLUGIN_IFACE)
        self.assertNoSecret([result, str(err)], 'Get Args')
        objs = self.assertNobodyAllowed(ROOT_PATH, 'org.freedesktop.DBus.ObjectManager',
                                        'GetManagedObjects')[0]
        self.assertEqual(objs[self.path][PLUGIN_IFACE]['Env'], ['DEBUG'])
        self.assertNoSecret(objs, 'GetManagedObjects')

    def test_nobody_inspect_hides_values(self):
        for interactive in (False, True):
            with self.subTest(interactive=interactive):
                doc = self.assertNobodyAllowed(self.path, PLUGIN_IFACE, 'Inspect',
                                               interactive=interactive)[0]
                self.assertNoSecret(doc, 'Inspect')
                self.assertHiddenInspect(json.loads(doc), 2)
        # root sees them, with no polkit call
        self.assertShownInspect(self.inspect(self.path))
        self.assertEqual(self.setting_values(self.path),
                         (['DEBUG=' + SECRET_ENV], ['--password', SECRET_ARG]))

    def test_nobody_broadcast_carries_no_values(self):
        new_env, new_arg = SECRET_ENV + '-new', SECRET_ARG + '-new'
        with self.nobody_listening(('PluginEvent', 'set')) as seen:
            self.set_settings(self.path, {'DEBUG': new_env, 'args': new_arg})
        changed = [s for s in seen if s[0] == self.path and s[2] == 'PropertiesChanged']
        self.assertTrue(changed, 'nobody saw no PropertiesChanged: %r' % seen)
        self.assertNoSecret(seen, 'the signals after Set', (new_env, new_arg))
        self.assertEqual(self.setting_values(self.path), (['DEBUG=' + new_env], [new_arg]))


class ProcTests(SecretsMixin, PlugindTestCase):
    """While a plugin runs, nobody finds its env values in /proc: bwrap gets them through an fd,
    not on its command line, and the plugin's environment is readable by root only. (Its args
    are on its own command line, as any program's.)"""

    def test_nobody_finds_env_values_in_proc(self):
        files = runner_plugin_files(self)
        config = plugin_config(
            Entrypoint=['/' + self.plugin_binary, 'normal', 'runner.sock'],
            Interface={'Types': ['docker.volumedriver/1.0'], 'Socket': 'runner.sock'})
        path, _ = self.create_ok('test/proc', make_context(config, files=files))
        self.set_settings(path, {'DEBUG': SECRET_ENV})
        self.call(path, PLUGIN_IFACE, 'Enable', GLib.Variant('(a{sv})', ({},)),
                  timeout_ms=60000 * TIMEOUT_MULT)
        pid = self.plugin_prop(path, 'MainPID')
        with open('/proc/%d/environ' % pid, 'rb') as f:
            self.assertIn(('DEBUG=' + SECRET_ENV).encode(), f.read().split(b'\0'))
        p = self.run_as_nobody(
            ['sh', '-c', 'cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null; true'],
            check=True)
        self.assertNoSecret(p.stdout.decode(errors='replace'), '/proc, read by nobody',
                            (SECRET_ENV,))
        self.call(path, PLUGIN_IFACE, 'Disable', GLib.Variant('(a{sv})', ({},)),
                  timeout_ms=60000 * TIMEOUT_MULT)


class PluginOutputTests(SecretsMixin, RegistryTestCase):
    """A plugin that prints its env and args, then fails while starting: its output is in its
    log, and in nothing else anyone can read."""

    def test_output_stays_in_the_log(self):
        files = runner_plugin_files(self)
        config = plugin_config(
            Entrypoint=['/' + self.plugin_binary, 'printenv', 'runner.sock'],
            Interface={'Types': ['docker.volumedriver/1.0'], 'Socket': 'runner.sock'},
            Args={'Name': 'args', 'Description': '', 'Settable': ['value'], 'Value': []})
        self.push_plugin('test/leaky', 'v1', config=config, files=files)
        settings = GLib.Variant('a(ss)', [('DEBUG', SECRET_ENV), ('args', SECRET_ARG)])
        with self.nobody_listening(('Completed', 'failed')) as seen:
            job = self.pull(self.remote('test/leaky', 'v1'), 'test/leaky', (),
                            dict(self.auth_options(), enable=GLib.Variant('b', True),
                                 settings=settings))
            try:
                self.wait_job(job)
                self.fail('the plugin started')
            except DBusError as e:
                self.assertEqual(e.name, ERR + 'ActivationFailed')
                self.assertNoSecret(e.message, 'the job error')
                self.assertIn('log', e.message)
        self.assertNoSecret(seen, "the signals nobody saw")
        self.assertNoSecret(self.get_all(job, JOB_IFACE), 'the job properties')
        self.assertNoSecret([s for s in self.signals_named('Completed')], 'Completed')
        self.assertNoSecret([s for s in self.signals if s[0] == job], 'the job signals')
        path = self.get_plugin('test/leaky')
        props = self.assertNobodyAllowed(path, PROPS_IFACE, 'GetAll', 's',
                                         "('%s',)" % PLUGIN_IFACE)[0]
        self.assertEqual(props['State'], 'failed')
        self.assertNotEqual(props['LastErrorMessage'], '')
        self.assertNoSecret(props, 'the plugin properties')
        # Enable's own error
        e = self.assertDBusError(ERR + 'ActivationFailed', self.call, path, PLUGIN_IFACE,
                                 'Enable', GLib.Variant('(a{sv})', ({},)),
                                 timeout_ms=60000 * TIMEOUT_MULT)
        self.assertNoSecret(e.message, 'the Enable error')
        self.assertNoSecret(self.plugin_prop(path, 'LastErrorMessage'), 'LastErrorMessage')
        # the output is in the log, for whoever read-logs allows
        res, fdl = self.conn.call_with_unix_fd_list_sync(
            BUS_NAME, path, PLUGIN_IFACE, 'OpenLog',
            GLib.Variant('(a{sv})', ({},)), GLib.VariantType('(h)'), Gio.DBusCallFlags.NONE,
            30000 * TIMEOUT_MULT, None, None)
        fd = fdl.steal_fds()[res.unpack()[0]]
        try:
            log = read_to_end(fd).decode(errors='replace')
        finally:
            os.close(fd)
        self.assertIn('env DEBUG=' + SECRET_ENV, log)
        self.assertIn('arg ' + SECRET_ARG, log)


class GrantTests(SecretsMixin, RegistryTestCase):
    """python-dbusmock's polkitd grants chosen actions to nobody; it logs every check with its
    flags, so that the test sees which action was asked and whether a prompt was allowed."""

    polkit_mock = True
    registry_kind = 'proxy'

    def setUp(self):
        super().setUp()
        self.push_plugin('test/granted', 'v1', config=SECRETS_CONFIG)
        self.push_plugin('test/granted', 'v2',
                         config=dict(SECRETS_CONFIG, Description='version 2'))
        settings = GLib.Variant('a(ss)', [('DEBUG', SECRET_ENV),
                                          ('args', '--password ' + SECRET_ARG)])
        self.path, _ = self.pull_ok(self.remote('test/granted', 'v1'), 'test/granted',
                                    [('mount', '', [MOUNT_SOURCE])],
                                    dict(self.auth_options(), settings=settings))
        self.polkit_clear()

    def test_read_settings_grant(self):
        # not granted: hidden, asked once without a prompt even when the caller allows one
        doc = self.assertNobodyAllowed(self.path, PLUGIN_IFACE, 'Inspect', interactive=True)[0]
        self.assertHiddenInspect(json.loads(doc), 2)
        self.assertEqual(self.polkit_checks(), [(READ_SETTINGS, 0)])
        self.assertNobodyDenied(self.path, PLUGIN_IFACE, 'GetSettingValues', 'a{sv}',
                                '(@a{sv} {},)')
        # granted: shown, still never with a prompt
        self.polkit_allow(READ_SETTINGS)
        self.polkit_clear()
        doc = self.assertNobodyAllowed(self.path, PLUGIN_IFACE, 'Inspect', interactive=True)[0]
        self.assertShownInspect(json.loads(doc))
        self.assertEqual(self.polkit_checks(), [(READ_SETTINGS, 0)])
        # the explicit request may prompt when the caller says so
        self.polkit_clear()
        env, args = self.assertNobodyAllowed(self.path, PLUGIN_IFACE, 'GetSettingValues',
                                             'a{sv}', "({'interactive': <true>},)")
        self.assertEqual((env, args), (['DEBUG=' + SECRET_ENV], ['--password', SECRET_ARG]))
        self.assertEqual(self.polkit_checks(), [(READ_SETTINGS, ALLOW_USER_INTERACTION)])

    def upgrade_as_nobody(self, settings):
        args = "('%s', [('mount', '', ['%s'])], {'settings': <%s>})" % (
            self.remote('test/granted', 'v2'), MOUNT_SOURCE,
            GLib.Variant('a(ss)', settings_pairs(settings)).print_(True))
        return self.nobody_call(self.path, PLUGIN_IFACE, 'Upgrade', 'sa(ssas)a{sv}', args,
                                reply='(o)')

    def test_upgrade_with_settings_needs_its_action(self):
        # a grant of upgrade alone: settings do not get through, and nothing is fetched
        self.polkit_allow(UPGRADE)
        self.proxy.requests.clear()
        jobs = self.list_jobs()
        _, err = self.upgrade_as_nobody({'DEBUG': 'changed'})
        self.assertIsNotNone(err, 'Upgrade with settings was allowed with upgrade alone')
        self.assertIn(err.name, DENIED)
        self.assertEqual(self.polkit_checks(), [(UPGRADE_WITH_SETTINGS, 0)])
        self.assertEqual(self.proxy.requests, [], 'a denied Upgrade reached the registry')
        self.assertEqual(self.list_jobs(), jobs)
        self.assertEqual(self.plugin_env(self.path), ['DEBUG=' + SECRET_ENV])
        # the action of its own: one check, and the settings apply
        self.polkit_allow(UPGRADE_WITH_SETTINGS)
        self.polkit_clear()
        result, err = self.upgrade_as_nobody({'DEBUG': 'changed'})
        self.assertIsNone(err)
        self.assertEqual(self.polkit_checks(), [(UPGRADE_WITH_SETTINGS, 0)])
        self.wait_job(result[0])
        self.assertEqual(self.plugin_prop(self.path, 'Description'), 'version 2')
        self.assertEqual(self.plugin_env(self.path), ['DEBUG=changed'])
        # and without settings, upgrade is all it takes
        self.polkit_allow(UPGRADE)
        self.polkit_clear()
        args = "('%s', [('mount', '', ['%s'])], @a{sv} {})" % (
            self.remote('test/granted', 'v1'), MOUNT_SOURCE)
        result, err = self.nobody_call(self.path, PLUGIN_IFACE, 'Upgrade', 'sa(ssas)a{sv}', args,
                                       reply='(o)')
        self.assertIsNone(err)
        self.assertEqual(self.polkit_checks(), [(UPGRADE, 0)])
        self.wait_job(result[0])
        self.assertEqual(self.plugin_prop(self.path, 'Description'), 'A test plugin')


if __name__ == '__main__':
    main()
