#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Plugin objects: properties, Inspect (Docker's schema), Set, Remove, restore on restart."""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time

from pd_testcase import (BUS_NAME, DBUS_ERR, DBusError, ERR, MANAGER_IFACE, MANAGER_PATH,
                         PLUGIN_IFACE, ROOT_PATH, TIMEOUT_MULT, GLib,
                         PlugindTestCase, main, make_context, opts, plugin_config)

SET_CONFIG = plugin_config(
    Env=[
        {'Name': 'DEBUG', 'Description': 'debug level', 'Settable': ['value'], 'Value': '0'},
        {'Name': 'FIXED', 'Description': 'not settable', 'Settable': [], 'Value': 'x'},
        {'Name': 'EMPTY', 'Description': 'no default', 'Settable': ['value'], 'Value': None},
    ],
    Mounts=[
        {'Name': 'data', 'Description': 'data dir', 'Settable': ['source'], 'Source': '/srv',
         'Destination': '/data', 'Type': 'bind', 'Options': ['rbind', 'ro']},
        {'Name': 'nosrc', 'Description': 'no source', 'Settable': ['source'], 'Source': None,
         'Destination': '/nosrc', 'Type': 'bind', 'Options': ['rbind']},
    ],
    Linux={'Capabilities': [], 'AllowAllDevices': False,
           'Devices': [{'Name': 'dev', 'Description': 'a device', 'Settable': ['path'],
                        'Path': '/dev/null'}]},
)

REQUIRED_CONFIG_KEYS = {'Description', 'Documentation', 'Interface', 'Entrypoint', 'WorkDir',
                        'Network', 'Linux', 'PidHost', 'PropagatedMount', 'IpcHost', 'Mounts',
                        'Env', 'Args'}

# properties that must survive a daemon restart unchanged
STABLE_PROPS = ('Id', 'Name', 'CreationTimestamp', 'Reference', 'ManifestDigest', 'ConfigDigest',
                'Description', 'Documentation', 'InterfaceTypes', 'ProtocolScheme', 'Enabled',
                'State', 'Privileges', 'Settings', 'Env', 'UpdateTimestamp')


def now_us():
    return int(time.time() * 1000000)


def priv_values(privs, name):
    return [list(p[2]) for p in privs if p[0] == name]


