#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Upgrade and Push against the real distribution registry (docker-registry), with skopeo as an
independent client for what plugind publishes.

Upgrade (docs/design.md, section Upgrade): same Id and object path, settings merged (kept user
values, new defaults, removed variables dropped), privileges of the new config checked before
any layer is downloaded, the rootfs swapped atomically, the old version intact after any
failure, "restart" for a running plugin, the record persisted.

Push (docs/design.md, section Push): blobs HEAD-checked, cross-repository mounts on the same
registry, monolithic or 16 MiB chunked uploads, the schema 2 manifest with the plugin config
media type, Results, the PluginEvent, credentials and token scopes.
"""

import hashlib
import json
import os
import pwd
import subprocess
import tempfile
import urllib.parse
import uuid

from gi.repository import Gio, GLib

import pd_registry
from pd_testcase import (BUILDDIR, DBUS_ERR, ERR, JOB_IFACE, MANAGER_IFACE, MANAGER_PATH,
                         PLUGIN_IFACE, SRCDIR, DBusError, main,
                         make_context, opts, plugin_call, plugin_config, sha256_file)
from registry_testcase import (RegistryTestCase, expected_tree, layer_entries, registry_auth,
                               sha256_digest, tree)

SIGNAL = Gio.DBusMessageType.SIGNAL
EXAMPLE_BINARY = os.path.join(BUILDDIR, 'example', 'plugind-example')
EXAMPLE_CONFIG = os.path.join(SRCDIR, 'example', 'hello', 'config.json')
CHUNK = 16 * 1024 * 1024
HEX_DIGEST = r'^sha256:[0-9a-f]{64}$'


def env_var(name, value, settable=True):
    return {'Name': name, 'Description': 'variable ' + name,
            'Settable': ['value'] if settable else [], 'Value': value}


def env_config(*pairs, **overrides):
    """DEFAULT_CONFIG with Env = the (name, default) pairs, all settable."""
    return plugin_config(Env=[env_var(n, v) for n, v in pairs], **overrides)


V1_FILES = {
    'bin/hello': (b'#!/bin/sh\necho hello v1\n', 0o755),
    'etc/motd': (b'version one\n', 0o644),
    'etc/only-in-v1': (b'gone after the upgrade\n', 0o644),
}
V2_FILES = {
    'bin/hello': (b'#!/bin/sh\necho hello v2\n', 0o755),
    'etc/motd': (b'version two\n', 0o644),
    'etc/only-in-v2': (b'new in the upgrade\n', 0o644),
}


class UpgradePushTestCase(RegistryTestCase):
    """Helpers shared by every class of this file."""

    def upgrade_ok(self, plugin, remote='', privileges=(), options=None):
        job = self.upgrade(plugin, remote, privileges, options)
        try:
            return job, self.wait_job(job)
        except DBusError as e:
            self.fail('upgrading %s to %r failed: %s' % (plugin, remote, e))

    def upgrade_job_error(self, names, plugin, remote='', privileges=(), options=None):
        """An upgrade whose job fails with one of names; returns (DBusError, job)."""
        if isinstance(names, str):
            names = (names,)
        job = self.upgrade(plugin, remote, privileges, options)
        try:
            results = self.wait_job(job)
        except DBusError as e:
            self.assertIn(e.name, names, 'wrong error from the upgrade job: %s' % e)
            self.assertIn(self.job_prop(job, 'Result'), ('failed', 'cancelled'))
            return e, job
        self.fail('expected %s, the upgrade succeeded: %r' % (names, results))

    def push_ok(self, plugin, remote=None, options=None):
        o = dict(options if options is not None else self.auth_options())
        if remote is not None:
            o['remote'] = GLib.Variant('s', remote)
        job = self.push(plugin, o)
        try:
            return job, self.wait_job(job)
        except DBusError as e:
            self.fail('pushing %s to %r failed: %s' % (plugin, remote, e))

    def manager_push(self, plugin, remote, options=None, **kw):
        args = GLib.Variant('(ssa{sv})', (plugin, remote, options if options is not None
                                          else self.auth_options()))
        return self.manager('Push', args, '(o)', **kw)[0]

    def manager_push_ok(self, plugin, remote, options=None):
        job = self.manager_push(plugin, remote, options)
        try:
            return job, self.wait_job(job)
        except DBusError as e:
            self.fail('Manager.Push of %s to %r failed: %s' % (plugin, remote, e))

    def push_job_error(self, names, plugin, remote, options=None):
        if isinstance(names, str):
            names = (names,)
        o = dict(options if options is not None else self.auth_options())
        o['remote'] = GLib.Variant('s', remote)
        job = self.push(plugin, o)
        try:
            results = self.wait_job(job)
        except DBusError as e:
            self.assertIn(e.name, names, 'wrong error from the push job: %s' % e)
            self.assertEqual(self.job_prop(job, 'Result'), 'failed')
            self.assertEqual(self.job_prop(job, 'ErrorName'), e.name)
            return e, job
        self.fail('expected %s, the push succeeded: %r' % (names, results))

    def check_invariants(self, settle=True):
        # An upgrade (and a failed pull or upgrade) deletes the old version's rootfs, moved to
        # tmp/stage-*, in a thread after the job has finished (pd-pull-job.c
        # discard_staging_dir), as Remove purges <id>-removing: settle it the same way.
        if settle:
            self.wait_tmp_empty()
        super().check_invariants(settle)

    def wait_tmp_empty(self, timeout=10):
        self.wait_until(lambda: self.tmp_entries() == [], timeout,
                        'tmp/ to be emptied (%r)' % self.tmp_entries())

    def upgrade_jobs(self):
        return [j for j in self.list_jobs() if j[1] in ('upgrade', 'push')]

    def plugin_snapshot(self, plugin):
        """Everything that must stay the same when an upgrade fails: the files of the plugin's
        dir (rootfs and record, contents hashed) and every property."""
        d = self.plugin_dir(self.plugin_prop(plugin, 'Id'))
        props = self.get_all(plugin, PLUGIN_IFACE)
        return tree(d), props

    def record(self, plugin):
        with open(os.path.join(self.plugin_dir(self.plugin_prop(plugin, 'Id')),
                               'plugin.json')) as f:
            return json.load(f)

    def registry_manifest(self, repo, ref):
        return pd_registry.get_manifest(self.registry.url, repo, ref, auth=self.auth,
                                        ca=self.ca.ca_path if self.ca else None)

    def assertEventAfterFinished(self, job, action, plugin_id):
        """Exactly one PluginEvent(action) for the plugin, and after the job's JobFinished."""
        self.wait_signal('PluginEvent', lambda a: a[0] == action and a[1] == plugin_id)
        events = [s for s in self.signals_named('PluginEvent')
                  if s[3][0] == action and s[3][1] == plugin_id]
        self.assertEqual(len(events), 1, 'PluginEvent(%s) count: %r' % (action, events))
        i_finished = self.wire_index(lambda m: m[0] == SIGNAL and m[1] == 'JobFinished' and
                                     m[4][1] == job)
        i_event = self.wire_index(lambda m: m[0] == SIGNAL and m[1] == 'PluginEvent' and
                                  m[4][0] == action and m[4][1] == plugin_id)
        self.assertGreaterEqual(i_finished, 0, self.wire_summary())
        self.assertLess(i_finished, i_event, 'JobFinished before PluginEvent(%s): %s' %
                        (action, self.wire_summary()))
        return events[0][3]


# ---------------------------------------------------------------------------------------------
# Upgrade


