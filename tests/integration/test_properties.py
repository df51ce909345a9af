#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every property does what its EmitsChangedSignal annotation in data/*.xml says: real actions
(pull, set, enable, hold, a crash, upgrade, a failed pull) change each non-constant property,
and each change comes with a PropertiesChanged carrying the value a Get returns; constant
properties never change; "false" ones are never sent."""

import os
import signal
import xml.etree.ElementTree as ET

from gi.repository import GLib

from pd_testcase import (BUS_NAME, BUILDDIR, DBUS_ERR, ERR, JOB_IFACE, MANAGER_IFACE,
                         MANAGER_PATH, PLUGIN_IFACE, PROPS_IFACE, SRCDIR, DBusError,
                         PlugindTestCase, main, make_context, opts, plugin_config)
from registry_testcase import RegistryTestCase, sha256_digest

ANNOTATION = 'org.freedesktop.DBus.Property.EmitsChangedSignal'
RUNNER = os.path.join(BUILDDIR, 'tests', 'runner-plugin')


def annotations(iface):
    """{property: 'true' | 'const' | 'false' | 'invalidates'} of an interface's XML."""
    root = ET.parse(os.path.join(SRCDIR, 'data', iface + '.xml')).getroot()
    out = {}
    for prop in root.iter('property'):
        values = [a.get('value') for a in prop.findall('annotation') if a.get('name') == ANNOTATION]
        out[prop.get('name')] = values[0] if values else None
    return out


def runner_config(**overrides):
    cfg = plugin_config(Entrypoint=['/runner-plugin', 'normal', 'runner.sock'],
                        Interface={'Types': ['docker.volumedriver/1.0'], 'Socket': 'runner.sock'},
                        Mounts=[{'Name': 'data', 'Description': '', 'Settable': ['source'],
                                 'Source': '/etc', 'Destination': '/data', 'Type': 'bind',
                                 'Options': ['rbind', 'ro']}])
    cfg.update(overrides)
    return cfg