class PropertiesTests(PlugindTestCase):

    def test_properties(self):
        t0 = now_us()
        path, res = self.create_ok('test/props')
        t1 = now_us()
        pid = res['plugin-id']
        props = self.get_all(path, PLUGIN_IFACE)
        self.assertEqual(props['Id'], pid)
        self.assertEqual(props['Name'], 'test/props:latest')
        self.assertEqual(props['Reference'], 'test/props:latest')
        self.assertEqual(props['Description'], 'A test plugin')
        self.assertEqual(props['Documentation'], 'https://example.com/plugind-test')
        self.assertEqual(props['InterfaceTypes'], ['docker.volumedriver/1.0'])
        self.assertEqual(props['ProtocolScheme'], '')
        self.assertEqual(props['Privileges'], [])
        # values of env vars and args are for GetSettingValues only
        self.assertEqual(sorted(tuple(s) for s in props['Settings']), sorted([
            ('DEBUG', 'env', 'debug level', '', True),
            ('args', 'args', 'extra arguments', '', True),
        ]))
        self.assertEqual(props['Env'], ['DEBUG'])
        self.assertNotIn('Args', props)
        self.assertEqual(self.setting_values(path), (['DEBUG=0'], ['--foo']))
        self.assertIs(props['Enabled'], False)
        self.assertEqual(props['State'], 'disabled')
        self.assertTrue(t0 <= props['CreationTimestamp'] <= t1, props['CreationTimestamp'])
        self.assertRegex(props['ManifestDigest'], r'^sha256:[0-9a-f]{64}$')
        self.assertRegex(props['ConfigDigest'], r'^sha256:[0-9a-f]{64}$')
        self.assertGreater(self.plugin_prop(path, 'DiskUsage'), 0)

    def test_settings_property_kinds(self):
        path, _ = self.create_ok('test/kinds', make_context(SET_CONFIG),
                                 options=opts(grant_all_privileges=True))
        settings = {s[0]: tuple(s) for s in self.plugin_prop(path, 'Settings')}
        self.assertEqual(settings['DEBUG'], ('DEBUG', 'env', 'debug level', '', True))
        self.assertEqual(settings['FIXED'], ('FIXED', 'env', 'not settable', '', False))
        self.assertEqual(settings['EMPTY'], ('EMPTY', 'env', 'no default', '', True))
        self.assertEqual(settings['data'], ('data', 'mount', 'data dir', '/srv', True))
        self.assertEqual(settings['nosrc'], ('nosrc', 'mount', 'no source', '', True))
        self.assertEqual(settings['dev'], ('dev', 'device', 'a device', '/dev/null', True))
        self.assertEqual(settings['args'], ('args', 'args', 'extra arguments', '', True))
        # Docker's InitEmptySettings: env entries with a null value are omitted
        self.assertEqual(sorted(self.plugin_prop(path, 'Env')), ['DEBUG', 'FIXED'])
        self.assertEqual(sorted(self.plugin_env(path)), ['DEBUG=0', 'FIXED=x'])

    def test_managed_objects(self):
        path, _ = self.create_ok('test/om')
        added = self.wait_signal('InterfacesAdded', lambda a: a[0] == path, path=ROOT_PATH)
        self.assertIn(PLUGIN_IFACE, added[3][1])
        objs = self.managed_objects()
        self.assertIn(ROOT_PATH + '/Manager', objs)
        self.assertIn(path, objs)
        self.assertEqual(objs[path][PLUGIN_IFACE]['Name'], 'test/om:latest')