class UpgradeTests(UpgradePushTestCase):

    def pull_v1(self, repo='test/up', tag='v1', name=''):
        self.push_plugin(repo, tag, config=env_config(('A', '1'), ('B', 'x')), files=V1_FILES)
        return self.pull_ok(self.remote(repo, tag), name)

    def push_v2(self, repo='test/up', tag='v2', config=None):
        return self.push_plugin(repo, tag, config=config or env_config(('A', '2'), ('C', 'c')),
                                files=V2_FILES)

    def test_upgrade_merges_settings_and_swaps_content(self):
        plugin, res1 = self.pull_v1()
        self.set_settings(plugin, {'A': '5'})
        self.assertEqual(self.plugin_env(plugin), ['A=5', 'B=x'])
        before = self.get_all(plugin, PLUGIN_IFACE)
        old_blobs = self.blob_digests()
        digest2, _, _ = self.push_v2()

        job, results = self.upgrade_ok(plugin, self.remote('test/up', 'v2'))
        after = self.get_all(plugin, PLUGIN_IFACE)
        # the same plugin: Id, object path, name, creation time
        self.assertEqual(results['plugin'], plugin)
        self.assertEqual(results['plugin-id'], before['Id'])
        self.assertEqual(results['manifest-digest'], digest2)
        self.assertEqual(results['reference'], self.remote('test/up', 'v2'))
        for key in ('Id', 'Name', 'CreationTimestamp'):
            self.assertEqual(after[key], before[key], key)
        self.assertEqual([p[5] for p in self.list_plugins()], [plugin])
        # the new version
        self.assertEqual(after['ManifestDigest'], digest2)
        self.assertNotEqual(after['ConfigDigest'], before['ConfigDigest'])
        self.assertEqual(after['Reference'], self.remote('test/up', 'v2'))
        self.assertGreater(after['UpdateTimestamp'], before['UpdateTimestamp'])
        manifest = json.loads(self.read_blob(digest2))
        self.assertEqual(after['ConfigDigest'], manifest['config']['digest'])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V2_FILES))
        # user value kept, new variable with its default, removed one dropped
        self.assertEqual(after['Env'], ['A', 'C'])
        self.assertEqual(self.plugin_env(plugin), ['A=5', 'C=c'])
        doc = self.inspect(plugin)
        self.assertEqual(doc['Settings']['Env'], ['A=5', 'C=c'])
        self.assertEqual([e['Name'] for e in doc['Config']['Env']], ['A', 'C'])
        self.assertEqual(doc['PluginReference'], self.remote('test/up', 'v2'))
        # the record on disk says the same (Docker's was stale after an upgrade)
        rec = self.record(plugin)
        self.assertEqual(rec['manifest-digest'], digest2)
        self.assertEqual(rec['config-digest'], after['ConfigDigest'])
        self.assertEqual(rec['reference'], self.remote('test/up', 'v2'))
        self.assertEqual(rec['settings']['Env'], ['A=5', 'C=c'])
        # ListPlugins and PropertiesChanged tell about the new version
        listed = [p for p in self.list_plugins() if p[5] == plugin]
        self.assertEqual(listed[0][2], self.remote('test/up', 'v2'))
        changed = {}
        for sig in self.signals_named('PropertiesChanged', plugin):
            if sig[3][0] == PLUGIN_IFACE:
                changed.update(sig[3][1])
        for key in ('ManifestDigest', 'ConfigDigest', 'Reference', 'Env'):
            self.assertEqual(changed.get(key), after[key],
                             'no PropertiesChanged for %s: %r' % (key, changed))
        # the job
        self.assertEqual(self.job_prop(job, 'Operation'), 'upgrade')
        self.assertEqual(self.job_prop(job, 'Remote'), self.remote('test/up', 'v2'))
        self.assertEqual(self.job_prop(job, 'Plugin'), plugin)
        self.assertEqual(self.job_prop(job, 'Result'), 'done')
        # the old version's blobs are no longer needed by anyone
        self.wait_until(lambda: res1['manifest-digest'] not in self.blob_digests(), 10,
                        'the old manifest to be collected')
        self.assertIn(digest2, self.blob_digests())
        self.assertNotEqual(old_blobs, self.blob_digests())
        self.wait_tmp_empty()

    def test_default_value_takes_the_new_default(self):
        self.push_plugin('test/def', 'v1', config=env_config(('A', '1'), ('K', 'k1')))
        plugin, _ = self.pull_ok(self.remote('test/def', 'v1'))
        self.set_settings(plugin, {'K': 'mine'})
        self.push_plugin('test/def', 'v2', config=env_config(('A', '2'), ('K', 'k2')))
        self.upgrade_ok(plugin, self.remote('test/def', 'v2'))
        # A was never set: it follows the new default; K keeps the user's value
        self.assertEqual(self.plugin_env(plugin), ['A=2', 'K=mine'])

    def test_value_set_to_the_old_default_stays_the_users(self):
        # issue 10: a value set equal to the old default used to take the new default, since
        # "set" was decided by comparing with the old default. Set, Pull's and Upgrade's
        # settings option all count, and the record keeps it through daemon restarts.
        def version(n):
            return env_config(('A', 'a%d' % n), ('K', 'k%d' % n), ('M', 'm%d' % n),
                              ('P', 'p%d' % n))
        self.push_plugin('test/mine', 'v1', config=version(1))
        plugin, _ = self.pull_ok(self.remote('test/mine', 'v1'),
                                 options=self.auth_options(settings=[('P', 'p1')]))
        self.set_settings(plugin, [('K', 'k1')])
        self.assertEqual(self.plugin_env(plugin), ['A=a1', 'K=k1', 'M=m1', 'P=p1'])
        self.assertEqual(self.record(plugin)['user-set'], ['env:P', 'env:K'])
        self.restart_daemon()
        self.push_plugin('test/mine', 'v2', config=version(2))
        self.upgrade_ok(plugin, self.remote('test/mine', 'v2'),
                        options=opts(settings=[('M', 'm2')]))
        # A was never set: the new default; K and P keep the user's values; M was set (to the
        # new default) by the upgrade itself
        self.assertEqual(self.plugin_env(plugin), ['A=a2', 'K=k1', 'M=m2', 'P=p1'])
        self.assertEqual(sorted(self.record(plugin)['user-set']), ['env:K', 'env:M', 'env:P'])
        self.restart_daemon()
        self.push_plugin('test/mine', 'v3', config=version(3))
        self.upgrade_ok(plugin, self.remote('test/mine', 'v3'))
        self.assertEqual(self.plugin_env(plugin), ['A=a3', 'K=k1', 'M=m2', 'P=p1'])

    def test_record_without_user_set_falls_back_to_comparing(self):
        # a record written before plugind kept "user-set": what differs from the defaults
        # counts as set, as before; from its next save on, the record has the list
        self.push_plugin('test/old', 'v1', config=env_config(('A', 'a1'), ('K', 'k1')))
        plugin, _ = self.pull_ok(self.remote('test/old', 'v1'))
        self.set_settings(plugin, [('K', 'mine'), ('A', 'a1')])
        path = os.path.join(self.plugin_dir(self.plugin_prop(plugin, 'Id')), 'plugin.json')
        self.wait_all_jobs()
        self.stop_daemon()
        with open(path) as f:
            rec = json.load(f)
        self.assertEqual(rec.pop('user-set'), ['env:K', 'env:A'])
        with open(path, 'w') as f:
            json.dump(rec, f, indent=2)
        self.start_daemon()
        self.push_plugin('test/old', 'v2', config=env_config(('A', 'a2'), ('K', 'k2')))
        self.upgrade_ok(plugin, self.remote('test/old', 'v2'))
        # A equal to the old default cannot be told from a default any more
        self.assertEqual(self.plugin_env(plugin), ['A=a2', 'K=mine'])
        self.assertEqual(self.record(plugin)['user-set'], ['env:K'])

    def test_upgrade_empty_remote_uses_reference(self):
        plugin, res1 = self.pull_v1('test/same', 'latest')
        reference = self.plugin_prop(plugin, 'Reference')
        self.assertEqual(reference, self.remote('test/same', 'latest'))
        # a new version under the same tag
        digest2, _, _ = self.push_v2('test/same', 'latest')
        self.assertNotEqual(digest2, res1['manifest-digest'])
        job, results = self.upgrade_ok(plugin, '')
        self.assertEqual(self.job_prop(job, 'Remote'), reference)
        self.assertEqual(results['manifest-digest'], digest2)
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), digest2)
        self.assertEqual(self.plugin_prop(plugin, 'Reference'), reference)
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V2_FILES))

    def test_upgrade_settings_option(self):
        plugin, _ = self.pull_v1()
        self.push_v2()
        # C exists only in the new version: the option applies to it
        self.upgrade_ok(plugin, self.remote('test/up', 'v2'),
                        options=opts(settings={'C': 'from-upgrade', 'A': '7'}))
        self.assertEqual(self.plugin_env(plugin), ['A=7', 'C=from-upgrade'])
        self.assertEqual(self.record(plugin)['settings']['Env'], ['A=7', 'C=from-upgrade'])

    def test_upgrade_settings_option_bad_key_changes_nothing(self):
        plugin, _ = self.pull_v1()
        self.push_v2()
        before = self.plugin_snapshot(plugin)
        # B is gone in v2: setting it is an error against the new config
        job = None
        try:
            job = self.upgrade(plugin, self.remote('test/up', 'v2'),
                               options=opts(settings={'B': 'y'}))
            self.wait_job(job)
            self.fail('an upgrade setting a variable the new version lacks succeeded')
        except DBusError as e:
            self.assertIn(e.name, ('org.freedesktop.DBus.Error.InvalidArgs',
                                   ERR + 'InvalidConfig'), str(e))
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.wait_tmp_empty()

    def test_more_privileges_with_accepted_list(self):
        plugin, _ = self.pull_v1()
        self.assertEqual(self.plugin_prop(plugin, 'Privileges'), [])
        self.push_v2(config=env_config(('A', '2'), ('C', 'c'), Network={'Type': 'host'}))
        remote = self.remote('test/up', 'v2')
        privileges, _ = self.get_privileges(remote)
        self.assertEqual([(p[0], p[2]) for p in privileges], [('network', ['host'])])
        self.upgrade_ok(plugin, remote, privileges)
        self.assertEqual(self.plugin_prop(plugin, 'Privileges'), privileges)
        self.assertEqual(self.inspect(plugin)['Config']['Network']['Type'], 'host')

    def test_more_privileges_with_grant_all(self):
        plugin, _ = self.pull_v1()
        self.push_v2(config=env_config(('A', '2'), ('C', 'c'), Network={'Type': 'host'}))
        self.upgrade_ok(plugin, self.remote('test/up', 'v2'),
                        options=opts(grant_all_privileges=True))
        self.assertEqual([(p[0], p[2]) for p in self.plugin_prop(plugin, 'Privileges')],
                         [('network', ['host'])])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V2_FILES))

    def test_upgrade_event_once_after_job_finished(self):
        plugin, _ = self.pull_v1()
        self.push_v2()
        plugin_id = self.plugin_prop(plugin, 'Id')
        job, _ = self.upgrade_ok(plugin, self.remote('test/up', 'v2'))
        action, pid, name, obj, ts, attrs = self.assertEventAfterFinished(job, 'upgrade',
                                                                          plugin_id)
        self.assertEqual((name, obj), (self.plugin_prop(plugin, 'Name'), plugin))
        self.assertEqual(attrs['name'], self.plugin_prop(plugin, 'Name'))
        # the upgrade is no "pull": the only one is the first install's
        pulls = [s for s in self.signals_named('PluginEvent') if s[3][0] == 'pull']
        self.assertEqual(len(pulls), 1, 'only the first pull emits "pull": %r' % pulls)

    def test_upgrade_persisted_across_restart(self):
        plugin, _ = self.pull_v1()
        self.set_settings(plugin, {'A': '5'})
        digest2, _, _ = self.push_v2()
        self.upgrade_ok(plugin, self.remote('test/up', 'v2'))
        before = self.get_all(plugin, PLUGIN_IFACE)
        self.restart_daemon()
        self.check_invariants(settle=False)
        self.assertEqual(self.get_plugin(before['Name']), plugin)
        after = self.get_all(plugin, PLUGIN_IFACE)
        for key in ('Id', 'Name', 'Reference', 'ManifestDigest', 'ConfigDigest', 'Env',
                    'Description', 'Privileges', 'Settings', 'UpdateTimestamp',
                    'CreationTimestamp'):
            self.assertEqual(after[key], before[key], key)
        self.assertEqual(after['ManifestDigest'], digest2)
        self.assertEqual(self.plugin_env(plugin), ['A=5', 'C=c'])
        self.assertEqual(after['Reference'], self.remote('test/up', 'v2'))
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V2_FILES))

    def test_created_plugin(self):
        plugin, _ = self.create_ok('test/created', make_context(env_config(('A', '1'))))
        plugin_id = self.plugin_prop(plugin, 'Id')
        before = self.plugin_snapshot(plugin)
        # no registry reference to upgrade from
        self.assertDBusError(ERR + 'InvalidReference', self.upgrade, plugin, '')
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.assertEqual(self.upgrade_jobs(), [])
        # a remote given explicitly works, and becomes the Reference
        self.push_plugin('test/up', 'v2', config=env_config(('A', '2'), ('C', 'c')),
                         files=V2_FILES)
        _, results = self.upgrade_ok(plugin, self.remote('test/up', 'v2'))
        self.assertEqual(results['plugin-id'], plugin_id)
        self.assertEqual(self.plugin_prop(plugin, 'Name'), 'test/created:latest')
        self.assertEqual(self.plugin_prop(plugin, 'Reference'), self.remote('test/up', 'v2'))
        self.assertEqual(self.plugin_env(plugin), ['A=2', 'C=c'])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V2_FILES))

    def test_mount_and_args_overrides_survive_and_count_for_privileges(self):
        mount = {'Name': 'data', 'Description': 'data dir', 'Settable': ['source'],
                 'Source': '/var/lib/up-test', 'Destination': '/data', 'Type': 'bind',
                 'Options': ['rbind', 'rw']}
        args = {'Name': 'args', 'Description': 'arguments', 'Settable': ['value'],
                'Value': ['--v1']}
        cfg1 = env_config(('A', '1'), Mounts=[mount], Args=args)
        cfg2 = env_config(('A', '2'), Mounts=[mount], Args=dict(args, Value=['--v2']))
        self.push_plugin('test/mnt', 'v1', config=cfg1, files=V1_FILES)
        self.push_plugin('test/mnt', 'v2', config=cfg2, files=V2_FILES)
        privileges, _ = self.get_privileges(self.remote('test/mnt', 'v1'))
        plugin, _ = self.pull_ok(self.remote('test/mnt', 'v1'), privileges=privileges)
        self.set_settings(plugin, {'data': '/srv/mine', 'args': '--user one'})
        current = self.plugin_prop(plugin, 'Privileges')
        self.assertEqual([(p[0], p[2]) for p in current], [('mount', ['/srv/mine'])])
        # what GetPrivileges shows for v2 is the default source: the consent must cover the
        # source the upgraded plugin will really mount, so that list is refused
        v2_default, _ = self.get_privileges(self.remote('test/mnt', 'v2'))
        self.assertEqual([(p[0], p[2]) for p in v2_default], [('mount', ['/var/lib/up-test'])])
        before = self.plugin_snapshot(plugin)
        self.upgrade_job_error(ERR + 'PrivilegesMismatch', plugin, self.remote('test/mnt', 'v2'),
                               v2_default)
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.upgrade_ok(plugin, self.remote('test/mnt', 'v2'), current)
        doc = self.inspect(plugin)
        self.assertEqual([m['Source'] for m in doc['Settings']['Mounts']], ['/srv/mine'])
        self.assertEqual(self.plugin_args(plugin), ['--user', 'one'])
        self.assertEqual(self.plugin_env(plugin), ['A=2'])
        self.assertEqual(self.plugin_prop(plugin, 'Privileges'), current)

    def test_config_only_upgrade_reuses_the_layer(self):
        _, _, layers1 = self.push_plugin('test/cfg', 'v1', config=env_config(('A', '1')),
                                         files=V1_FILES)
        plugin, _ = self.pull_ok(self.remote('test/cfg', 'v1'))
        # the same layer, a new config
        digest2, _, layers2 = self.push_plugin('test/cfg', 'v2',
                                               config=env_config(('A', '1'), ('N', 'n'),
                                                                 Description='v2'),
                                               files=V1_FILES)
        self.assertEqual(layers1, layers2)
        job, _ = self.upgrade_ok(plugin, self.remote('test/cfg', 'v2'))
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), digest2)
        self.assertEqual(self.plugin_prop(plugin, 'Description'), 'v2')
        self.assertEqual(self.plugin_env(plugin), ['A=1', 'N=n'])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V1_FILES))
        # the shared layer was not collected with the old manifest
        self.assertIn(sha256_digest(layers1[0]), self.blob_digests())

    def test_expected_digest(self):
        plugin, _ = self.pull_v1()
        digest2, _, _ = self.push_v2()
        before = self.plugin_snapshot(plugin)
        self.upgrade_job_error(ERR + 'DigestMismatch', plugin, self.remote('test/up', 'v2'),
                               options=opts(expected_digest='sha256:' + 'e' * 64))
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.upgrade_ok(plugin, self.remote('test/up', 'v2'),
                        options=opts(expected_digest=digest2))
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), digest2)

    def test_unknown_tag_leaves_plugin_intact(self):
        plugin, _ = self.pull_v1()
        before = self.plugin_snapshot(plugin)
        self.upgrade_job_error(ERR + 'RegistryNotFound', plugin, self.remote('test/up', 'nope'))
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.wait_tmp_empty()

    def test_upgrade_bad_arguments(self):
        plugin, _ = self.pull_v1()
        before = self.plugin_snapshot(plugin)
        self.assertDBusError(ERR + 'InvalidReference', self.upgrade, plugin, 'Not A Reference')
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.upgrade, plugin,
                             self.remote('test/up', 'v2'), options={'bogus': GLib.Variant('b',
                                                                                          True)})
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.upgrade, plugin,
                             self.remote('test/up', 'v2'),
                             options={'restart': GLib.Variant('s', 'yes')})
        self.assertEqual(self.upgrade_jobs(), [])
        self.assertEqual(self.plugin_snapshot(plugin), before)

    def test_push_after_upgrade_and_shared_blob_removal(self):
        # two plugins from the same image; removing one must not take blobs from the other
        # (Docker's GC forgets manifests), and the upgraded one pushes its new manifest
        self.push_plugin('test/up', 'v1', config=env_config(('A', '1'), ('B', 'x')),
                         files=V1_FILES)
        one, _ = self.pull_ok(self.remote('test/up', 'v1'), 'test/one')
        two, res = self.pull_ok(self.remote('test/up', 'v1'), 'test/two')
        self.remove(one)
        self.check_invariants()
        _, results = self.push_ok(two, self.remote('test/copy', 'v1'))
        self.assertEqual(results['manifest-digest'], res['manifest-digest'])
        digest2, _, _ = self.push_v2()
        self.upgrade_ok(two, self.remote('test/up', 'v2'))
        _, results = self.push_ok(two, self.remote('test/copy', 'v2'))
        self.assertEqual(results['manifest-digest'], digest2)
        _, _, got = self.registry_manifest('test/copy', 'v2')
        self.assertEqual(got, digest2)

    def test_wrong_diff_id_leaves_plugin_intact(self):
        plugin, _ = self.pull_v1()
        # a v2 whose config names another diff_id than its layer's
        blob, diff_id, media_type = pd_registry.make_layer(layer_entries(V2_FILES))
        cfg = pd_registry.make_plugin_config(env_config(('A', '2')), ['sha256:' + '0' * 64])
        pd_registry.push_plugin(self.registry.url, 'test/up', 'bad', cfg, [(blob, media_type)])
        before = self.plugin_snapshot(plugin)
        blobs = self.blob_digests()
        self.upgrade_job_error(ERR + 'DigestMismatch', plugin, self.remote('test/up', 'bad'))
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V1_FILES))
        self.wait_tmp_empty()
        self.wait_until(lambda: self.blob_digests() == blobs, 10,
                        'the failed upgrade\'s blobs to be collected')


