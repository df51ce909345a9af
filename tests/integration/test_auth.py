#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Authorization with the real polkitd: root is allowed; nobody (setpriv) is denied on every
mutating method with no side effect, and can still read everything."""

import fcntl
import json
import os
import struct
import subprocess
import termios
import tempfile
import xml.etree.ElementTree as ET

import pd_registry

from pd_testcase import (BUILDDIR, DENIED, JOB_IFACE, MANAGER_IFACE, MANAGER_PATH, PLUGIN_IFACE,
                         PROPS_IFACE, ROOT_PATH, SRCDIR, PlugindTestCase, main,
                         make_context, merged_policy_path, opts, plugin_config)

from gi.repository import Gio, GLib  # noqa: E402

AUTH_CONFIG = plugin_config(
    Mounts=[{'Name': 'data', 'Description': 'data dir', 'Settable': ['source'],
             'Source': '/srv', 'Destination': '/data', 'Type': 'bind', 'Options': ['rbind']}])


def auth_table():
    """The daemon's authorization table (plugind --dump-auth-table): {(interface, method):
    rule}, each rule with its access, action and escalations."""
    out = subprocess.run([os.path.join(BUILDDIR, 'src', 'daemon', 'plugind'),
                          '--dump-auth-table'], check=True, capture_output=True).stdout
    return {(r['interface'], r['method']): r for r in json.loads(out)}


def decisions():
    """Every method of the table: either one anyone may call (READ_ONLY; it shows some
    callers more, at most), or one a polkit action authorizes (MUTATING: that action, and the
    stronger ones some calls need)."""
    table = auth_table()
    read_only = {m for m, r in table.items() if r['access'] in ('anyone', 'anyone-shows-more')}
    mutating = {m: (r['action'],) + tuple(e['action'] for e in r['escalations'])
                for m, r in table.items() if m not in read_only}
    return read_only, mutating


def introspect_methods(test, path):
    """The (interface, method) pairs of plugind's interfaces at @path, as introspection lists
    them."""
    xml = test.call(path, 'org.freedesktop.DBus.Introspectable', 'Introspect', None, '(s)')[0]
    node = Gio.DBusNodeInfo.new_for_xml(xml)
    return {(iface.name, m.name) for iface in node.interfaces
            if iface.name.startswith('org.plugind.') for m in iface.methods}


def start_example_plugin(test):
    """The example plugin, a real one, enabled: its path. Disable and Hold need a running
    plugin, or they fail before authorization."""
    with open(os.path.join(BUILDDIR, 'example', 'plugind-example-context.tar.gz'), 'rb') as f:
        path, _ = test.create_ok('plugind/example', f.read(),
                                 options=opts(grant_all_privileges=True))
    data_dir = os.path.join(test.tmpdir, 'example-data')
    os.makedirs(data_dir)
    test.set_settings(path, {'data': data_dir})
    test.call(path, PLUGIN_IFACE, 'Enable', GLib.Variant('(a{sv})', ({},)), timeout_ms=60000)
    return path


# actions a remote or inactive session keeps once authenticated (auth_admin_keep), so that the
# lookup before an install or upgrade and the call itself take one password
KEPT_OUTSIDE_ACTIVE = {'org.plugind.plugind1.install', 'org.plugind.plugind1.upgrade'}
# the test of this file that proves the denial of each mutating method
DENIAL_TESTS = {
    (MANAGER_IFACE, 'Create'): 'test_nobody_create_denied',
    (MANAGER_IFACE, 'Pull'): 'test_nobody_registry_methods_denied',
    (MANAGER_IFACE, 'GetPrivileges'): 'test_nobody_registry_methods_denied',
    (MANAGER_IFACE, 'Push'): 'test_nobody_registry_methods_denied',
    (PLUGIN_IFACE, 'Upgrade'): 'test_nobody_registry_methods_denied',
    (PLUGIN_IFACE, 'Push'): 'test_nobody_registry_methods_denied',
    (PLUGIN_IFACE, 'Set'): 'test_nobody_set_denied',
    (PLUGIN_IFACE, 'Remove'): 'test_nobody_remove_denied',
    (PLUGIN_IFACE, 'Enable'): 'test_nobody_run_methods_denied',
    (PLUGIN_IFACE, 'Disable'): 'test_nobody_run_methods_denied',
    (PLUGIN_IFACE, 'OpenLog'): 'test_nobody_run_methods_denied',
    (PLUGIN_IFACE, 'ReadLog'): 'test_nobody_run_methods_denied',
    (PLUGIN_IFACE, 'GetSettingValues'): 'test_nobody_get_setting_values_denied',
    (PLUGIN_IFACE, 'Hold'): 'test_nobody_run_methods_denied',
    (JOB_IFACE, 'Cancel'): 'test_nobody_cancel_denied',
}


class AuthTests(PlugindTestCase):

    def setUp(self):
        super().setUp()
        self.path, res = self.create_ok('test/auth', make_context(AUTH_CONFIG),
                                        options=opts(grant_all_privileges=True))
        self.pid = res['plugin-id']
        self.record = os.path.join(self.plugin_dir(self.pid), 'plugin.json')

    def record_bytes(self):
        with open(self.record, 'rb') as f:
            return f.read()

    def assertNoJobStarted(self, jobs_before):
        self.assertEqual(self.list_jobs(), jobs_before)  # also a round trip: signals are in
        self.assertEqual(self.wire_index(lambda m: m[1] == 'JobNew' and
                                         m[0] == Gio.DBusMessageType.SIGNAL and
                                         m[4][1] not in {j[5] for j in jobs_before}), -1,
                         'a job was started')

    # -- reads ----------------------------------------------------------------------------

    def test_nobody_can_read(self):
        listed = self.assertNobodyAllowed(MANAGER_PATH, MANAGER_IFACE, 'ListPlugins', 'a{sv}',
                                          '(@a{sv} {},)')
        self.assertEqual([p[0] for p in listed[0]], [self.pid])
        got = self.assertNobodyAllowed(MANAGER_PATH, MANAGER_IFACE, 'GetPlugin', 's',
                                       "('test/auth',)")
        self.assertEqual(got[0], self.path)
        doc = self.assertNobodyAllowed(self.path, PLUGIN_IFACE, 'Inspect')
        self.assertIn('"Name"', doc[0])
        name = self.assertNobodyAllowed(self.path, PROPS_IFACE, 'Get', 'ss',
                                        "('%s', 'Name')" % PLUGIN_IFACE)
        self.assertEqual(name[0], 'test/auth:latest')
        props = self.assertNobodyAllowed(self.path, PROPS_IFACE, 'GetAll', 's',
                                         "('%s',)" % PLUGIN_IFACE)
        self.assertEqual(props[0]['Id'], self.pid)
        self.assertNobodyAllowed(MANAGER_PATH, MANAGER_IFACE, 'ListJobs')
        objs = self.assertNobodyAllowed(ROOT_PATH, 'org.freedesktop.DBus.ObjectManager',
                                        'GetManagedObjects')
        self.assertIn(self.path, objs[0])
        self.assertNobodyAllowed(MANAGER_PATH, PROPS_IFACE, 'GetAll', 's',
                                 "('%s',)" % MANAGER_IFACE)
        # anyone may observe a job (udisks): Wait on root's lingering job
        job = [j for j in self.list_jobs()][0][5]
        res = self.assertNobodyAllowed(job, JOB_IFACE, 'Wait')
        self.assertEqual(res[0]['plugin-id'], self.pid)

    # -- mutating methods -----------------------------------------------------------------

    def test_nobody_create_denied(self):
        data = make_context()
        cases = [
            ('install, non-interactive', "('test/nobody', handle 0, @a(ssas) [], @a{sv} {})",
             False),
            ('install, interactive flag', "('test/nobody', handle 0, @a(ssas) [], @a{sv} {})",
             True),
            ('install, interactive option',
             "('test/nobody', handle 0, @a(ssas) [], {'interactive': <true>})", False),
            ('install-privileged', "('test/nobody', handle 0, @a(ssas) [], "
             "{'grant-all-privileges': <true>})", False),
            ('install-privileged, accepted list',
             "('test/nobody', handle 0, [('network', '', ['host'])], @a{sv} {})", False),
        ]
        jobs = self.list_jobs()
        state = self.snapshot_state()
        for label, args, interactive in cases:
            with self.subTest(case=label):
                r, w = os.pipe()
                os.write(w, data)
                os.close(w)
                try:
                    self.assertNobodyDenied(MANAGER_PATH, MANAGER_IFACE, 'Create',
                                            'sha(ssas)a{sv}', args, fd=r,
                                            interactive=interactive)
                    # authorization comes before reading the fd: the context is still unread
                    left = b''
                    while True:
                        chunk = os.read(r, 65536)
                        if not chunk:
                            break
                        left += chunk
                    self.assertEqual(len(left), len(data), 'the daemon read a denied context')
                finally:
                    os.close(r)
                self.assertNoJobStarted(jobs)
        self.assertEqual([p[0] for p in self.list_plugins()], [self.pid])
        self.assertEqual(self.snapshot_state(), state)

    def test_nobody_set_denied(self):
        record = self.record_bytes()
        props = self.get_all(self.path, PLUGIN_IFACE)
        for label, args, interactive in (
                ('set', "([('DEBUG', '9')], @a{sv} {})", False),
                ('set, interactive', "([('DEBUG', '9')], {'interactive': <true>})", False),
                ('set, interactive flag', "([('args', '-x')], @a{sv} {})", True),
                ('set-privileged', "([('data', '/etc')], @a{sv} {})", False),
                ('set-privileged, interactive', "([('data.source', '/')], @a{sv} {})", True)):
            with self.subTest(case=label):
                self.assertNobodyDenied(self.path, PLUGIN_IFACE, 'Set', 'a(ss)a{sv}', args,
                                        interactive=interactive)
                self.assertEqual(self.get_all(self.path, PLUGIN_IFACE), props)
                self.assertEqual(self.record_bytes(), record)
        self.assertEqual([s for s in self.signals_named('PluginEvent') if s[3][0] == 'set'], [])
        # root still may, including the privileged change
        self.set_settings(self.path, {'DEBUG': '9', 'data': '/etc'})
        self.assertIn('DEBUG=9', self.plugin_env(self.path))

    def test_nobody_get_setting_values_denied(self):
        self.set_settings(self.path, {'DEBUG': 'pa55word', 'args': '--key k3y'})
        for interactive, args in ((False, '(@a{sv} {},)'),
                                  (True, '(@a{sv} {},)'),
                                  (False, "({'interactive': <true>},)")):
            with self.subTest(interactive=interactive, args=args):
                err = self.assertNobodyDenied(self.path, PLUGIN_IFACE, 'GetSettingValues',
                                              'a{sv}', args, interactive=interactive)
                self.assertNotIn('pa55word', err.message)
                self.assertNotIn('k3y', err.message)
        # root may
        self.assertEqual(self.setting_values(self.path), (['DEBUG=pa55word'], ['--key', 'k3y']))

    def test_nobody_remove_denied(self):
        state = self.snapshot_state()
        for interactive, args in ((False, '(@a{sv} {},)'),
                                  (True, "({'force': <true>},)"),
                                  (False, "({'interactive': <true>},)")):
            with self.subTest(interactive=interactive, args=args):
                self.assertNobodyDenied(self.path, PLUGIN_IFACE, 'Remove', 'a{sv}', args,
                                        interactive=interactive)
        self.assertEqual([p[0] for p in self.list_plugins()], [self.pid])
        self.assertEqual(self.plugin_prop(self.path, 'Name'), 'test/auth:latest')
        self.assertEqual(self.snapshot_state(), state)
        self.assertEqual([s for s in self.signals_named('PluginEvent')
                          if s[3][0] == 'remove'], [])
        self.remove(self.path)  # root may
        self.assertEqual(self.list_plugins(), [])

    def test_nobody_registry_methods_denied(self):
        """GetPrivileges, Pull, Upgrade and Push (the Manager's and the plugin's): denied before
        any request reaches the registry (a recording proxy in front of a real one sees
        nothing), no state change."""
        with tempfile.TemporaryDirectory() as work, \
                pd_registry.Registry(work) as registry, \
                pd_registry.FaultProxy(registry.url) as proxy:
            remote = '%s/test/auth:latest' % proxy.host
            state = self.snapshot_state()
            jobs = self.list_jobs()
            cases = [
                (MANAGER_PATH, MANAGER_IFACE, 'GetPrivileges', 'sa{sv}',
                 "('%s', @a{sv} {})" % remote),
                # asked as the install or upgrade that follows: nothing more for nobody
                (MANAGER_PATH, MANAGER_IFACE, 'GetPrivileges', 'sa{sv}',
                 "('%s', {'authorize': <'install'>})" % remote),
                (MANAGER_PATH, MANAGER_IFACE, 'GetPrivileges', 'sa{sv}',
                 "('%s', {'authorize': <'upgrade'>, 'upgrade': <'test/auth'>})" % remote),
                (MANAGER_PATH, MANAGER_IFACE, 'Pull', 'ssa(ssas)a{sv}',
                 "('%s', '', @a(ssas) [], @a{sv} {})" % remote),
                (MANAGER_PATH, MANAGER_IFACE, 'Pull', 'ssa(ssas)a{sv}',
                 "('%s', 'x', @a(ssas) [], {'grant-all-privileges': <true>})" % remote),
                (self.path, PLUGIN_IFACE, 'Upgrade', 'sa(ssas)a{sv}',
                 "('%s', @a(ssas) [], @a{sv} {})" % remote),
                (self.path, PLUGIN_IFACE, 'Upgrade', 'sa(ssas)a{sv}',
                 "('%s', @a(ssas) [], {'grant-all-privileges': <true>})" % remote),
                (self.path, PLUGIN_IFACE, 'Upgrade', 'sa(ssas)a{sv}',
                 "('%s', [('mount', '', ['/srv'])], {'settings': <[('DEBUG', '1')]>})" % remote),
                (self.path, PLUGIN_IFACE, 'Push', 'a{sv}', "({'remote': <'%s'>},)" % remote),
                (MANAGER_PATH, MANAGER_IFACE, 'Push', 'ssa{sv}',
                 "('test/auth', '%s', @a{sv} {})" % remote),
                (MANAGER_PATH, MANAGER_IFACE, 'Push', 'ssa{sv}',
                 "('%s', '%s', @a{sv} {})" % (self.pid[:12], remote)),
            ]
            for path, iface, method, signature, args in cases:
                for interactive in (False, True):
                    with self.subTest(method=method, args=args, interactive=interactive):
                        self.assertNobodyDenied(path, iface, method, signature, args,
                                                interactive=interactive)
            self.assertEqual(proxy.requests, [], 'a denied call reached the registry')
            self.assertEqual(self.snapshot_state(), state)
            self.assertEqual(self.list_jobs(), jobs)

    def test_nobody_run_methods_denied(self):
        """Enable, Disable, OpenLog, ReadLog and Hold: denied with no state change, and no
        process."""
        state = self.snapshot_state()
        for interactive in (False, True):
            with self.subTest(method='Enable', interactive=interactive):
                self.assertNobodyDenied(self.path, PLUGIN_IFACE, 'Enable', 'a{sv}',
                                        '(@a{sv} {},)', interactive=interactive)
                self.assertEqual(self.plugin_prop(self.path, 'State'), 'disabled')
                self.assertEqual(self.plugin_prop(self.path, 'MainPID'), 0)
            with self.subTest(method='OpenLog', interactive=interactive):
                self.assertNobodyDenied(self.path, PLUGIN_IFACE, 'OpenLog', 'a{sv}',
                                        "({'follow': <true>},)", interactive=interactive)
            with self.subTest(method='ReadLog', interactive=interactive):
                self.assertNobodyDenied(self.path, PLUGIN_IFACE, 'ReadLog', 'a{sv}',
                                        "({'lines': <@u 5>},)", interactive=interactive)
        self.assertEqual(self.snapshot_state(), state)
        self.assertEqual([s for s in self.signals_named('PluginEvent')
                          if s[3][0] in ('enable', 'disable')], [])
        path = start_example_plugin(self)
        main_pid = self.plugin_prop(path, 'MainPID')
        for interactive in (False, True):
            with self.subTest(method='Disable', interactive=interactive):
                self.assertNobodyDenied(path, PLUGIN_IFACE, 'Disable', 'a{sv}',
                                        "({'force': <true>},)", interactive=interactive)
            with self.subTest(method='Hold', interactive=interactive):
                self.assertNobodyDenied(path, PLUGIN_IFACE, 'Hold', 'ss',
                                        "('nobody', 'trying')", interactive=interactive)
        self.assertEqual(self.plugin_prop(path, 'State'), 'running')
        self.assertEqual(self.plugin_prop(path, 'MainPID'), main_pid)
        self.assertEqual(self.plugin_prop(path, 'Holders'), [])
        self.call(path, PLUGIN_IFACE, 'Disable', GLib.Variant('(a{sv})', ({},)),
                  timeout_ms=60000)

    def test_nobody_cancel_denied(self):
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            job = self.create('test/root-job', fd=r)
        finally:
            os.close(r)
        try:
            self.wait_until(lambda: self.job_prop(job, 'State') == 'running', msg='running')
            for interactive in (False, True):
                with self.subTest(interactive=interactive):
                    self.assertNobodyDenied(job, JOB_IFACE, 'Cancel', 'a{sv}', '(@a{sv} {},)',
                                            interactive=interactive)
                    self.assertEqual(self.job_prop(job, 'State'), 'running')
                    self.assertEqual(self.job_prop(job, 'Result'), '')
            os.write(w, make_context())
        finally:
            os.close(w)
        results = self.wait_job(job)
        self.assertEqual(self.plugin_prop(results['plugin'], 'Name'), 'test/root-job:latest')

    # -- completeness -------------------------------------------------------------------

    def test_every_method_has_a_decision(self):
        """Every exported method is on the read-only list or has a polkit action (and a denial
        test above); the merged policy defines every action, none allowed to anyone."""
        read_only, mutating = decisions()
        job = self.list_jobs()[0][5]
        exported = set()
        for path in (MANAGER_PATH, self.path, job):
            exported |= introspect_methods(self, path)
        self.assertTrue(exported)
        for method in sorted(exported):
            self.assertTrue(method in read_only or method in mutating,
                            '%s.%s has neither an action nor a place on the read-only list' %
                            method)
        # the interface XML files list the same methods
        declared = set()
        for f in ('Manager', 'Plugin', 'Job'):
            with open(os.path.join(SRCDIR, 'data', 'org.plugind.Plugind1.%s.xml' % f)) as fh:
                node = Gio.DBusNodeInfo.new_for_xml(fh.read())
            for iface in node.interfaces:
                for m in iface.methods:
                    declared.add((iface.name, m.name))
        self.assertEqual(exported, declared)
        # and the table has no rule for a method that does not exist
        self.assertEqual(read_only | set(mutating), declared)

        policy = ET.parse(merged_policy_path()).getroot()
        actions = {}
        for a in policy.findall('action'):
            d = a.find('defaults')
            actions[a.get('id')] = {c.tag: (c.text or '').strip() for c in d} if d is not None \
                else {}
        for method, ids in mutating.items():
            self.assertIn(method, DENIAL_TESTS)
            self.assertTrue(hasattr(self, DENIAL_TESTS[method]))
            for action in ids:
                self.assertIn(action, actions, 'no polkit action %s' % action)
                for k in ('allow_any', 'allow_inactive'):
                    self.assertEqual(actions[action].get(k),
                                     'auth_admin_keep' if action in KEPT_OUTSIDE_ACTIVE
                                     else 'auth_admin',
                                     '%s %s' % (action, k))
        for action in ('org.plugind.plugind1.install-privileged',
                       'org.plugind.plugind1.set-privileged'):
            self.assertEqual(actions[action].get('allow_active'), 'auth_admin')


# A harmless call of every method, as nobody: the object it goes to ('manager'; 'plugin', a
# disabled plugin; 'running', a running one; 'finished', a finished job; 'job', a running one),
# the signature and the arguments. The arguments are valid and the object's state lets the call
# reach its authorization, so the answer is the table's: a denial, or what a read shows.
REMOTE = '127.0.0.1:9/test/every:latest'
HARMLESS = {
    (MANAGER_IFACE, 'GetPlugin'): ('manager', 's', "('test/every',)"),
    (MANAGER_IFACE, 'ListPlugins'): ('manager', 'a{sv}', '(@a{sv} {},)'),
    (MANAGER_IFACE, 'ListJobs'): ('manager', '', '()'),
    (MANAGER_IFACE, 'GetPrivileges'): ('manager', 'sa{sv}', "('%s', @a{sv} {})" % REMOTE),
    (MANAGER_IFACE, 'Pull'): ('manager', 'ssa(ssas)a{sv}',
                              "('%s', 'test/nobody', @a(ssas) [], @a{sv} {})" % REMOTE),
    (MANAGER_IFACE, 'Create'): ('manager', 'sha(ssas)a{sv}',
                                "('test/nobody', handle 0, @a(ssas) [], @a{sv} {})"),
    (PLUGIN_IFACE, 'Enable'): ('plugin', 'a{sv}', '(@a{sv} {},)'),
    (PLUGIN_IFACE, 'Disable'): ('running', 'a{sv}', '(@a{sv} {},)'),
    (PLUGIN_IFACE, 'OpenLog'): ('plugin', 'a{sv}', '(@a{sv} {},)'),
    (PLUGIN_IFACE, 'ReadLog'): ('plugin', 'a{sv}', '(@a{sv} {},)'),
    (PLUGIN_IFACE, 'Hold'): ('running', 'ss', "('nobody', 'every method')"),
    (PLUGIN_IFACE, 'Set'): ('plugin', 'a(ss)a{sv}', "([('DEBUG', '9')], @a{sv} {})"),
    (PLUGIN_IFACE, 'Upgrade'): ('plugin', 'sa(ssas)a{sv}', "('%s', @a(ssas) [], @a{sv} {})" %
                                REMOTE),
    (PLUGIN_IFACE, 'Push'): ('plugin', 'a{sv}', "({'remote': <'%s'>},)" % REMOTE),
    (MANAGER_IFACE, 'Push'): ('manager', 'ssa{sv}', "('test/every', '%s', @a{sv} {})" % REMOTE),
    (PLUGIN_IFACE, 'Remove'): ('plugin', 'a{sv}', '(@a{sv} {},)'),
    (PLUGIN_IFACE, 'Inspect'): ('plugin', '', '()'),
    (PLUGIN_IFACE, 'GetSettingValues'): ('plugin', 'a{sv}', '(@a{sv} {},)'),
    (JOB_IFACE, 'Wait'): ('finished', '', '()'),
    (JOB_IFACE, 'Cancel'): ('job', 'a{sv}', '(@a{sv} {},)'),
}


class EveryMethodTests(PlugindTestCase):
    """As nobody, every method introspection lists on the Manager, a plugin and a job answers
    with a denial or with the table's read-only answer, and changes nothing."""

    def test_nobody_calls_every_method(self):
        table = auth_table()
        objects = {'manager': MANAGER_PATH}
        objects['plugin'], res = self.create_ok('test/every', make_context(AUTH_CONFIG),
                                                options=opts(grant_all_privileges=True))
        objects['finished'] = [j[5] for j in self.list_jobs()][0]
        objects['running'] = start_example_plugin(self)
        # a job that runs until its context comes: Cancel only reaches its authorization on
        # a running job
        job_r, job_w = os.pipe2(os.O_CLOEXEC)
        try:
            objects['job'] = self.create('test/every-job', fd=job_r)
        finally:
            os.close(job_r)
        try:
            self.wait_until(lambda: self.job_prop(objects['job'], 'Phase') == 'reading-archive',
                            msg='the job reading its context')
            self.check_every_method(table, objects)
        finally:
            os.write(job_w, make_context())
            os.close(job_w)
        self.wait_job(objects['job'])

    def check_every_method(self, table, objects):
        methods = set()
        for key in ('manager', 'plugin', 'finished'):
            methods |= introspect_methods(self, objects[key])
        self.assertEqual(introspect_methods(self, objects['running']),
                         introspect_methods(self, objects['plugin']))
        self.assertEqual(introspect_methods(self, objects['job']),
                         introspect_methods(self, objects['finished']))
        self.assertEqual(len(methods), len(table))
        watched = [(objects[k], PLUGIN_IFACE) for k in ('plugin', 'running')] + \
                  [(objects[k], JOB_IFACE) for k in ('finished', 'job')]
        props = {p: self.get_all(p, iface) for p, iface in watched}
        jobs = self.list_jobs()
        state = self.snapshot_state()
        n_signals = len(self.signals_named('PluginEvent')) + len(self.signals_named('JobNew'))

        for method in sorted(methods):
            self.assertIn(method, table, '%s.%s has no rule' % method)
            self.assertIn(method, HARMLESS, 'give %s.%s a harmless call here' % method)
            target, signature, args = HARMLESS[method]
            path = objects[target]
            access = table[method]['access']
            with self.subTest(method='%s.%s' % method, access=access):
                fd = None
                if 'h' in signature:
                    data = make_context()
                    fd, w = os.pipe()
                    os.write(w, data)
                    os.close(w)
                try:
                    result, err = self.nobody_call(path, method[0], method[1], signature, args,
                                                   fd=fd)
                    # a context is read only once the caller is authorized
                    if fd is not None:
                        unread = struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'\0' * 4))
                        self.assertEqual(unread[0], len(data))
                finally:
                    if fd is not None:
                        os.close(fd)
                if access in ('action', 'action-unless-owner'):
                    self.assertIsNotNone(err, 'nobody may call %s.%s: %r' % (method + (result,)))
                    self.assertIn(err.name, DENIED, err)
                    continue
                self.assertIsNone(err, 'nobody got %s from %s.%s' % ((err,) + method))
                root = self.call(path, method[0], method[1],
                                 GLib.Variant.parse(GLib.VariantType('(' + signature + ')'),
                                                    args, None, None) if signature else None)
                if access == 'anyone':
                    self.assertEqual(json.loads(json.dumps(result)),
                                     json.loads(json.dumps(list(root))))
                else:
                    # the same document, with the values root sees hidden
                    self.assertEqual(access, 'anyone-shows-more')
                    mine, roots = json.loads(result[0]), json.loads(root[0])
                    self.assertEqual(mine['Id'], roots['Id'])
                    self.assertEqual([e.split('=')[0] for e in mine['Settings']['Env']],
                                     [e.split('=')[0] for e in roots['Settings']['Env']])
                    self.assertNotEqual(mine['Settings']['Env'], roots['Settings']['Env'])

        # nothing changed: the state dir, the jobs, the objects, no event
        self.assertEqual(self.snapshot_state(), state)
        self.assertEqual(self.list_jobs(), jobs)
        self.assertEqual({p: self.get_all(p, iface) for p, iface in watched}, props)
        self.assertEqual(len(self.signals_named('PluginEvent')) +
                         len(self.signals_named('JobNew')), n_signals)


class RootAuthTests(PlugindTestCase):
    """Root is allowed on every mutating method, with and without the interactive flag."""

    def test_root_allowed(self):
        path, _ = self.create_ok('test/root', make_context(AUTH_CONFIG),
                                 options=opts(grant_all_privileges=True),
                                 flags=Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION)
        self.set_settings(path, {'data': '/var'})
        self.set_settings(path, {'DEBUG': '3'}, opts(interactive=True))
        self.remove(path, opts(interactive=False))
        self.assertEqual(self.list_plugins(), [])


if __name__ == '__main__':
    main()