class InspectTests(PlugindTestCase):

    def test_inspect_schema(self):
        path, res = self.create_ok('test/inspect')
        doc = self.inspect(path)
        # Docker's members, then plugind's State
        self.assertEqual(list(doc), ['Config', 'Enabled', 'Id', 'Name', 'PluginReference',
                                     'Settings', 'State'])
        self.assertEqual(doc['State'], {'Status': 'disabled', 'Pid': 0, 'RestartCount': 0,
                                        'ErrorName': '', 'Error': ''})
        self.assertEqual(doc['Id'], res['plugin-id'])
        self.assertEqual(doc['Name'], 'test/inspect:latest')
        self.assertIs(doc['Enabled'], False)
        self.assertEqual(doc['PluginReference'], 'test/inspect:latest')
        self.assertEqual(doc['Settings'], {'Mounts': [], 'Env': ['DEBUG=0'], 'Args': ['--foo'],
                                           'Devices': []})
        cfg = doc['Config']
        self.assertTrue(REQUIRED_CONFIG_KEYS <= set(cfg), REQUIRED_CONFIG_KEYS - set(cfg))
        self.assertEqual(cfg['Description'], 'A test plugin')
        self.assertEqual(cfg['Documentation'], 'https://example.com/plugind-test')
        self.assertEqual(cfg['Entrypoint'], ['/bin/hello'])
        self.assertEqual(cfg['WorkDir'], '/')
        self.assertEqual(cfg['Interface']['Types'], ['docker.volumedriver/1.0'])
        self.assertEqual(cfg['Interface']['Socket'], 'test.sock')
        self.assertEqual(cfg['Network'], {'Type': ''})
        self.assertEqual(cfg['Linux']['Capabilities'], [])
        self.assertIs(cfg['Linux']['AllowAllDevices'], False)
        self.assertEqual(cfg['Linux']['Devices'], [])
        self.assertIs(cfg['PidHost'], False)
        self.assertIs(cfg['IpcHost'], False)
        self.assertEqual(cfg['PropagatedMount'], '')
        self.assertEqual(cfg['Mounts'], [])
        self.assertEqual(cfg['Env'], [{'Name': 'DEBUG', 'Description': 'debug level',
                                       'Settable': ['value'], 'Value': '0'}])
        self.assertEqual(cfg['Args'], {'Name': 'args', 'Description': 'extra arguments',
                                       'Settable': ['value'], 'Value': ['--foo']})
        self.assertEqual(cfg['rootfs']['type'], 'layers')
        self.assertEqual(len(cfg['rootfs']['diff_ids']), 1)

    def test_inspect_privileged_settings(self):
        path, _ = self.create_ok('test/insp-priv', make_context(SET_CONFIG),
                                 options=opts(grant_all_privileges=True))
        doc = self.inspect(path)
        mounts = {m['Name']: m for m in doc['Settings']['Mounts']}
        self.assertEqual(mounts['data'], {'Name': 'data', 'Description': 'data dir',
                                          'Settable': ['source'], 'Source': '/srv',
                                          'Destination': '/data', 'Type': 'bind',
                                          'Options': ['rbind', 'ro']})
        self.assertIsNone(mounts['nosrc']['Source'])
        self.assertEqual(doc['Settings']['Devices'], [{'Name': 'dev', 'Description': 'a device',
                                                       'Settable': ['path'],
                                                       'Path': '/dev/null'}])
        self.assertEqual(doc['Config']['Mounts'], SET_CONFIG['Mounts'])
        self.assertEqual(doc['Config']['Linux']['Devices'], SET_CONFIG['Linux']['Devices'])

    def test_layer_manifest_and_diff_id(self):
        """The blobs are what Docker writes: a gzip layer, a config whose rootfs.diff_ids holds
        the digest of the *uncompressed* layer, a schema2 manifest."""
        path, res = self.create_ok('test/layer')
        manifest_digest = self.plugin_prop(path, 'ManifestDigest')
        config_digest = self.plugin_prop(path, 'ConfigDigest')
        manifest_raw = self.read_blob(manifest_digest)
        self.assertEqual('sha256:' + hashlib.sha256(manifest_raw).hexdigest(), manifest_digest)
        manifest = json.loads(manifest_raw)
        self.assertEqual(manifest['schemaVersion'], 2)
        self.assertEqual(manifest['mediaType'],
                         'application/vnd.docker.distribution.manifest.v2+json')
        self.assertEqual(manifest['config']['mediaType'], 'application/vnd.docker.plugin.v1+json')
        self.assertEqual(manifest['config']['digest'], config_digest)
        config_raw = self.read_blob(config_digest)
        self.assertEqual(manifest['config']['size'], len(config_raw))
        self.assertEqual(len(manifest['layers']), 1)
        layer = manifest['layers'][0]
        self.assertEqual(layer['mediaType'], 'application/vnd.docker.image.rootfs.diff.tar.gzip')
        layer_raw = self.read_blob(layer['digest'])
        self.assertEqual(layer['size'], len(layer_raw))
        self.assertEqual(layer_raw[:2], b'\x1f\x8b', 'the layer is not gzip')
        uncompressed = gzip.decompress(layer_raw)
        diff_id = 'sha256:' + hashlib.sha256(uncompressed).hexdigest()
        config = json.loads(config_raw)
        self.assertEqual(config['rootfs'], {'type': 'layers', 'diff_ids': [diff_id]})
        self.assertEqual(self.inspect(path)['Config']['rootfs']['diff_ids'], [diff_id])
        with tarfile.open(fileobj=io.BytesIO(uncompressed)) as tar:
            names = {n.lstrip('./').rstrip('/') for n in tar.getnames()}
            self.assertIn('bin/hello', names)
            self.assertIn('etc/motd', names)
            self.assertFalse(any(n.startswith('rootfs') for n in names), names)
            hello = tar.extractfile([m for m in tar.getmembers()
                                     if m.name.lstrip('./') == 'bin/hello'][0]).read()
            self.assertEqual(hello, b'#!/bin/sh\necho hello\n')
        self.assertEqual(res['manifest-digest'], manifest_digest)