class UpgradeCrashTests(UpgradePushTestCase):
    """kill -9 at the named points of an upgrade's commit (PLUGIND_CRASH_POINT), then restart:
    the plugin is wholly the old or wholly the new version and the invariants hold."""

    def crash_during_upgrade(self, point):
        self.push_plugin('test/crash', 'v1', config=env_config(('A', '1'), ('B', 'x')),
                         files=V1_FILES)
        self.push_plugin('test/crash', 'v2', config=env_config(('A', '2'), ('C', 'c')),
                         files=V2_FILES)
        plugin, res1 = self.pull_ok(self.remote('test/crash', 'v1'))
        self.set_settings(plugin, {'A': '5'})
        old = self.get_all(plugin, PLUGIN_IFACE)
        self.restart_daemon({'PLUGIND_CRASH_POINT': point})
        try:
            self.upgrade(plugin, self.remote('test/crash', 'v2'))
        except DBusError:
            pass  # the daemon may die before it replies
        rc = self.wait_daemon_death()
        self.assertEqual(rc, -9, 'plugind did not SIGKILL itself at %s' % point)
        self.start_daemon()
        self.check_invariants(settle=False)
        self.assertEqual([p[5] for p in self.list_plugins()], [plugin])
        return plugin, old, self.get_all(plugin, PLUGIN_IFACE)

    def assertOld(self, plugin, old, now):
        for key in ('Id', 'Name', 'Reference', 'ManifestDigest', 'ConfigDigest', 'Env'):
            self.assertEqual(now[key], old[key], key)
        self.assertEqual(self.plugin_env(plugin), ['A=5', 'B=x'])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V1_FILES))

    def assertNew(self, plugin, old, now):
        self.assertEqual(now['Id'], old['Id'])
        self.assertEqual(now['Reference'], self.remote('test/crash', 'v2'))
        self.assertNotEqual(now['ManifestDigest'], old['ManifestDigest'])
        self.assertEqual(now['Env'], ['A', 'C'])
        self.assertEqual(self.plugin_env(plugin), ['A=5', 'C=c'])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V2_FILES))

    def test_crash_before_commit(self):
        self.assertOld(*self.crash_during_upgrade('upgrade-before-commit'))

    def test_crash_before_exchange(self):
        self.assertOld(*self.crash_during_upgrade('store-upgrade-before-exchange'))

    def test_crash_after_exchange(self):
        self.assertNew(*self.crash_during_upgrade('store-upgrade-after-exchange'))