class ChangeSignalTests(RegistryTestCase):
    # a slow layer download gives the first job a Rate and an ExpectedEndTime
    registry_kind = 'proxy'

    def changes(self, path, iface):
        """[(changed dict, invalidated list)] of the PropertiesChanged of one object."""
        self.iterate()
        return [(s[3][1], s[3][2]) for s in self.signals
                if s[0] == path and s[2] == 'PropertiesChanged' and s[3][0] == iface]

    def kinds_of(self, iface, kind):
        return {n for n, k in annotations(iface).items() if k == kind}

    def check_object(self, path, iface):
        """Checks the signals of one object against its annotations: only "true" properties
        are sent, never as invalidated, the last value sent is what Get returns, and "const"
        ones still have the value the object appeared with. Returns the names sent."""
        kinds = annotations(iface)
        self.assertTrue(all(k in ('true', 'const', 'false') for k in kinds.values()),
                        'every property is annotated: %r' % kinds)
        first = [s[3][1][iface] for s in self.signals_named('InterfacesAdded')
                 if s[3][0] == path and iface in s[3][1]][0]
        sent = {}
        for changed, invalidated in self.changes(path, iface):
            self.assertEqual(invalidated, [], 'no property uses invalidates')
            for name, value in changed.items():
                self.assertEqual(kinds.get(name), 'true',
                                 '%s.%s (%s) was sent' % (iface, name, kinds.get(name)))
                sent[name] = value
        now = self.get_all(path, iface)
        for name, kind in kinds.items():
            if kind == 'const':
                self.assertEqual(now[name], first[name], '%s.%s is const' % (iface, name))
            if name in sent:
                self.assertEqual(sent[name], now[name], '%s.%s: the last signal' % (iface, name))
        return set(sent)

    def test_every_property_keeps_its_annotation(self):
        with open(RUNNER, 'rb') as f:
            files = {'runner-plugin': (f.read(), 0o755)}
        _, _, layers = self.push_plugin('test/props', 'v1', config=runner_config(), files=files)
        self.proxy.add_fault('GET', '/blobs/' + sha256_digest(layers[0]), 'trickle', chunk=16384,
                             delay=0.05)
        self.push_plugin('test/props', 'v2', files=files, config=runner_config(
            Description='version 2', Documentation='https://example.com/v2',
            Interface={'Types': ['docker.volumedriver/1.0', 'docker.authz/1.0'],
                       'Socket': 'runner.sock', 'ProtocolScheme': 'moby.plugins.http/v1'},
            Env=[{'Name': 'DEBUG', 'Description': '', 'Settable': ['value'], 'Value': '0'},
                 {'Name': 'LEVEL', 'Description': '', 'Settable': ['value'], 'Value': '1'}]))
        manager_before = self.get_all(MANAGER_PATH, MANAGER_IFACE)
        grant = opts(grant_all_privileges=True)

        # Job: the pull's job while it installs the plugin, then "/"
        job = self.pull(self.remote('test/props', 'v1'), 'test/props', options=grant)
        plugin = self.wait_job(job)['plugin']
        added = [s[3][1] for s in self.signals_named('InterfacesAdded') if s[3][0] == plugin]
        self.assertEqual(added[0][PLUGIN_IFACE]['Job'], job)
        self.wait_until(lambda: self.plugin_prop(plugin, 'Job') == '/', msg='Job back to /')

        self.set_settings(plugin, {'DEBUG': '1', 'data.source': '/usr'})
        self.enable(plugin)
        fd = self.call_with_fd_reply(plugin, 'Hold', GLib.Variant('(ss)', ('test', 'props')))
        # released only once the hold was sent: a change undone before the next flush is
        # rightly never sent
        self.wait_until(lambda: any(c.get('Holders') for c, _ in
                                    self.changes(plugin, PLUGIN_IFACE)), msg='Holders sent')
        os.close(fd)
        self.wait_until(lambda: self.plugin_prop(plugin, 'Holders') == [], msg='released')
        # a crash: the restart count and the last error
        os.kill(self.plugin_prop(plugin, 'MainPID'), signal.SIGKILL)
        self.wait_until(lambda: self.plugin_prop(plugin, 'RestartCount') == 1 and
                        self.plugin_prop(plugin, 'State') == 'running', msg='restarted')
        self.assertEqual(self.plugin_prop(plugin, 'LastErrorName'), ERR + 'PluginCrashed')
        self.disable(plugin)
        # a slow manifest keeps the upgrade's job on the plugin across a flush of its properties
        self.proxy.add_fault('GET', '/manifests/v2$', 'trickle', chunk=128, delay=0.05)
        upgrade = self.upgrade(plugin, self.remote('test/props', 'v2'), options=grant)
        self.wait_job(upgrade)
        self.assertNotEqual(self.requests_for('/manifests/v2'), [])
        self.wait_until(lambda: self.plugin_prop(plugin, 'Job') == '/', msg='Job back to /')
        self.assertIn(upgrade, [c['Job'] for c, _ in self.changes(plugin, PLUGIN_IFACE)
                                if 'Job' in c])
        # the new image in one signal, at once, the last property set first
        self.assertEqual([list(c) for c, _ in self.changes(plugin, PLUGIN_IFACE)
                          if 'Reference' in c],
                         [['UpdateTimestamp', 'Env', 'Settings', 'ProtocolScheme', 'InterfaceTypes',
                           'Documentation', 'Description', 'ConfigDigest', 'ManifestDigest',
                           'Reference']])

        # a failed job: ErrorName and ErrorMessage
        failed = self.pull(self.remote('test/nope', 'v1'), 'test/nope', options=grant)
        with self.assertRaises(DBusError):
            self.wait_job(failed)

        plugin_true = ('Reference', 'ManifestDigest', 'ConfigDigest', 'Description',
                       'Documentation', 'InterfaceTypes', 'ProtocolScheme', 'Implements', 'Socket',
                       'Holders', 'MainPID', 'RestartCount', 'LastErrorName', 'LastErrorMessage',
                       'Enabled', 'State', 'StateTimestamp', 'Privileges', 'Settings', 'Env',
                       'UpdateTimestamp', 'Job')
        sent = self.check_object(plugin, PLUGIN_IFACE)
        self.assertEqual(set(plugin_true) - sent, set(), 'changed without a signal')
        self.assertEqual(set(plugin_true), self.kinds_of(PLUGIN_IFACE, 'true'))
        sent = set()
        for j in (job, upgrade, failed):
            sent |= self.check_object(j, JOB_IFACE)
        self.assertEqual(self.kinds_of(JOB_IFACE, 'true') - sent, set(),
                         'Job properties that never changed with a signal')
        # the Manager's properties are all const
        self.assertEqual(self.changes(MANAGER_PATH, MANAGER_IFACE), [])
        self.assertEqual(self.get_all(MANAGER_PATH, MANAGER_IFACE), manager_before)
        self.assertEqual(set(annotations(MANAGER_IFACE).values()), {'const'})

    def call_with_fd_reply(self, path, method, args):
        return call_with_fd_reply(self, path, method, args)