class SetTests(PlugindTestCase):

    def setUp(self):
        super().setUp()
        self.path, res = self.create_ok('test/set', make_context(SET_CONFIG),
                                        options=opts(grant_all_privileges=True))
        self.pid = res['plugin-id']
        self.record = os.path.join(self.plugin_dir(self.pid), 'plugin.json')

    def record_bytes(self):
        with open(self.record, 'rb') as f:
            return f.read()

    def test_set_env(self):
        before = self.plugin_prop(self.path, 'UpdateTimestamp')
        self.set_settings(self.path, {'DEBUG': '1'})
        self.assertIn('DEBUG=1', self.plugin_env(self.path))
        self.assertNotIn('DEBUG=0', self.plugin_env(self.path))
        self.assertEqual(self.plugin_prop(self.path, 'Env'), ['DEBUG', 'FIXED'])
        settings = {s[0]: s for s in self.plugin_prop(self.path, 'Settings')}
        self.assertEqual(settings['DEBUG'][3], '')
        self.assertIn('DEBUG=1', self.inspect(self.path)['Settings']['Env'])
        self.assertGreater(self.plugin_prop(self.path, 'UpdateTimestamp'), before)
        ev = self.wait_signal('PluginEvent', lambda a: a[0] == 'set')
        self.assertEqual(ev[3][1], self.pid)
        self.assertEqual(ev[3][2], 'test/set:latest')
        self.assertEqual(ev[3][3], self.path)
        self.assertEqual(ev[3][5]['name'], 'test/set:latest')
        # the config is immutable: only the settings change
        self.assertEqual(self.inspect(self.path)['Config']['Env'], SET_CONFIG['Env'])

    def test_set_field_and_values(self):
        self.set_settings(self.path, {'DEBUG.value': '2', 'EMPTY': 'a=b c'})
        env = self.plugin_env(self.path)
        self.assertIn('DEBUG=2', env)
        self.assertIn('EMPTY=a=b c', env)  # a null default is appended
        self.assertEqual(self.plugin_prop(self.path, 'Env'), ['DEBUG', 'FIXED', 'EMPTY'])
        self.set_settings(self.path, {'args': '--a --b'})
        self.assertEqual(self.plugin_args(self.path), ['--a', '--b'])
        self.assertEqual(self.inspect(self.path)['Settings']['Args'], ['--a', '--b'])
        self.set_settings(self.path, {'DEBUG': ''})
        self.assertIn('DEBUG=', self.plugin_env(self.path))

    def test_set_errors(self):
        cases = [
            ({'': 'x'}, 'invalid format, must be <name>[.<field>][=<value>]'),
            ({'NOPE': 'x'}, 'setting "NOPE" not found in the plugin configuration'),
            ({'FIXED': 'y'}, '"FIXED" is not settable'),
            ({'DEBUG.source': 'x'}, '"DEBUG.source" is not settable'),
            ({'data.value': '/x'}, '"data.value" is not settable'),
            ({'dev.source': '/dev/zero'}, '"dev.source" is not settable'),
            ({'nosrc': '/x'}, 'plugin config has no mount source'),
        ]
        record = self.record_bytes()
        props = self.get_all(self.path, PLUGIN_IFACE)
        for settings, text in cases:
            with self.subTest(settings=settings):
                e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.set_settings, self.path,
                                         settings)
                self.assertIn(text, e.message)
        self.assertEqual(self.record_bytes(), record)
        self.assertEqual(self.get_all(self.path, PLUGIN_IFACE), props)
        self.assertEqual([s for s in self.signals_named('PluginEvent') if s[3][0] == 'set'], [])

    def test_set_validate_only(self):
        # every check of Set, nothing saved, nobody asked: nobody (no password, no rule) gets
        # the same answers as root, and the state dir does not change
        record = self.record_bytes()
        props = self.get_all(self.path, PLUGIN_IFACE)
        self.set_settings(self.path, {'DEBUG': '7', 'data': '/srv'}, opts(validate_only=True))
        self.assertNobodyAllowed(self.path, PLUGIN_IFACE, 'Set', 'a(ss)a{sv}',
                                 "([('DEBUG', '7'), ('data', '/srv')], "
                                 "{'validate-only': <true>})")
        for settings, text in (({'NOPE': 'x'}, 'setting "NOPE" not found'),
                               ({'data': 'relative'}, 'must be an absolute path'),
                               ({'DEBUG': 'x' * (64 * 1024 + 1)}, '')):
            with self.subTest(settings=list(settings)):
                e = self.assertDBusError((DBUS_ERR + 'InvalidArgs', DBUS_ERR + 'LimitsExceeded'),
                                         self.set_settings, self.path, settings,
                                         opts(validate_only=True))
                self.assertIn(text, e.message)
        # nobody learns nothing more than root: the same error
        _, err = self.nobody_call(self.path, PLUGIN_IFACE, 'Set', 'a(ss)a{sv}',
                                  "([('data', 'relative')], {'validate-only': <true>})")
        self.assertEqual(err.name, DBUS_ERR + 'InvalidArgs')
        self.assertIn('must be an absolute path', err.message)
        self.assertEqual(self.record_bytes(), record)
        self.assertEqual(self.get_all(self.path, PLUGIN_IFACE), props)
        self.assertEqual(self.plugin_env(self.path), ['DEBUG=0', 'FIXED=x'])
        self.assertEqual([s for s in self.signals_named('PluginEvent') if s[3][0] == 'set'], [])
        self.assertIn('option:validate-only',
                      self.get_prop(MANAGER_PATH, MANAGER_IFACE, 'Features'))

    def test_set_multiple_fields(self):
        cfg = plugin_config(Mounts=[
            {'Name': 'multi', 'Description': '', 'Settable': ['source', 'destination'],
             'Source': '/opt', 'Destination': '/opt', 'Type': 'bind', 'Options': ['rbind']}])
        path, _ = self.create_ok('test/multi', make_context(cfg),
                                 options=opts(grant_all_privileges=True))
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.set_settings, path,
                                 {'multi': '/x'})
        self.assertIn('multiple fields are settable, one must be specified', e.message)

    def test_set_atomic(self):
        record = self.record_bytes()
        props = self.get_all(self.path, PLUGIN_IFACE)
        for batch in ({'DEBUG': '5', 'NOPE': 'x'},
                      {'DEBUG': '5', 'args': '--x', 'FIXED': 'z'},
                      {'EMPTY': 'v', 'data': '/var', '': 'y'}):
            with self.subTest(batch=batch):
                self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.set_settings, self.path,
                                     batch)
                self.assertEqual(self.get_all(self.path, PLUGIN_IFACE), props)
                self.assertEqual(self.record_bytes(), record)
        self.assertEqual([s for s in self.signals_named('PluginEvent') if s[3][0] == 'set'], [])

    def test_set_in_order(self):
        # the pairs apply in the order given, as docker's do: sorted keys used to leave 1
        self.set_settings(self.path, [('DEBUG.value', '1'), ('DEBUG', '2')])
        self.assertIn('DEBUG=2', self.plugin_env(self.path))
        self.set_settings(self.path, [('DEBUG', '3'), ('DEBUG.value', '4')])
        self.assertIn('DEBUG=4', self.plugin_env(self.path))
        # a key may repeat; the last one wins, for the privileges too
        self.set_settings(self.path, [('data', '/var'), ('args', '-a'), ('data', '/opt'),
                                      ('args', '-b -c')])
        self.assertEqual(priv_values(self.plugin_prop(self.path, 'Privileges'), 'mount'),
                         [['/opt']])
        self.assertEqual(self.plugin_args(self.path), ['-b', '-c'])
        # still all or nothing: a bad pair after repeated good ones changes nothing
        record = self.record_bytes()
        props = self.get_all(self.path, PLUGIN_IFACE)
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.set_settings, self.path,
                             [('DEBUG', '8'), ('DEBUG', '9'), ('data', '/srv'), ('NOPE', 'x')])
        self.assertEqual(self.record_bytes(), record)
        self.assertEqual(self.get_all(self.path, PLUGIN_IFACE), props)
        # the record says which settings the user set, each once
        with open(self.record) as f:
            self.assertEqual(json.load(f)['user-set'], ['env:DEBUG', 'mount:data', 'args:args'])

    def test_set_map_signature_refused(self):
        # the a{ss} of earlier versions is refused with InvalidArgs naming what is expected,
        # for Set and for the settings option of GetPrivileges, Pull and Upgrade
        record = self.record_bytes()
        jobs = self.list_jobs()
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.call, self.path, PLUGIN_IFACE,
                                 'Set', GLib.Variant('(a{ss}a{sv})', ({'DEBUG': '1'}, {})))
        self.assertIn('expected type “(a(ss)a{sv})”', e.message)
        old = {'settings': GLib.Variant('a{ss}', {'DEBUG': '1'})}
        for path, iface, method, args in (
                (MANAGER_PATH, MANAGER_IFACE, 'GetPrivileges',
                 GLib.Variant('(sa{sv})', ('localhost:1/x', old))),
                (MANAGER_PATH, MANAGER_IFACE, 'Pull',
                 GLib.Variant('(ssa(ssas)a{sv})', ('localhost:1/x', '', [], old))),
                (self.path, PLUGIN_IFACE, 'Upgrade',
                 GLib.Variant('(sa(ssas)a{sv})', ('localhost:1/x', [], old)))):
            with self.subTest(method=method):
                e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.call, path, iface,
                                         method, args)
                self.assertEqual(e.message, "Option 'settings' must be of type 'a(ss)'")
        self.assertEqual(self.record_bytes(), record)
        self.assertEqual(self.list_jobs(), jobs)

    def test_set_privileged_as_root(self):
        # a mount source or device path change widens host access (set-privileged); root may
        self.set_settings(self.path, {'data': '/var'})
        privs = self.plugin_prop(self.path, 'Privileges')
        self.assertEqual(priv_values(privs, 'mount'), [['/var']])
        settings = {s[0]: s for s in self.plugin_prop(self.path, 'Settings')}
        self.assertEqual(settings['data'][3], '/var')
        doc = self.inspect(self.path)
        mounts = {m['Name']: m for m in doc['Settings']['Mounts']}
        self.assertEqual(mounts['data']['Source'], '/var')
        self.assertEqual(doc['Config']['Mounts'][0]['Source'], '/srv', 'the config is immutable')

        self.set_settings(self.path, {'dev.path': '/dev/zero'})
        privs = self.plugin_prop(self.path, 'Privileges')
        self.assertEqual(priv_values(privs, 'device'), [['/dev/zero']])
        self.assertEqual(self.inspect(self.path)['Settings']['Devices'][0]['Path'], '/dev/zero')

    def test_set_persists_across_restart(self):
        self.set_settings(self.path, {'DEBUG': '7', 'data': '/var', 'args': '-v'})
        props = self.get_all(self.path, PLUGIN_IFACE)
        doc = self.inspect(self.path)
        values = self.setting_values(self.path)
        self.restart_daemon()
        after = self.get_all(self.path, PLUGIN_IFACE)
        for k in STABLE_PROPS:
            self.assertEqual(after[k], props[k], k)
        self.assertEqual(self.inspect(self.path), doc)
        self.assertEqual(self.setting_values(self.path), values)

    def test_set_unknown_option(self):
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.set_settings, self.path,
                                 {'DEBUG': '1'}, opts(bogus=True))
        self.assertIn('bogus', e.message)
        self.assertIn('DEBUG=0', self.plugin_env(self.path))