class UpgradeProxyTests(UpgradePushTestCase):
    registry_kind = 'proxy'

    def start_trickled_upgrade(self, repo):
        """Pulls repo:v1 and starts its upgrade to a v2 whose 400 KiB layer the proxy trickles
        at about 20 KiB/s: the download takes 20 s unless cancelled. Returns (plugin, job,
        layer digest, plugin_snapshot() and blob_digests() from before the upgrade) once the
        layer's download has begun."""
        self.push_plugin(repo, 'v1', config=env_config(('A', '1')), files=V1_FILES)
        plugin, _ = self.pull_ok(self.remote(repo, 'v1'))
        files = dict(V2_FILES)
        files['big'] = (os.urandom(400 * 1024), 0o644)
        _, _, layers = self.push_plugin(repo, 'v2', config=env_config(('A', '2')), files=files)
        layer_digest = sha256_digest(layers[0])
        self.proxy.add_fault('GET', '/blobs/' + layer_digest + '$', 'trickle', count=None,
                             chunk=1024, delay=0.05)
        before = self.plugin_snapshot(plugin)
        blobs = self.blob_digests()
        job = self.upgrade(plugin, self.remote(repo, 'v2'))
        self.wait_until(lambda: self.blob_gets(layer_digest), 20, 'the layer download')
        return plugin, job, layer_digest, before, blobs

    def test_privileges_mismatch_downloads_nothing(self):
        self.push_plugin('test/priv', 'v1', config=env_config(('A', '1')), files=V1_FILES)
        plugin, _ = self.pull_ok(self.remote('test/priv', 'v1'))
        _, _, layers = self.push_plugin('test/priv', 'v2',
                                        config=env_config(('A', '2'),
                                                          Network={'Type': 'host'},
                                                          Linux={'Capabilities': ['CAP_SYS_ADMIN'],
                                                                 'AllowAllDevices': False,
                                                                 'Devices': []}),
                                        files=V2_FILES)
        layer_digest = sha256_digest(layers[0])
        manifest2, _, digest2 = self.registry_manifest('test/priv', 'v2')
        config_digest = json.loads(manifest2)['config']['digest']
        before = self.plugin_snapshot(plugin)
        blobs = self.blob_digests()
        del self.proxy.requests[:]

        e, job = self.upgrade_job_error(ERR + 'PrivilegesMismatch', plugin,
                                        self.remote('test/priv', 'v2'))
        self.assertIn('host', e.message)
        self.assertIn('CAP_SYS_ADMIN', e.message)
        # only the manifest and the config were fetched
        self.assertEqual(self.blob_gets(layer_digest), [])
        blob_paths = {r['path'] for r in self.proxy.requests if '/blobs/' in r['path']}
        self.assertLessEqual(blob_paths, {'/v2/test/priv/blobs/' + config_digest}, blob_paths)
        for r in self.proxy.requests:
            self.assertIn(r['method'], ('GET', 'HEAD'), r)
            self.assertTrue(r['path'] in ('/v2/', '/v2/test/priv/manifests/v2',
                                          '/v2/test/priv/manifests/' + digest2,
                                          '/v2/test/priv/blobs/' + config_digest), r)
        # nothing changed
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.wait_tmp_empty()
        self.assertNotIn(layer_digest, self.blob_digests())
        self.wait_until(lambda: self.blob_digests() == blobs, 10,
                        'the config blob of the refused upgrade to be collected')
        # a smaller accepted list is refused the same way
        self.upgrade_job_error(ERR + 'PrivilegesMismatch', plugin,
                               self.remote('test/priv', 'v2'),
                               [('network', '', ['host'])])
        self.assertEqual(self.blob_gets(layer_digest), [])
        self.assertEqual(self.plugin_snapshot(plugin), before)

    def test_corrupt_blob_leaves_plugin_intact(self):
        self.push_plugin('test/bad', 'v1', config=env_config(('A', '1')), files=V1_FILES)
        plugin, _ = self.pull_ok(self.remote('test/bad', 'v1'))
        self.set_settings(plugin, {'A': '5'})
        _, _, layers = self.push_plugin('test/bad', 'v2', config=env_config(('A', '2')),
                                        files=V2_FILES)
        layer_digest = sha256_digest(layers[0])
        self.proxy.add_fault('GET', '/blobs/' + layer_digest + '$', 'corrupt', count=None)
        before = self.plugin_snapshot(plugin)
        blobs = self.blob_digests()
        self.upgrade_job_error((ERR + 'DigestMismatch', ERR + 'InvalidArchive'), plugin,
                               self.remote('test/bad', 'v2'))
        self.assertGreater(len(self.blob_gets(layer_digest)), 0)
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V1_FILES))
        self.assertEqual(self.plugin_env(plugin), ['A=5'])
        self.wait_tmp_empty()
        self.assertNotIn(layer_digest, self.blob_digests())
        self.wait_until(lambda: self.blob_digests() == blobs, 10, 'GC of the failed upgrade')
        # once the registry behaves, the same upgrade works
        self.proxy.clear_faults()
        self.upgrade_ok(plugin, self.remote('test/bad', 'v2'))
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(V2_FILES))

    def test_plugin_busy_during_upgrade(self):
        plugin, job, _, before, _ = self.start_trickled_upgrade('test/busy')
        # one job or state change per plugin at a time
        self.assertDBusError(ERR + 'Busy', self.upgrade, plugin, self.remote('test/busy', 'v2'))
        self.assertDBusError(ERR + 'Busy', self.enable, plugin)
        self.assertDBusError(ERR + 'Busy', self.set_settings, plugin, {'A': '9'})
        self.assertDBusError(ERR + 'Busy', self.remove, plugin)
        self.assertDBusError(ERR + 'Busy', self.push, plugin,
                             {'remote': GLib.Variant('s', self.remote('test/elsewhere', 'v1'))})
        self.assertEqual(self.job_prop(job, 'State'), 'running')
        self.cancel(job)
        self.assertDBusError(ERR + 'JobCancelled', self.wait_job, job)
        self.assertEqual(self.plugin_snapshot(plugin), before)
        # free again
        self.set_settings(plugin, {'A': '9'})

    def test_cancel_during_download_rolls_back(self):
        plugin, job, layer_digest, before, blobs = self.start_trickled_upgrade('test/slow')
        self.wait_until(lambda: any(layer[2] > 0 for layer in self.job_prop(job, 'Layers')), 20,
                        'download progress')
        self.assertEqual(self.job_prop(job, 'Phase'), 'downloading')
        self.assertTrue(self.job_prop(job, 'Cancellable'))
        self.cancel(job)
        self.assertDBusError(ERR + 'JobCancelled', self.wait_job, job)
        self.assertEqual(self.job_prop(job, 'Result'), 'cancelled')
        self.assertEqual(self.plugin_snapshot(plugin), before)
        self.wait_tmp_empty()
        self.wait_until(lambda: self.blob_digests() == blobs, 10, 'GC of the cancelled upgrade')
        # no upgrade event for a cancelled upgrade
        self.assertEqual([s for s in self.signals_named('PluginEvent') if s[3][0] == 'upgrade'],
                         [])