def call_with_fd_reply(test, path, method, args):
    """The fd a Plugin method answers with (the others closed)."""
    res, fdl = test.conn.call_with_unix_fd_list_sync(
        BUS_NAME, path, PLUGIN_IFACE, method, args, GLib.VariantType('(h)'), 0, 30000, None, None)
    fds = fdl.steal_fds()
    for i, fd in enumerate(fds):
        if i != res.unpack()[0]:
            os.close(fd)
    return fds[res.unpack()[0]]


class SignalContentTests(PlugindTestCase):
    """What clients see of a plugin's properties, exactly: the properties a change sends, in
    which order, in how many signals, and the same values from Get, GetAll, GetManagedObjects
    and InterfacesAdded. The daemon exports the interface with a vtable of its own (not
    gdbus-codegen's skeleton); these are the skeleton's rules, as clients saw them."""

    def setUp(self):
        super().setUp()
        with open(RUNNER, 'rb') as f:
            files = {'runner-plugin': (f.read(), 0o755)}
        self.path, _ = self.create_ok('test/content', make_context(runner_config(), files),
                                      options=opts(grant_all_privileges=True))
        # the create's job leaves the plugin, with its signal
        self.wait_until(lambda: self.plugin_prop(self.path, 'Job') == '/', msg='Job is /')
        self.iterate(0.3)

    def changes_after(self, mark, settle=0.3):
        """[[(name, value), ...] in the signal's order] of the plugin's PropertiesChanged
        after signal number @mark, once @settle seconds passed without any."""
        self.iterate(settle)
        out = []
        for s in self.signals[mark:]:
            if s[0] == self.path and s[2] == 'PropertiesChanged':
                self.assertEqual(s[3][0], PLUGIN_IFACE)
                self.assertEqual(s[3][2], [], 'nothing is invalidated')
                out.append(list(s[3][1].items()))
        return out

    def assert_sent_as_get(self, changes):
        """The last value sent of each property is what Get gives."""
        last = {}
        for change in changes:
            last.update(change)
        for name, value in last.items():
            self.assertEqual(value, self.plugin_prop(self.path, name), name)

    def test_every_read_gives_the_same_values(self):
        added = [s[3][1][PLUGIN_IFACE] for s in self.signals_named('InterfacesAdded')
                 if s[3][0] == self.path][0]
        everything = self.get_all(self.path, PLUGIN_IFACE)
        managed = self.managed_objects()[self.path][PLUGIN_IFACE]
        names = [p.get('name') for p in ET.parse(os.path.join(
            SRCDIR, 'data', PLUGIN_IFACE + '.xml')).getroot().iter('property')]
        # every property, in the XML's order, everywhere
        self.assertEqual(list(everything), names)
        self.assertEqual(list(managed), names)
        self.assertEqual(list(added), names)
        self.assertEqual(managed, everything)
        for name in names:
            self.assertEqual(self.plugin_prop(self.path, name), everything[name], name)
            # the create's job, and the size once it is known (never sent)
            if name not in ('Job', 'DiskUsage'):
                self.assertEqual(added[name], everything[name], name)
        self.assertEqual(everything['Job'], '/')
        self.assertEqual(everything['Socket'], '')
        self.assertEqual(everything['Implements'], [])
        self.assertEqual(everything['Env'], ['DEBUG'])

    def test_reads_that_are_refused(self):
        self.assertDBusError([DBUS_ERR + 'InvalidArgs'], self.plugin_prop, self.path, 'Nope')
        self.assertDBusError([DBUS_ERR + 'InvalidArgs'], self.call, self.path, PROPS_IFACE,
                             'Set', GLib.Variant('(ssv)', (PLUGIN_IFACE, 'Name',
                                                           GLib.Variant('s', 'x'))))
        self.assertDBusError([DBUS_ERR + 'UnknownMethod'], self.call, self.path, PLUGIN_IFACE,
                             'Nope')
        self.assertDBusError([DBUS_ERR + 'InvalidArgs'], self.call, self.path, PLUGIN_IFACE,
                             'Hold', GLib.Variant('(s)', ('only one',)))

    def test_set_sends_what_changed_newest_first(self):
        # an env value: Settings and Env show names only, so only the time changes
        mark = len(self.signals)
        self.set_settings(self.path, {'DEBUG': '1'})
        changes = self.changes_after(mark)
        self.assertEqual([[n for n, _ in c] for c in changes], [['UpdateTimestamp']])
        self.assert_sent_as_get(changes)
        # a mount source is a privilege too
        mark = len(self.signals)
        self.set_settings(self.path, {'data.source': '/usr'})
        changes = self.changes_after(mark)
        self.assertEqual([[n for n, _ in c] for c in changes],
                         [['UpdateTimestamp', 'Privileges', 'Settings']])
        self.assert_sent_as_get(changes)
        # the same value again: only the time
        mark = len(self.signals)
        self.set_settings(self.path, {'DEBUG': '1'})
        changes = self.changes_after(mark)
        self.assertEqual([[n for n, _ in c] for c in changes], [['UpdateTimestamp']])
        # validate-only changes nothing
        mark = len(self.signals)
        self.set_settings(self.path, {'DEBUG': '2'}, opts(validate_only=True))
        self.assertEqual(self.changes_after(mark), [])

    def test_enable_hold_disable(self):
        mark = len(self.signals)
        self.call(self.path, PLUGIN_IFACE, 'Enable', GLib.Variant('(a{sv})', ({},)))
        self.wait_until(lambda: self.plugin_prop(self.path, 'State') == 'running')
        changes = self.changes_after(mark)
        # Enabled goes out at once, with what the runner changed since the last signal
        self.assertEqual([n for n, _ in changes[-1]],
                         ['Enabled', 'StateTimestamp', 'State', 'Socket', 'Implements'])
        self.assertEqual(changes[-1][0], ('Enabled', True))
        self.assert_sent_as_get(changes)
        mark = len(self.signals)
        fd = call_with_fd_reply(self, self.path, 'Hold', GLib.Variant('(ss)', ('me', 'why')))
        self.wait_until(lambda: self.changes_after(mark, 0) != [], msg='Holders sent')
        changes = self.changes_after(mark)
        self.assertEqual(len(changes), 1)
        self.assertEqual([n for n, _ in changes[0]], ['Holders'])
        self.assertEqual(changes[0][0][1][0][:2], ('me', 'why'))
        self.assert_sent_as_get(changes)
        mark = len(self.signals)
        os.close(fd)
        self.wait_until(lambda: self.changes_after(mark, 0) != [], msg='release sent')
        self.assertEqual(self.changes_after(mark), [[('Holders', [])]])
        mark = len(self.signals)
        self.call(self.path, PLUGIN_IFACE, 'Disable', GLib.Variant('(a{sv})', ({},)))
        changes = self.changes_after(mark)
        self.assertEqual([n for n, _ in changes[-1]],
                         ['Enabled', 'StateTimestamp', 'State', 'Implements', 'Socket', 'MainPID'])
        self.assertEqual(changes[-1][:3], [('Enabled', False),
                                           ('StateTimestamp', self.plugin_prop(self.path,
                                                                               'StateTimestamp')),
                                           ('State', 'disabled')])
        self.assert_sent_as_get(changes)


if __name__ == '__main__':
    main()