class RemoveTests(PlugindTestCase):

    def test_remove(self):
        keep, keep_res = self.create_ok('test/keep')
        path, res = self.create_ok('test/gone', make_context(plugin_config(Description='other')))
        pid = res['plugin-id']
        gone_blobs = {self.plugin_prop(path, 'ManifestDigest'),
                      self.plugin_prop(path, 'ConfigDigest')}
        gone_blobs |= {l['digest'] for l in json.loads(self.read_blob(
            self.plugin_prop(path, 'ManifestDigest')))['layers']}
        keep_blobs = {self.plugin_prop(keep, 'ManifestDigest'),
                      self.plugin_prop(keep, 'ConfigDigest')}
        keep_blobs |= {l['digest'] for l in json.loads(self.read_blob(
            self.plugin_prop(keep, 'ManifestDigest')))['layers']}

        self.remove(path)
        removed = self.wait_signal('InterfacesRemoved', lambda a: a[0] == path, path=ROOT_PATH)
        self.assertIn(PLUGIN_IFACE, removed[3][1])
        ev = self.wait_signal('PluginEvent', lambda a: a[0] == 'remove')
        self.assertEqual(ev[3][1:4], (pid, 'test/gone:latest', path))
        self.assertEqual(ev[3][5]['name'], 'test/gone:latest')

        # atomic: the plugin dir is gone when Remove replies; its renamed copy is purged soon
        self.assertFalse(os.path.exists(self.plugin_dir(pid)))
        self.wait_until(lambda: not os.path.exists(self.plugin_dir(pid) + '-removing'), 10,
                        'the purge of %s-removing' % pid)
        self.assertDBusError(ERR + 'NoSuchPlugin', self.get_plugin, 'test/gone')
        self.assertDBusError(DBUS_ERR + 'UnknownObject', self.plugin_prop, path, 'Name')
        self.assertNotIn(path, self.managed_objects())
        self.assertEqual([p[1] for p in self.list_plugins()], ['test/keep:latest'])
        blobs = self.blob_digests()
        self.assertTrue(keep_blobs <= blobs, 'a blob of the remaining plugin was collected')
        self.assertEqual(blobs & (gone_blobs - keep_blobs), set(), 'blobs not collected')

        self.remove(keep, opts(force=True))
        self.wait_signal('InterfacesRemoved', lambda a: a[0] == keep, path=ROOT_PATH)
        self.assertEqual(self.blob_digests(), set())
        self.assertEqual(self.list_plugins(), [])

    def test_recreate_gets_new_id(self):
        path, res = self.create_ok('test/again')
        self.remove(path)
        path2, res2 = self.create_ok('test/again')
        self.assertNotEqual(res2['plugin-id'], res['plugin-id'])
        self.assertNotEqual(path2, path)

    def test_remove_invalid(self):
        path, _ = self.create_ok('test/rm')
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.remove, path, opts(bogus=True))
        self.assertIn('bogus', e.message)
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.remove, path,
                             {'force': opts(x='1')['x']})
        self.assertEqual(len(self.list_plugins()), 1)