class UpgradeRunningTests(UpgradePushTestCase):
    """The bundled example plugin, pulled from the registry and running in its sandbox."""

    def setUp(self):
        super().setUp()
        with open(EXAMPLE_BINARY, 'rb') as f:
            binary = f.read()
        with open(EXAMPLE_CONFIG) as f:
            self.example_config = json.load(f)
        self.v1_files = {'plugind-example': (binary, 0o755), 'VERSION': (b'1\n', 0o644)}
        self.v2_files = {'plugind-example': (binary, 0o755), 'VERSION': (b'2\n', 0o644)}
        cfg2 = json.loads(json.dumps(self.example_config))
        cfg2['Description'] = 'plugind example volume plugin, version 2'
        cfg2['Env'].append(env_var('NEWVAR', 'new'))
        self.push_plugin('test/example', 'v1', config=self.example_config,
                         files=self.v1_files)
        self.push_plugin('test/example', 'v2', config=cfg2, files=self.v2_files)
        remote = self.remote('test/example', 'v1')
        privileges, _ = self.get_privileges(remote)
        self.plugin, _ = self.pull_ok(remote, privileges=privileges)
        self.data_dir = tempfile.mkdtemp(prefix='example-data-', dir=self.tmpdir)
        self.set_settings(self.plugin, {'data': self.data_dir, 'DEBUG': '1'})

    def version(self):
        with open(os.path.join(self.rootfs(self.plugin), 'VERSION'), 'rb') as f:
            return f.read()

    def privileges(self):
        return self.plugin_prop(self.plugin, 'Privileges')

    def test_running_plugin_needs_restart(self):
        self.enable(self.plugin)
        pid = self.plugin_prop(self.plugin, 'MainPID')
        before = self.plugin_snapshot(self.plugin)
        self.assertDBusError(ERR + 'PluginEnabled', self.upgrade, self.plugin,
                             self.remote('test/example', 'v2'), self.privileges())
        self.assertEqual(self.upgrade_jobs(), [])
        self.assertEqual(self.plugin_prop(self.plugin, 'State'), 'running')
        self.assertEqual(self.plugin_prop(self.plugin, 'MainPID'), pid)
        self.assertEqual(self.plugin_snapshot(self.plugin), before)
        self.disable(self.plugin)

    def test_restart_upgrades_a_running_plugin(self):
        self.enable(self.plugin)
        sock = self.plugin_prop(self.plugin, 'Socket')
        status, reply = plugin_call(sock, 'VolumeDriver.Create', {'Name': 'vol1', 'Opts': {}})
        self.assertEqual((status, reply.get('Err', '')), (200, ''))
        old_pid = self.plugin_prop(self.plugin, 'MainPID')
        plugin_id = self.plugin_prop(self.plugin, 'Id')
        self.assertEqual(self.version(), b'1\n')

        job, results = self.upgrade_ok(self.plugin, self.remote('test/example', 'v2'),
                                       self.privileges(), options=opts(restart=True))
        self.assertEqual(results['plugin-id'], plugin_id)
        props = self.get_all(self.plugin, PLUGIN_IFACE)
        self.assertEqual(props['State'], 'running')
        self.assertTrue(props['Enabled'])
        self.assertNotEqual(props['MainPID'], 0)
        self.assertNotEqual(props['MainPID'], old_pid)
        self.assertEqual(props['Description'], 'plugind example volume plugin, version 2')
        self.assertEqual(self.plugin_env(self.plugin), ['DEBUG=1', 'NEWVAR=new'])
        self.assertEqual(self.version(), b'2\n')
        # the upgraded plugin serves, with the data of the old one (the mount source was kept)
        status, reply = plugin_call(props['Socket'], 'VolumeDriver.List')
        self.assertEqual(status, 200)
        self.assertEqual([v['Name'] for v in reply['Volumes']], ['vol1'])
        status, reply = plugin_call(props['Socket'], 'VolumeDriver.Create',
                                    {'Name': 'vol2', 'Opts': {}})
        self.assertEqual((status, reply.get('Err', '')), (200, ''))
        self.assertTrue(os.path.isdir(os.path.join(self.data_dir, 'volumes', 'vol2')))
        self.assertEventAfterFinished(job, 'upgrade', plugin_id)
        self.disable(self.plugin)

    def test_restart_upgrade_persists_enabled(self):
        self.enable(self.plugin)
        self.upgrade_ok(self.plugin, self.remote('test/example', 'v2'), self.privileges(),
                        options=opts(restart=True))
        self.assertTrue(self.record(self.plugin)['enabled'])
        self.restart_daemon()
        # the upgraded version starts with the daemon
        self.wait_until(lambda: self.plugin_prop(self.plugin, 'State') == 'running', 30,
                        'the plugin to start with the daemon')
        self.assertEqual(self.version(), b'2\n')
        self.assertEqual(self.plugin_env(self.plugin), ['DEBUG=1', 'NEWVAR=new'])
        status, _ = plugin_call(self.plugin_prop(self.plugin, 'Socket'), 'VolumeDriver.List')
        self.assertEqual(status, 200)
        self.disable(self.plugin)

    def test_push_running_plugin(self):
        self.enable(self.plugin)
        pid = self.plugin_prop(self.plugin, 'MainPID')
        _, results = self.push_ok(self.plugin, self.remote('test/example-copy', 'v1'))
        self.assertEqual(results['manifest-digest'],
                         self.plugin_prop(self.plugin, 'ManifestDigest'))
        self.assertEqual(self.plugin_prop(self.plugin, 'State'), 'running')
        self.assertEqual(self.plugin_prop(self.plugin, 'MainPID'), pid)
        self.disable(self.plugin)

    def test_restart_option_on_a_stopped_plugin(self):
        # "restart" on a plugin that does not run: upgraded, and still not running
        self.upgrade_ok(self.plugin, self.remote('test/example', 'v2'), self.privileges(),
                        options=opts(restart=True))
        props = self.get_all(self.plugin, PLUGIN_IFACE)
        self.assertEqual(props['State'], 'disabled')
        self.assertFalse(props['Enabled'])
        self.assertEqual(self.version(), b'2\n')

    def test_failed_upgrade_keeps_a_usable_plugin(self):
        # a v3 whose layer does not match the config's diff_id
        blob, _, media_type = pd_registry.make_layer(layer_entries(self.v2_files))
        cfg = pd_registry.make_plugin_config(self.example_config, ['sha256:' + '1' * 64])
        pd_registry.push_plugin(self.registry.url, 'test/example', 'v3', cfg,
                                [(blob, media_type)])
        before = self.plugin_snapshot(self.plugin)
        self.upgrade_job_error(ERR + 'DigestMismatch', self.plugin,
                               self.remote('test/example', 'v3'), self.privileges())
        self.assertEqual(self.plugin_snapshot(self.plugin), before)
        self.assertEqual(self.version(), b'1\n')
        self.wait_tmp_empty()
        # and it still runs
        self.enable(self.plugin)
        status, reply = plugin_call(self.plugin_prop(self.plugin, 'Socket'), 'VolumeDriver.List')
        self.assertEqual(status, 200)
        self.disable(self.plugin)

    def test_failed_restart_upgrade_keeps_it_running(self):
        blob, _, media_type = pd_registry.make_layer(layer_entries(self.v2_files))
        cfg = pd_registry.make_plugin_config(self.example_config, ['sha256:' + '1' * 64])
        pd_registry.push_plugin(self.registry.url, 'test/example', 'v3', cfg,
                                [(blob, media_type)])
        self.enable(self.plugin)
        pid = self.plugin_prop(self.plugin, 'MainPID')
        self.upgrade_job_error(ERR + 'DigestMismatch', self.plugin,
                               self.remote('test/example', 'v3'), self.privileges(),
                               options=opts(restart=True))
        # the plugin is stopped only right before the commit: it never stopped
        self.assertEqual(self.plugin_prop(self.plugin, 'State'), 'running')
        self.assertEqual(self.plugin_prop(self.plugin, 'MainPID'), pid)
        self.assertEqual(self.version(), b'1\n')
        status, _ = plugin_call(self.plugin_prop(self.plugin, 'Socket'), 'VolumeDriver.List')
        self.assertEqual(status, 200)
        self.disable(self.plugin)


# ---------------------------------------------------------------------------------------------
# Push


PUSH_FILES = {
    'bin/hello': (b'#!/bin/sh\necho pushed\n', 0o755),
    'etc/motd': (b'pushed by plugind\n', 0o644),
}


