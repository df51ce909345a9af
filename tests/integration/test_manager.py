#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Manager: Create (fd kinds, compressions, config and archive validation, privileges, names),
GetPlugin and ListPlugins."""

import os
import socket
import stat
import tarfile
import threading
import uuid

from pd_testcase import (DBUS_ERR, ERR, HEX64, MANAGER_IFACE, ROOT_PATH, DBusError, GLib,
                         PlugindTestCase, main, make_context, opts, plugin_config)

PRIVILEGED_CONFIG = plugin_config(
    Network={'Type': 'host'},
    Mounts=[{'Name': 'data', 'Description': 'data dir', 'Settable': ['source'],
             'Source': '/srv', 'Destination': '/data', 'Type': 'bind',
             'Options': ['rbind', 'ro']}],
    Linux={'Capabilities': ['CAP_SYS_ADMIN'], 'AllowAllDevices': False,
           'Devices': [{'Name': 'fuse', 'Description': 'fuse device', 'Settable': ['path'],
                        'Path': '/dev/fuse'}]},
)

# Docker's computePrivileges for PRIVILEGED_CONFIG, in Docker's order
PRIVILEGED_PRIVS = [
    ('network', 'permissions to access a network', ['host']),
    ('mount', 'host path to mount', ['/srv']),
    ('device', 'host device to access', ['/dev/fuse']),
    ('capabilities', 'list of additional capabilities required', ['CAP_SYS_ADMIN']),
]


def norm_privs(privs):
    return sorted((p[0], tuple(sorted(p[2]))) for p in privs)


class CreateTests(PlugindTestCase):

    def assertCreated(self, path, results, name):
        self.assertTrue(path.startswith(ROOT_PATH + '/plugin/'), path)
        pid = path.rsplit('/', 1)[1]
        self.assertRegex(pid, HEX64)
        self.assertEqual(results['plugin-id'], pid)
        self.assertEqual(self.plugin_prop(path, 'Name'), name)
        self.assertEqual(self.plugin_prop(path, 'Id'), pid)
        self.assertEqual(results['manifest-digest'], self.plugin_prop(path, 'ManifestDigest'))
        rootfs = os.path.join(self.plugin_dir(pid), 'rootfs')
        with open(os.path.join(rootfs, 'bin', 'hello'), 'rb') as f:
            self.assertEqual(f.read(), b'#!/bin/sh\necho hello\n')
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(rootfs, 'bin', 'hello')).st_mode),
                         0o755)
        with open(os.path.join(rootfs, 'etc', 'motd'), 'rb') as f:
            self.assertEqual(f.read(), b'plugind test rootfs\n')
        self.assertEqual(self.get_plugin(name), path)
        return pid

    def test_create_from_regular_file(self):
        path, results = self.create_ok('test/plain')
        self.assertCreated(path, results, 'test/plain:latest')
        self.assertEqual(self.plugin_prop(path, 'Enabled'), False)

    def test_create_from_pipe(self):
        path, results = self.create_ok('test/piped:v1', how='pipe')
        self.assertCreated(path, results, 'test/piped:v1')

    def test_create_from_socket(self):
        # a socket is accepted so that a Docker-compatible socket can stream an HTTP body
        data = make_context()
        a, b = socket.socketpair()

        def feed():
            b.sendall(data)
            b.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        try:
            job = self.create('test/socket', fd=a.fileno())
        finally:
            a.close()
        results = self.wait_job(job)
        t.join()
        b.close()
        self.assertCreated(results['plugin'], results, 'test/socket:latest')

    def test_create_gzip_context(self):
        path, results = self.create_ok('test/gz', make_context(compression='gz'))
        self.assertCreated(path, results, 'test/gz:latest')

    def test_create_xz_context(self):
        path, results = self.create_ok('test/xz', make_context(compression='xz'))
        self.assertCreated(path, results, 'test/xz:latest')

    def test_features(self):
        features = self.get_prop(ROOT_PATH + '/Manager', MANAGER_IFACE, 'Features')
        for f in ('create', 'inspect-json', 'setting-values', 'compression:gzip',
                  'compression:xz', 'option:grant-all-privileges', 'option:interactive'):
            self.assertIn(f, features)

    def test_plugin_exists(self):
        self.create_ok('test/dup')
        before = self.list_plugins()
        for name in ('test/dup', 'test/dup:latest', 'docker.io/test/dup:latest'):
            with self.subTest(name=name):
                e, _ = self.create_expect_error(ERR + 'PluginExists', name)
                self.assertIn('test/dup:latest', e.message)
        self.assertEqual(self.list_plugins(), before)
        # another tag is another plugin
        self.create_ok('test/dup:v2')
        self.assertEqual(len(self.list_plugins()), 2)

    def test_invalid_reference(self):
        for name in ('Test/Upper', 'test/x@sha256:' + 'a' * 64, '', 'test/x:bad tag',
                     'test//x'):
            with self.subTest(name=name):
                self.create_expect_error(ERR + 'InvalidReference', name)
        self.assertEqual(self.list_plugins(), [])

    def test_unknown_option(self):
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.create, 'test/opt',
                                 options=opts(no_such_option=True))
        self.assertIn('no-such-option', e.message)
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.create, 'test/opt',
                                 options=opts(grant_all_privileges='yes'))
        self.assertIn('grant-all-privileges', e.message)
        self.assertEqual(self.list_jobs(), [])
        self.assertEqual(self.list_plugins(), [])

    # -- config validation -------------------------------------------------------------

    def test_invalid_config(self):
        bad_mount = {'Name': 'm', 'Description': '', 'Settable': [], 'Source': '/srv',
                     'Destination': 'relative', 'Type': 'bind', 'Options': ['rbind']}
        cases = [
            # (label, config or raw bytes, words one of which the message must contain)
            ('not json', b'{"Description": ', ['json', 'config']),
            ('trailing value', b'{"Entrypoint": ["/bin/hello"]} {}', ['json', 'config',
                                                                       'trailing']),
            ('entrypoint type', plugin_config(Entrypoint='/bin/hello'), ['entrypoint']),
            ('empty entrypoint', plugin_config(Entrypoint=[]), ['entrypoint']),
            ('option-like entrypoint', plugin_config(Entrypoint=['--help']), ['entrypoint']),
            ('socket with ..', plugin_config(Interface={'Types': ['docker.volumedriver/1.0'],
                                                        'Socket': '../evil.sock'}), ['socket']),
            ('socket with /', plugin_config(Interface={'Types': ['docker.volumedriver/1.0'],
                                                       'Socket': 'a/b.sock'}), ['socket']),
            ('socket too long', plugin_config(Interface={'Types': ['docker.volumedriver/1.0'],
                                                         'Socket': 'a' * 120 + '.sock'}),
             ['socket']),
            ('relative mount destination', plugin_config(Mounts=[bad_mount]), ['destination']),
            ('.. mount destination', plugin_config(Mounts=[dict(bad_mount,
                                                                Destination='/mnt/../etc')]),
             ['destination']),
            ('relative workdir', plugin_config(WorkDir='bin'), ['workdir']),
            ('unknown capability', plugin_config(Linux={'Capabilities': ['CAP_NOPE'],
                                                        'AllowAllDevices': False,
                                                        'Devices': []}), ['cap_nope']),
            ('device outside /dev', plugin_config(Linux={
                'Capabilities': [], 'AllowAllDevices': False,
                'Devices': [{'Name': 'd', 'Description': '', 'Settable': [],
                             'Path': '/etc/shadow'}]}), ['device', '/etc/shadow']),
            ('duplicate key', b'{"Description": "a", "Description": "b", '
             b'"Entrypoint": ["/bin/hello"], "Interface": {"Types": [], "Socket": "s.sock"}}',
             ['description', 'duplicate']),
            ('NUL in a string', plugin_config(Description='a\u0000b'), ['description']),
            ('bool as string', plugin_config(IpcHost='true'), ['ipchost']),
        ]
        for label, cfg, words in cases:
            with self.subTest(case=label):
                if isinstance(cfg, bytes):
                    data = make_context(config_bytes=cfg)
                else:
                    data = make_context(cfg)
                e, _ = self.create_expect_error(ERR + 'InvalidConfig', 'test/badcfg', data,
                                                options=opts(grant_all_privileges=True))
                self.assertTrue(any(w in e.message.lower() for w in words),
                                'message %r names none of %r' % (e.message, words))
        self.assertEqual(self.list_plugins(), [])

    def test_lowercase_keys_accepted(self):
        # Go's decoder matches keys case-insensitively: Docker's documented spelling works
        raw = (b'{"description": "lower", "documentation": "", "entrypoint": ["/bin/hello"],'
               b' "workdir": "/", "interface": {"types": ["docker.volumedriver/1.0"],'
               b' "socket": "s.sock"}, "env": [{"name": "X", "description": "",'
               b' "settable": ["value"], "value": "1"}]}')
        path, _ = self.create_ok('test/lower', make_context(config_bytes=raw))
        self.assertEqual(self.plugin_prop(path, 'Description'), 'lower')
        self.assertEqual(self.plugin_env(path), ['X=1'])

    # -- archive validation ------------------------------------------------------------

    def test_invalid_archive_missing_rootfs(self):
        e, _ = self.create_expect_error(ERR + 'InvalidArchive', 'test/norootfs',
                                        make_context(omit_rootfs=True))
        self.assertIn('rootfs', e.message)
        self.assertEqual(self.list_plugins(), [])

    def test_invalid_archive_missing_config(self):
        # a missing config.json is as much a broken archive as an invalid config: either
        # error is accepted, the message must name config.json
        e, _ = self.create_expect_error((ERR + 'InvalidArchive', ERR + 'InvalidConfig'),
                                        'test/noconfig', make_context(omit_config=True))
        self.assertIn('config', e.message.lower())
        self.assertEqual(self.list_plugins(), [])

    def test_invalid_archive_not_a_tar(self):
        for label, data in (('garbage', b'\x01\x02 this is not a tar archive ' * 100),
                            ('empty', b'')):
            with self.subTest(case=label):
                self.create_expect_error(ERR + 'InvalidArchive', 'test/garbage', data)
        self.assertEqual(self.list_plugins(), [])

    def test_invalid_archive_dotdot(self):
        marker = 'plugind-escape-' + uuid.uuid4().hex
        info = tarfile.TarInfo('rootfs/../../../../../../../../tmp/' + marker)
        payload = b'escaped\n'
        info.size = len(payload)
        info.mode = 0o644
        data = make_context(extra=[(info, payload)])
        e, _ = self.create_expect_error(ERR + 'InvalidArchive', 'test/dotdot', data)
        self.assertIn('..', e.message)
        self.assertFalse(os.path.exists('/tmp/' + marker))
        for root, dirs, files in os.walk(self.tmpdir):
            self.assertNotIn(marker, files)
        self.assertEqual(self.list_plugins(), [])

    def test_symlink_escape_confined(self):
        # a symlink pointing out of the rootfs, then a file written through it: refused, or
        # confined to the rootfs; never written on the host
        marker = 'plugind-escape-' + uuid.uuid4().hex
        link = tarfile.TarInfo('rootfs/escape')
        link.type = tarfile.SYMTYPE
        link.linkname = '/tmp'
        f = tarfile.TarInfo('rootfs/escape/' + marker)
        f.size = 4
        data = make_context(extra=[(link, None), (f, b'bad\n')])
        try:
            job = self.create('test/symlink', data)
            self.wait_job(job)
        except DBusError as e:
            self.assertIn(e.name, (ERR + 'InvalidArchive',))
        self.assertFalse(os.path.exists('/tmp/' + marker), 'the archive wrote through a symlink')

    def test_setuid_and_devices_not_installed(self):
        # setuid/setgid stripped unless granted, device nodes dropped
        suid = tarfile.TarInfo('rootfs/bin/suid')
        suid.mode = 0o6755
        suid.size = 2
        dev = tarfile.TarInfo('rootfs/dev/evilnull')
        dev.type = tarfile.CHRTYPE
        dev.devmajor, dev.devminor = 1, 3
        dev.mode = 0o666
        data = make_context(extra=[(suid, b'x\n'), (dev, None)])
        path, res = self.create_ok('test/suid', data)
        rootfs = os.path.join(self.plugin_dir(res['plugin-id']), 'rootfs')
        m = os.lstat(os.path.join(rootfs, 'bin', 'suid')).st_mode
        self.assertFalse(m & (stat.S_ISUID | stat.S_ISGID), 'setuid/setgid kept: %o' % m)
        self.assertFalse(os.path.lexists(os.path.join(rootfs, 'dev', 'evilnull')) and
                         stat.S_ISCHR(os.lstat(os.path.join(rootfs, 'dev', 'evilnull')).st_mode),
                         'a device node was created')

    def test_hardlink_escape_confined(self):
        # a hard link to a host file: refused, or it never links to the host file
        link = tarfile.TarInfo('rootfs/passwd')
        link.type = tarfile.LNKTYPE
        link.linkname = '/etc/passwd'
        link2 = tarfile.TarInfo('rootfs/passwd2')
        link2.type = tarfile.LNKTYPE
        link2.linkname = 'rootfs/../../../../../../etc/passwd'
        host = os.stat('/etc/passwd')
        for label, info in (('absolute', link), ('dotdot', link2)):
            with self.subTest(link=label):
                try:
                    job = self.create('test/hardlink-' + label, make_context(extra=[(info, None)]))
                    res = self.wait_job(job)
                except DBusError as e:
                    self.assertEqual(e.name, ERR + 'InvalidArchive')
                    continue
                rootfs = os.path.join(self.plugin_dir(res['plugin-id']), 'rootfs')
                for n in ('passwd', 'passwd2'):
                    p = os.path.join(rootfs, n)
                    if os.path.lexists(p):
                        st = os.lstat(p)
                        self.assertNotEqual((st.st_dev, st.st_ino), (host.st_dev, host.st_ino),
                                            'the rootfs links to the host /etc/passwd')
        self.assertEqual(os.stat('/etc/passwd').st_nlink, host.st_nlink)

    # -- privileges --------------------------------------------------------------------

    def test_privileges_mismatch(self):
        data = make_context(PRIVILEGED_CONFIG)
        wrong = {
            'none accepted': [],
            'first entry differs': [('network', '', ['none'])] + PRIVILEGED_PRIVS[1:],
            'last entry differs': PRIVILEGED_PRIVS[:-1] + [
                ('capabilities', '', ['CAP_NET_ADMIN'])],
            'one missing': PRIVILEGED_PRIVS[:-1],
            'one extra': PRIVILEGED_PRIVS + [('host pid namespace', '', ['true'])],
            'only the first': [('network', 'permissions to access a network', ['host'])],
        }
        for label, privs in wrong.items():
            with self.subTest(case=label):
                e, _ = self.create_expect_error(ERR + 'PrivilegesMismatch', 'test/priv', data,
                                                privileges=privs)
                self.assertIn('CAP_SYS_ADMIN', e.message, 'the message lists the computed ones')
        # CVE-2026-33997: a single-entry list must be compared too
        single = make_context(plugin_config(Network={'Type': 'host'}))
        with self.subTest(case='single entry differs'):
            self.create_expect_error(ERR + 'PrivilegesMismatch', 'test/priv', single,
                                     privileges=[('network', '', ['none'])])
        with self.subTest(case='single entry, other name'):
            self.create_expect_error(ERR + 'PrivilegesMismatch', 'test/priv', single,
                                     privileges=[('host pid namespace', '', ['host'])])
        self.assertEqual(self.list_plugins(), [])
        self.assertEqual(self.blob_digests(), set())

    def test_privileges_exact_match(self):
        # order and descriptions do not matter
        accepted = [(p[0], 'whatever', list(reversed(p[2]))) for p in reversed(PRIVILEGED_PRIVS)]
        path, _ = self.create_ok('test/priv', make_context(PRIVILEGED_CONFIG),
                                 privileges=accepted)
        privs = self.plugin_prop(path, 'Privileges')
        self.assertEqual([tuple(p[:2]) + (list(p[2]),) for p in privs],
                         [tuple(p[:2]) + (list(p[2]),) for p in PRIVILEGED_PRIVS])

    def test_grant_all_privileges(self):
        path, _ = self.create_ok('test/priv', make_context(PRIVILEGED_CONFIG),
                                 options=opts(grant_all_privileges=True))
        self.assertEqual(norm_privs(self.plugin_prop(path, 'Privileges')),
                         norm_privs(PRIVILEGED_PRIVS))

    def test_unprivileged_plugin_needs_no_privileges(self):
        path, _ = self.create_ok('test/plain')
        self.assertEqual(self.plugin_prop(path, 'Privileges'), [])
        # accepting privileges a plugin does not request is a mismatch too
        self.create_expect_error(ERR + 'PrivilegesMismatch', 'test/plain2',
                                 privileges=[('network', '', ['host'])])

    # -- fd rules: one fd, readable, not O_PATH, a file, pipe or socket ----------------

    def test_fd_rules(self):
        ctx = self.context_file(make_context())
        cases = {
            'write-only': lambda: os.open(ctx, os.O_WRONLY | os.O_CLOEXEC),
            'O_PATH': lambda: os.open(ctx, os.O_PATH | os.O_CLOEXEC),
            'directory': lambda: os.open(self.tmpdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC),
        }
        before = self.snapshot_state()
        for label, opener in cases.items():
            with self.subTest(fd=label):
                fd = opener()
                try:
                    self.create_expect_error(DBUS_ERR + 'InvalidArgs', 'test/fd', fd=fd)
                finally:
                    os.close(fd)
        self.assertEqual(self.list_plugins(), [])
        self.assertEqual(self.snapshot_state(), before)

    def test_fd_bad_index(self):
        # a handle index with no fd attached (CVE-2025-8067)
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.manager, 'Create',
                                 GLib.Variant('(sha(ssas)a{sv})', ('test/fd', 5, [], {})), '(o)')
        self.assertTrue(e.message)
        self.assertEqual(self.list_jobs(), [])


class LookupTests(PlugindTestCase):

    def test_get_plugin(self):
        path, res = self.create_ok('test/lookup')
        pid = res['plugin-id']
        self.assertEqual(self.get_plugin(pid), path)
        self.assertEqual(self.get_plugin('test/lookup'), path)
        self.assertEqual(self.get_plugin('test/lookup:latest'), path)
        self.assertEqual(self.get_plugin(pid[:12]), path)
        self.assertEqual(self.get_plugin(pid[:1]), path)

    def test_get_plugin_no_such(self):
        self.create_ok('test/lookup:v1')
        for name in ('test/nope', 'test/lookup', 'test/lookup:v2', '0' * 64, 'zzz'):
            with self.subTest(name=name):
                e = self.assertDBusError(ERR + 'NoSuchPlugin', self.get_plugin, name)
                self.assertIn(name, e.message)

    def test_get_plugin_ambiguous(self):
        by_first = {}
        for i in range(17):  # 17 random IDs: two share their first hex digit
            _, res = self.create_ok('test/amb%d' % i)
            pid = res['plugin-id']
            if pid[0] in by_first:
                break
            by_first[pid[0]] = pid
        prefix = pid[0]
        e = self.assertDBusError(ERR + 'AmbiguousName', self.get_plugin, prefix)
        self.assertIn(prefix, e.message)
        # a longer unique prefix still resolves
        self.assertEqual(self.get_plugin(pid), ROOT_PATH + '/plugin/' + pid)

    def test_list_plugins(self):
        names = ['test/b', 'test/a', 'test/c:v1']
        paths = {}
        for n in names:
            paths[n], _ = self.create_ok(n)
        listed = self.list_plugins()
        self.assertEqual([p[1] for p in listed], ['test/a:latest', 'test/b:latest', 'test/c:v1'])
        for pid, name, ref, state, enabled, path in listed:
            self.assertEqual(path, ROOT_PATH + '/plugin/' + pid)
            self.assertEqual(state, 'disabled')
            self.assertFalse(enabled)
            self.assertEqual(ref, self.plugin_prop(path, 'Reference'))

    def test_list_filter_enabled(self):
        self.create_ok('test/one')
        self.create_ok('test/two')
        self.assertEqual(len(self.list_plugins({'enabled': GLib.Variant('b', False)})), 2)
        self.assertEqual(self.list_plugins({'enabled': GLib.Variant('b', True)}), [])

    def test_list_filter_capability(self):
        vol, _ = self.create_ok('test/vol')
        multi, _ = self.create_ok('test/multi', make_context(plugin_config(
            Interface={'Types': ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'],
                       'Socket': 'm.sock'})))
        log, _ = self.create_ok('test/log', make_context(plugin_config(
            Interface={'Types': ['docker.logdriver/1.0'], 'Socket': 'l.sock'})))

        def cap(c):
            return [p[1] for p in self.list_plugins({'capability': GLib.Variant('s', c)})]
        self.assertEqual(cap('volumedriver'), ['test/vol:latest'])
        # Docker drops a plugin unless every one of its types matches; plugind keeps it
        self.assertEqual(cap('networkdriver'), ['test/multi:latest'])
        self.assertEqual(cap('ipamdriver'), ['test/multi:latest'])
        self.assertEqual(cap('IpamDriver'), ['test/multi:latest'])
        self.assertEqual(cap('logdriver'), ['test/log:latest'])
        self.assertEqual(cap('authz'), [])
        # exact, not Docker's unanchored regexp
        self.assertEqual(cap('driver'), [])
        self.assertEqual(cap('.*'), [])
        both = self.list_plugins({'capability': GLib.Variant('s', 'ipamdriver'),
                                  'enabled': GLib.Variant('b', False)})
        self.assertEqual([p[1] for p in both], ['test/multi:latest'])

    def test_list_filter_invalid(self):
        self.create_ok('test/one')
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.list_plugins,
                                 {'nope': GLib.Variant('b', True)})
        self.assertIn('nope', e.message)
        e = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.list_plugins,
                                 {'enabled': GLib.Variant('s', 'true')})
        self.assertIn('enabled', e.message)
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.list_plugins,
                             {'capability': GLib.Variant('b', True)})


if __name__ == '__main__':
    main()