class RestartTests(PlugindTestCase):

    def test_restart_restores_objects(self):
        plugins = {}
        for n in ('test/r1', 'test/r2:v2'):
            path, _ = self.create_ok(n)
            plugins[path] = (self.get_all(path, PLUGIN_IFACE), self.inspect(path))
        listed = self.list_plugins()
        self.restart_daemon()
        self.assertEqual(self.list_plugins(), listed)
        objs = self.managed_objects()
        for path, (props, doc) in plugins.items():
            self.assertIn(path, objs)
            after = self.get_all(path, PLUGIN_IFACE)
            for k in STABLE_PROPS:
                self.assertEqual(after[k], props[k], k)
            self.assertEqual(self.inspect(path), doc)
            self.assertEqual(self.get_plugin(props['Name']), path)

    def _second_daemon(self, *args):
        env = dict(os.environ)
        env.update({'DBUS_SYSTEM_BUS_ADDRESS': self.bus.address,
                    'STATE_DIRECTORY': self.state_dir, 'RUNTIME_DIRECTORY': self.runtime_dir,
                    'PLUGIND_EXTRACT_HELPER': self.extract_helper,
                    'PLUGIND_TRANSFER_HELPER': self.transfer_helper,
                    'PLUGIND_SANDBOX_INIT': self.sandbox_init, 'G_DEBUG': 'fatal-criticals'})
        return subprocess.Popen([self.daemon_path, '--verbose'] + list(args), env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

    def test_second_daemon_refused(self):
        """A second daemon on the same state dir must not touch it (it would reconcile the
        store under the running one)."""
        path, _ = self.create_ok('test/lock')
        staging = os.path.join(self.state_dir, 'tmp', 'in-flight')
        os.makedirs(staging)
        self.addCleanup(shutil.rmtree, staging, True)
        before = self.snapshot_files()
        second = self._second_daemon()
        out, _ = second.communicate(timeout=30 * TIMEOUT_MULT)
        self.assertEqual(second.returncode, 1, out.decode())
        self.assertIn(b'another plugind uses this state directory', out)
        # the running daemon's staging dir survived, nothing changed
        self.assertTrue(os.path.isdir(staging))
        self.assertEqual(self.snapshot_files(), before)
        self.assertEqual(self.plugin_prop(path, 'Name'), 'test/lock:latest')
        os.rmdir(staging)

    def test_replace_takes_over(self):
        path, _ = self.create_ok('test/replaced')
        first = self.daemon
        second = self._second_daemon('--replace')
        try:
            # the replaced instance exits cleanly, the new one restores the plugin
            self.assertEqual(first.wait(30 * TIMEOUT_MULT), 0)
            self.daemon = None
            self.wait_until(lambda: self._owner_pid() == second.pid, msg='new owner')
            # the new instance exports its objects once the old one released the state dir
            self.wait_until(lambda: path in self._objects_or_none(), msg='plugin restored')
            self.assertEqual(self.plugin_prop(path, 'Name'), 'test/replaced:latest')
        finally:
            second.terminate()
            self.assertEqual(second.wait(30 * TIMEOUT_MULT), 0)
        self.start_daemon()

    def _objects_or_none(self):
        try:
            return self.managed_objects()
        except DBusError:
            return {}

    def _owner_pid(self):
        try:
            return self.conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                       'org.freedesktop.DBus', 'GetConnectionUnixProcessID',
                                       GLib.Variant('(s)', (BUS_NAME,)), GLib.VariantType('(u)'),
                                       0, -1, None).unpack()[0]
        except GLib.Error:
            return None

    def test_restart_cleans_leftovers(self):
        path, res = self.create_ok('test/clean')
        self.stop_daemon()
        # what a crash could leave: a staging dir, a half-removed plugin, a stray blob ingest
        os.makedirs(os.path.join(self.state_dir, 'tmp', 'staging-x', 'rootfs'), exist_ok=True)
        stray = os.path.join(self.state_dir, 'plugins', 'f' * 64 + '-removing')
        os.makedirs(os.path.join(stray, 'rootfs'))
        bad_blob = os.path.join(self.state_dir, 'blobs', 'sha256', 'e' * 64)
        with open(bad_blob, 'wb') as f:
            f.write(b'does not hash to its name')
        self.start_daemon()
        self.check_invariants(settle=False)
        self.assertFalse(os.path.exists(stray))
        self.assertFalse(os.path.exists(bad_blob))
        self.assertEqual([p[5] for p in self.list_plugins()], [path])


if __name__ == '__main__':
    main()