def skopeo(*args, check=True):
    p = subprocess.run(['skopeo'] + list(args), capture_output=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError('skopeo %s failed (%d): %s' % (' '.join(args), p.returncode,
                                                            p.stderr.decode(errors='replace')))
    return p


class PushTests(UpgradePushTestCase):

    def create_plugin(self, name='test/local', files=PUSH_FILES, config=None):
        plugin, _ = self.create_ok(name, make_context(config or env_config(('A', '1')),
                                                      files=files),
                                   options=opts(grant_all_privileges=True))
        return plugin

    def test_push_created_plugin(self):
        plugin = self.create_plugin()
        target = self.remote('test/pushed', 'v1')
        job, results = self.push_ok(plugin, target)
        self.assertEqual(results['reference'], target)
        self.assertEqual(results['manifest-digest'], self.plugin_prop(plugin, 'ManifestDigest'))
        self.assertRegex(results['manifest-digest'], HEX_DIGEST)
        self.assertEqual(self.job_prop(job, 'Operation'), 'push')
        self.assertEqual(self.job_prop(job, 'Remote'), target)
        self.assertEqual(self.job_prop(job, 'PluginName'), 'test/local:latest')

        data, media_type, digest = self.registry_manifest('test/pushed', 'v1')
        self.assertEqual(digest, results['manifest-digest'])
        self.assertEqual(sha256_digest(data), results['manifest-digest'])
        self.assertEqual(results['size'], len(data))
        self.assertEqual(data, self.read_blob(results['manifest-digest']))
        self.assertEqual(media_type, pd_registry.MT_MANIFEST)
        manifest = json.loads(data)
        self.assertEqual(manifest['schemaVersion'], 2)
        self.assertEqual(manifest['mediaType'], pd_registry.MT_MANIFEST)
        self.assertEqual(manifest['config']['mediaType'], pd_registry.MT_PLUGIN_CONFIG)
        self.assertEqual(manifest['config']['digest'], self.plugin_prop(plugin, 'ConfigDigest'))
        self.assertEqual(len(manifest['layers']), 1)
        self.assertEqual(manifest['layers'][0]['mediaType'], pd_registry.MT_LAYER_GZIP)
        # by digest too, and the blobs are there with their sizes
        by_digest, _, _ = self.registry_manifest('test/pushed', results['manifest-digest'])
        self.assertEqual(by_digest, data)
        for desc in [manifest['config']] + manifest['layers']:
            status, headers, _ = pd_registry._http_request(
                'HEAD', '%s/v2/test/pushed/blobs/%s' % (self.registry.url, desc['digest']))
            self.assertEqual(status, 200, desc)
            self.assertEqual(int(headers['Content-Length']), desc['size'])
            self.assertEqual(desc['size'], os.path.getsize(self.blob_path(desc['digest'])))
        # skopeo reads the same bytes
        out = skopeo('inspect', '--raw', '--tls-verify=false',
                     'docker://%s/test/pushed:v1' % self.host).stdout
        self.assertEqual(out, data)

    def test_push_statuses_and_event(self):
        plugin = self.create_plugin()
        plugin_id = self.plugin_prop(plugin, 'Id')
        job, results = self.push_ok(plugin, self.remote('test/pushed', 'v1'))
        manifest = json.loads(self.read_blob(results['manifest-digest']))
        descs = [manifest['config']] + manifest['layers']
        self.assertEqual(self.job_prop(job, 'Layers'),
                         [(d['digest'], 'complete', d['size'], d['size']) for d in descs])
        total = sum(d['size'] for d in descs)
        self.assertEqual(self.job_prop(job, 'BytesTotal'), total)
        self.assertEqual(self.job_prop(job, 'BytesDone'), total)
        action, pid, name, obj, ts, attrs = self.assertEventAfterFinished(job, 'push', plugin_id)
        self.assertEqual((name, obj), ('test/local:latest', plugin))
        self.assertEqual(attrs['name'], 'test/local:latest')

        # the same again: everything already exists
        job2, results2 = self.push_ok(plugin, self.remote('test/pushed', 'v1'))
        self.assertEqual(results2['manifest-digest'], results['manifest-digest'])
        self.assertEqual(self.job_prop(job2, 'Layers'),
                         [(d['digest'], 'exists', d['size'], d['size']) for d in descs])

    def test_skopeo_copy_then_pull(self):
        plugin = self.create_plugin()
        _, results = self.push_ok(plugin, self.remote('test/pushed', 'v1'))
        # skopeo (checked with 1.9.3) copies a plugin as it is, with no extra flag: it treats the
        # unknown config media type as an opaque blob, does not convert the schema 2 manifest
        # and writes it byte for byte, so the digest is kept (no --preserve-digests needed)
        skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false',
               'docker://%s/test/pushed:v1' % self.host,
               'docker://%s/test/copied:v1' % self.host)
        copied, _, copied_digest = self.registry_manifest('test/copied', 'v1')
        self.assertEqual(copied_digest, results['manifest-digest'])
        self.assertEqual(json.loads(copied)['config']['mediaType'], pd_registry.MT_PLUGIN_CONFIG)
        pulled, res = self.pull_ok(self.remote('test/copied', 'v1'), 'test/again')
        self.assertEqual(res['manifest-digest'], copied_digest)
        self.assertEqual(self.plugin_prop(pulled, 'ConfigDigest'),
                         self.plugin_prop(plugin, 'ConfigDigest'))
        self.assertEqual(tree(self.rootfs(pulled)), tree(self.rootfs(plugin)))
        self.assertEqual(tree(self.rootfs(pulled)), expected_tree(PUSH_FILES))

    def test_push_pull_round_trip(self):
        plugin = self.create_plugin(config=env_config(('A', '1'), Network={'Type': 'host'}))
        _, results = self.push_ok(plugin, self.remote('test/round', 'v7'))
        remote = self.remote('test/round', 'v7')
        privileges, _ = self.get_privileges(remote)
        self.assertEqual(privileges, self.plugin_prop(plugin, 'Privileges'))
        pulled, res = self.pull_ok(remote, 'test/roundtrip', privileges=privileges)
        self.assertNotEqual(pulled, plugin)
        self.assertEqual(res['manifest-digest'], results['manifest-digest'])
        self.assertEqual(self.plugin_prop(pulled, 'ManifestDigest'),
                         self.plugin_prop(plugin, 'ManifestDigest'))
        self.assertEqual(self.plugin_prop(pulled, 'ConfigDigest'),
                         self.plugin_prop(plugin, 'ConfigDigest'))
        self.assertEqual(self.plugin_prop(pulled, 'Reference'), remote)
        self.assertEqual(self.plugin_env(pulled), ['A=1'])
        self.assertEqual(tree(self.rootfs(pulled)), tree(self.rootfs(plugin)))
        a, b = self.inspect(plugin), self.inspect(pulled)
        self.assertEqual(a['Config'], b['Config'])

    def test_push_pulled_plugin_keeps_the_manifest(self):
        digest, _, _ = self.push_plugin('test/orig', 'v1', config=env_config(('A', '1')))
        plugin, _ = self.pull_ok(self.remote('test/orig', 'v1'))
        # the default target is the plugin's Reference: the same manifest, the same digest
        job, results = self.push_ok(plugin)
        self.assertEqual(results['reference'], self.remote('test/orig', 'v1'))
        self.assertEqual(results['manifest-digest'], digest)
        self.assertEqual(self.job_prop(job, 'Remote'), self.remote('test/orig', 'v1'))
        # to another repository: byte-identical manifest
        _, results = self.push_ok(plugin, self.remote('test/other', 'x'))
        self.assertEqual(results['manifest-digest'], digest)
        data, _, got = self.registry_manifest('test/other', 'x')
        self.assertEqual(got, digest)
        self.assertEqual(data, self.read_blob(digest))

    def test_push_default_target_is_the_name(self):
        # a created plugin named after the registry: Push without "remote" goes there
        name = '%s/test/named:v2' % self.host
        plugin = self.create_plugin(name)
        job, results = self.push_ok(plugin)
        self.assertEqual(results['reference'], name)
        _, _, digest = self.registry_manifest('test/named', 'v2')
        self.assertEqual(digest, results['manifest-digest'])

    def test_push_to_digest_is_invalid(self):
        plugin = self.create_plugin()
        o = {'remote': GLib.Variant('s', '%s/test/pushed@sha256:%s' % (self.host, 'a' * 64))}
        self.assertDBusError(ERR + 'InvalidReference', self.push, plugin, o)
        o = {'remote': GLib.Variant('s', '%s/test/pushed:v1@sha256:%s' % (self.host, 'a' * 64))}
        self.assertDBusError(ERR + 'InvalidReference', self.push, plugin, o)
        o = {'remote': GLib.Variant('s', 'Not A Reference')}
        self.assertDBusError(ERR + 'InvalidReference', self.push, plugin, o)
        self.assertEqual(self.upgrade_jobs(), [])

    def test_push_unknown_option(self):
        plugin = self.create_plugin()
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.push, plugin,
                             {'bogus': GLib.Variant('b', True)})
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.push, plugin,
                             {'remote': GLib.Variant('b', True)})


class PushProxyTests(UpgradePushTestCase):
    registry_kind = 'proxy'

    def test_cross_repository_mount(self):
        _, _, layers = self.push_plugin('test/src', 'v1', config=env_config(('A', '1')))
        plugin, res = self.pull_ok(self.remote('test/src', 'v1'))
        manifest = json.loads(self.read_blob(res['manifest-digest']))
        digests = [manifest['config']['digest']] + [l['digest'] for l in manifest['layers']]
        self.assertEqual(manifest['layers'][0]['digest'], sha256_digest(layers[0]))
        del self.proxy.requests[:]
        job, results = self.push_ok(plugin, self.remote('test/dst', 'v1'))
        reqs = list(self.proxy.requests)
        summary = ['%s %s?%s' % (r['method'], r['path'], r['query']) for r in reqs]
        for d in digests:
            mounts = [r for r in reqs if r['method'] == 'POST' and
                      r['path'] == '/v2/test/dst/blobs/uploads/' and
                      urllib.parse.parse_qs(r['query']) == {'mount': [d], 'from': ['test/src']}]
            self.assertEqual(len(mounts), 1, 'no mount of %s: %s' % (d, summary))
            self.assertEqual(mounts[0]['status'], 201, summary)
        # no blob bytes sent
        self.assertEqual([r for r in reqs if r['method'] == 'PATCH'], [], summary)
        self.assertEqual([r for r in reqs if r['method'] == 'PUT' and '/blobs/' in r['path']],
                         [], summary)
        self.assertEqual([r['path'] for r in reqs if r['method'] == 'PUT'],
                         ['/v2/test/dst/manifests/v1'], summary)
        self.assertEqual(results['manifest-digest'], res['manifest-digest'])
        self.assertEqual([l[1] for l in self.job_prop(job, 'Layers')], ['exists'] * len(digests))
        # and the target is complete: plugind pulls it
        pulled, _ = self.pull_ok(self.remote('test/dst', 'v1'), 'test/fromdst')
        self.assertEqual(tree(self.rootfs(pulled)), tree(self.rootfs(plugin)))

    def test_push_again_uploads_nothing(self):
        plugin, _ = self.create_ok('test/local', make_context(env_config(('A', '1')),
                                                               files=PUSH_FILES))
        job1, results1 = self.push_ok(plugin, self.remote('test/again', 'v1'))
        first = list(self.proxy.requests)
        self.assertTrue([r for r in first if r['method'] == 'PUT' and '/blobs/' in r['path']])
        del self.proxy.requests[:]
        job2, results2 = self.push_ok(plugin, self.remote('test/again', 'v1'))
        reqs = list(self.proxy.requests)
        summary = ['%s %s?%s %s' % (r['method'], r['path'], r['query'], r['status'])
                   for r in reqs]
        self.assertEqual(results2, results1)
        manifest = json.loads(self.read_blob(results1['manifest-digest']))
        digests = [manifest['config']['digest']] + [l['digest'] for l in manifest['layers']]
        heads = [r for r in reqs if r['method'] == 'HEAD']
        self.assertEqual(sorted(r['path'] for r in heads),
                         sorted('/v2/test/again/blobs/' + d for d in digests), summary)
        self.assertTrue(all(r['status'] == 200 for r in heads), summary)
        self.assertEqual([r for r in reqs if r['method'] in ('POST', 'PATCH')], [], summary)
        self.assertEqual([r['path'] for r in reqs if r['method'] == 'PUT'],
                         ['/v2/test/again/manifests/v1'], summary)
        self.assertEqual([(l[0], l[1]) for l in self.job_prop(job2, 'Layers')],
                         [(d, 'exists') for d in digests])

    def test_push_retries_server_errors(self):
        plugin, _ = self.create_ok('test/local', make_context(env_config(('A', '1')),
                                                               files=PUSH_FILES))
        # one 503 on the first blob PUT and one on the manifest PUT: both are retried
        blob_put = self.proxy.add_fault('PUT', '/blobs/uploads/', 'status', count=1, status=503)
        manifest_put = self.proxy.add_fault('PUT', '/manifests/', 'status', count=1, status=503)
        _, results = self.push_ok(plugin, self.remote('test/retry', 'v1'))
        self.assertEqual((blob_put.hits, manifest_put.hits), (1, 1))
        _, _, digest = self.registry_manifest('test/retry', 'v1')
        self.assertEqual(digest, results['manifest-digest'])
        pulled, _ = self.pull_ok(self.remote('test/retry', 'v1'), 'test/retried')
        self.assertEqual(tree(self.rootfs(pulled)), expected_tree(PUSH_FILES))

    def test_push_manifest_rejected(self):
        plugin, _ = self.create_ok('test/local', make_context(env_config(('A', '1')),
                                                               files=PUSH_FILES))
        plugin_id = self.plugin_prop(plugin, 'Id')
        body = json.dumps({'errors': [{'code': 'MANIFEST_INVALID',
                                       'message': 'manifest invalid',
                                       'detail': 'no plugins here'}]}).encode()
        self.proxy.add_fault('PUT', '/manifests/', 'status', count=None, status=400, body=body)
        before = self.snapshot_files()
        e, job = self.push_job_error(ERR + 'RegistryError', plugin,
                                     self.remote('test/rejected', 'v1'))
        self.assertIn('manifest invalid', e.message)
        self.assertEqual(self.job_prop(job, 'ErrorMessage'), e.message)
        self.assertEqual([s for s in self.signals_named('PluginEvent') if s[3][0] == 'push' and
                          s[3][1] == plugin_id], [])
        self.assertEqual(self.snapshot_files(), before)
        with self.assertRaises(pd_registry.RegistryError):
            self.registry_manifest('test/rejected', 'v1')

    def test_big_plugin_chunked_upload(self):
        big = os.urandom(40 * 1024 * 1024)
        files = {'bin/hello': PUSH_FILES['bin/hello'], 'data/big.bin': (big, 0o644)}
        plugin, _ = self.create_ok('test/big', make_context(env_config(('A', '1')),
                                                             files=files))
        manifest = json.loads(self.read_blob(self.plugin_prop(plugin, 'ManifestDigest')))
        layer = manifest['layers'][0]
        self.assertGreater(layer['size'], 2 * CHUNK)
        del self.proxy.requests[:]
        # the first chunk's answer waits longer than the job's progress interval (250 ms), so
        # a progress signal shows the layer uploading however fast the rest goes
        self.proxy.add_fault('PATCH', '/blobs/uploads/', 'trickle', count=1, pause=1.0)
        job, results = self.push_ok(plugin, self.remote('test/big', 'v1'))
        reqs = list(self.proxy.requests)
        summary = ['%s %s %s' % (r['method'], r['path'], r['headers'].get('content-range'))
                   for r in reqs]
        patches = [r for r in reqs if r['method'] == 'PATCH']
        n_chunks = -(-layer['size'] // CHUNK)
        self.assertEqual(len(patches), n_chunks, summary)
        offset = 0
        for r in patches:
            self.assertRegex(r['path'], r'^/v2/test/big/blobs/uploads/')
            length = min(CHUNK, layer['size'] - offset)
            self.assertEqual(r['headers'].get('content-range'),
                             '%d-%d' % (offset, offset + length - 1), summary)
            self.assertEqual(int(r['headers'].get('content-length')), length, summary)
            self.assertEqual(r['status'], 202, summary)
            offset += length
        self.assertEqual(offset, layer['size'])
        puts = [r for r in reqs if r['method'] == 'PUT' and '/blobs/uploads/' in r['path']]
        # the small config monolithic, the layer closed by a PUT with the digest and no body
        by_digest = {urllib.parse.parse_qs(r['query'])['digest'][0]: r for r in puts}
        self.assertEqual(set(by_digest), {manifest['config']['digest'], layer['digest']})
        self.assertEqual(int(by_digest[layer['digest']]['headers'].get('content-length', '0')),
                         0)
        self.assertEqual(int(by_digest[manifest['config']['digest']]['headers']
                             ['content-length']), manifest['config']['size'])
        self.assertEqual(by_digest[layer['digest']]['status'], 201)
        # the job showed the upload going on
        changes = [s[3][1]['Layers'] for s in self.signals_named('PropertiesChanged', job)
                   if s[3][0] == JOB_IFACE and 'Layers' in s[3][1]]
        seen = {(l[0], l[1]) for change in changes for l in change}
        self.assertIn((layer['digest'], 'uploading'), seen, changes)
        self.assertEqual(self.job_prop(job, 'Layers')[-1],
                         (layer['digest'], 'complete', layer['size'], layer['size']))
        # and it comes back identical
        pulled, _ = self.pull_ok(self.remote('test/big', 'v1'), 'test/bigcopy')
        self.assertEqual(sha256_file(os.path.join(self.rootfs(pulled), 'data/big.bin')),
                         hashlib.sha256(big).hexdigest())
        self.assertEqual(tree(self.rootfs(pulled)), tree(self.rootfs(plugin)))


class ManagerPushTests(UpgradePushTestCase):
    """Manager.Push: the plugin's Push reached by a name, full ID or unique ID prefix; a
    recording proxy in front of the registry sees every request."""
    registry_kind = 'proxy'

    def create_plugin(self, name='test/local'):
        plugin, _ = self.create_ok(name, make_context(env_config(('A', '1')), files=PUSH_FILES))
        return plugin

    def test_manager_push_by_name_id_and_prefix(self):
        plugin = self.create_plugin()
        plugin_id = self.plugin_prop(plugin, 'Id')
        digest = self.plugin_prop(plugin, 'ManifestDigest')
        for i, key in enumerate(('test/local', 'test/local:latest', plugin_id, plugin_id[:12])):
            with self.subTest(key=key):
                target = self.remote('test/bymanager', 'v%d' % i)
                job, results = self.manager_push_ok(key, target)
                # what Plugin.Push gives: the job, its Results, the event, the registry's copy
                self.assertEqual(results, {'reference': target, 'manifest-digest': digest,
                                           'size': results['size']})
                self.assertEqual(self.job_prop(job, 'Operation'), 'push')
                self.assertEqual(self.job_prop(job, 'Remote'), target)
                self.assertEqual(self.job_prop(job, 'Plugin'), plugin)
                self.assertEqual(self.job_prop(job, 'PluginName'), 'test/local:latest')
                self.assertEqual(self.job_prop(job, 'Result'), 'done')
                self.assertEqual([l[1] for l in self.job_prop(job, 'Layers')],
                                 ['complete' if i == 0 else 'exists'] * 2)
                data, _, got = self.registry_manifest('test/bymanager', 'v%d' % i)
                self.assertEqual(got, digest)
                self.assertEqual(len(data), results['size'])
        events = [s for s in self.signals_named('PluginEvent')
                  if s[3][0] == 'push' and s[3][1] == plugin_id]
        self.assertEqual(len(events), 4, events)
        # and Plugin.Push of the same plugin gives the same answer
        _, results = self.push_ok(plugin, self.remote('test/bymanager', 'v0'))
        self.assertEqual(results['manifest-digest'], digest)

    def test_manager_push_default_target(self):
        # "" is the plugin's Reference, else its name, as Plugin.Push without "remote"
        name = '%s/test/named:v2' % self.host
        plugin = self.create_plugin(name)
        _, results = self.manager_push_ok(self.plugin_prop(plugin, 'Id')[:8], '')
        self.assertEqual(results['reference'], name)
        _, _, digest = self.registry_manifest('test/named', 'v2')
        self.assertEqual(digest, results['manifest-digest'])

    def test_manager_push_errors_reach_no_registry(self):
        plugin = self.create_plugin()
        plugin_id = self.plugin_prop(plugin, 'Id')
        target = self.remote('test/never', 'v1')
        del self.proxy.requests[:]
        jobs = self.list_jobs()
        absent = 'f' * 64 if not plugin_id.startswith('f') else '0' * 64
        for key in ('test/unknown', 'test/local:other', absent, absent[:12], ''):
            with self.subTest(key=key):
                e = self.assertDBusError(ERR + 'NoSuchPlugin', self.manager_push, key, target)
                self.assertNotIn(plugin_id, e.message)
        # the plugin's own checks: options, target
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.manager_push, 'test/local', target,
                             {'bogus': GLib.Variant('b', True)})
        # the remote is an argument here, not an option
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.manager_push, 'test/local', target,
                             {'remote': GLib.Variant('s', target)})
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.manager_push, 'test/local', target,
                             {'registry-auth': GLib.Variant('b', True)})
        for bad in ('%s/test/never@sha256:%s' % (self.host, 'a' * 64), 'Not A Reference'):
            self.assertDBusError(ERR + 'InvalidReference', self.manager_push, 'test/local', bad)
        self.assertEqual(self.list_jobs(), jobs)
        self.assertEqual(list(self.proxy.requests), [], 'a refused call reached the registry')

    def test_manager_push_busy_while_a_job_works_on_the_plugin(self):
        plugin = self.create_plugin()
        # the push's first request answered 503 with Retry-After: its job waits meanwhile
        fault = self.proxy.add_fault(None, '/v2/', 'status', count=1, status=503,
                                     headers={'Retry-After': '3'})
        job = self.manager_push('test/local', self.remote('test/slow', 'v1'))
        self.wait_until(lambda: fault.hits == 1, msg='the push to reach the registry')
        self.assertDBusError(ERR + 'Busy', self.manager_push, 'test/local',
                             self.remote('test/other', 'v1'))
        self.assertDBusError(ERR + 'Busy', self.push, plugin,
                             {'remote': GLib.Variant('s', self.remote('test/other', 'v1'))})
        self.cancel(job)
        self.assertRaises(DBusError, self.wait_job, job)
        self.assertEqual(self.job_prop(job, 'Result'), 'cancelled')

    def test_nobody_denied_before_any_registry_request(self):
        plugin = self.create_plugin()
        plugin_id = self.plugin_prop(plugin, 'Id')
        del self.proxy.requests[:]
        state = self.snapshot_state()
        jobs = self.list_jobs()
        target = self.remote('test/nobody', 'v1')
        for key in ('test/local', plugin_id, plugin_id[:12]):
            for interactive in (False, True):
                with self.subTest(key=key, interactive=interactive):
                    self.assertNobodyDenied(MANAGER_PATH, MANAGER_IFACE, 'Push', 'ssa{sv}',
                                            "('%s', '%s', @a{sv} {})" % (key, target),
                                            interactive=interactive)
        self.assertEqual(list(self.proxy.requests), [], 'a denied call reached the registry')
        self.assertEqual(self.snapshot_state(), state)
        self.assertEqual(self.list_jobs(), jobs)
        with self.assertRaises(pd_registry.RegistryError):
            self.registry_manifest('test/nobody', 'v1')

    def test_same_polkit_details_as_plugin_push(self):
        """A rule that lets nobody push only with every detail Plugin.Push passes, each
        checked: Manager.Push by ID prefix passes it too, and a push elsewhere does not."""
        plugin = self.create_plugin()
        plugin_id = self.plugin_prop(plugin, 'Id')
        token = uuid.uuid4().hex[:12]
        repo = 'test/rule-' + token
        target = self.remote(repo, 'v1')
        self.grant_nobody_push({'plugin': 'test/local:latest', 'plugin_id': plugin_id,
                                'operation': 'push', 'remote': target,
                                'registry': self.host}, token)
        manager_args = "('%s', '%s', @a{sv} {})" % (plugin_id[:10], target)

        def manager_push():
            return self.nobody_call(MANAGER_PATH, MANAGER_IFACE, 'Push', 'ssa{sv}',
                                    manager_args, reply='(o)')

        # polkitd picks the rule up within a moment: until then nobody is denied
        self.wait_until(lambda: manager_push()[1] is None, timeout=20,
                        msg='polkitd to load the test rule')
        jobs = [j for j in self.list_jobs() if j[1] == 'push']
        self.assertEqual(len(jobs), 1, jobs)
        results = self.wait_job(jobs[0][5])
        self.assertEqual(results['reference'], target)
        self.assertEqual(self.job_prop(jobs[0][5], 'StartedByUID'), pwd.getpwnam('nobody').pw_uid)
        # the plugin's own Push passes the same rule
        self.assertNobodyAllowed(plugin, PLUGIN_IFACE, 'Push', 'a{sv}',
                                 "({'remote': <'%s'>},)" % target, reply='(o)')
        # another target: a detail differs, denied
        self.assertNobodyDenied(MANAGER_PATH, MANAGER_IFACE, 'Push', 'ssa{sv}',
                                "('%s', '%s', @a{sv} {})" % (plugin_id, self.remote(repo, 'v2')))
        self.wait_all_jobs()

    def grant_nobody_push(self, details, token):
        """A polkit rule that lets nobody push when every detail is as given."""
        conds = ''.join('        action.lookup(%s) == %s &&\n' % (json.dumps(k), json.dumps(v))
                        for k, v in sorted(details.items()))
        rule = ('polkit.addRule(function(action, subject) {\n'
                '    if (action.id == "org.plugind.plugind1.push" &&\n%s'
                '        subject.user == "nobody")\n'
                '        return polkit.Result.YES;\n'
                '    return polkit.Result.NOT_HANDLED;\n'
                '});\n' % conds)
        self.add_polkit_rule(token, rule)


class PushHtpasswdTests(UpgradePushTestCase):
    registry_kind = 'htpasswd'

    def test_push_with_and_without_credentials(self):
        plugin, _ = self.create_ok('test/local', make_context(env_config(('A', '1')),
                                                               files=PUSH_FILES))
        target = self.remote('test/secret', 'v1')
        e, _ = self.push_job_error(ERR + 'RegistryUnauthorized', plugin, target, options={})
        self.assertIn('without credentials', e.message)
        with self.assertRaises(pd_registry.RegistryError) as cm:
            self.registry_manifest('test/secret', 'v1')
        self.assertEqual(cm.exception.status, 404)
        # a wrong password
        self.push_job_error(ERR + 'RegistryUnauthorized', plugin, target,
                            options={'registry-auth': GLib.Variant(
                                's', registry_auth('alice', 'not-her-password'))})
        _, results = self.push_ok(plugin, target)
        _, _, digest = self.registry_manifest('test/secret', 'v1')
        self.assertEqual(digest, results['manifest-digest'])
        # Manager.Push: the same credentials option, the same errors
        job = self.manager_push('test/local', self.remote('test/secret', 'v2'), {})
        self.assertRaises(DBusError, self.wait_job, job)
        self.assertEqual(self.job_prop(job, 'ErrorName'), ERR + 'RegistryUnauthorized')
        _, results = self.manager_push_ok('test/local', self.remote('test/secret', 'v2'))
        self.assertEqual(results['manifest-digest'], digest)


class PushTokenTests(UpgradePushTestCase):
    registry_kind = 'token'

    def test_push_asks_the_plugin_scope(self):
        plugin, _ = self.create_ok('test/local', make_context(env_config(('A', '1')),
                                                               files=PUSH_FILES))
        del self.token_server.requests[:]
        _, results = self.push_ok(plugin, self.remote('test/tok', 'v1'))
        reqs = list(self.token_server.requests)
        self.assertTrue(reqs, 'no token request')
        self.assertEqual(reqs[0]['scopes'], ['repository(plugin):test/tok:pull,push'], reqs)
        self.assertEqual(reqs[0]['status'], 200)
        self.assertEqual(reqs[0]['user'], 'alice')
        # one token does for the whole push
        self.assertEqual(len(reqs), 1, reqs)
        _, _, digest = self.registry_manifest('test/tok', 'v1')
        self.assertEqual(digest, results['manifest-digest'])


if __name__ == '__main__':
    main()
