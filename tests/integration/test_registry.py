#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""GetPrivileges and Pull against the real distribution registry (docker-registry), plain, over
TLS, with htpasswd or token authentication, and behind a fault-injecting proxy.

What they cover: GetPrivileges and Pull as docs/dbus-api.md describes them (job properties,
options, errors), confined extraction, content verified against digests, privileges compared
before any layer is downloaded, and the network rules of docs/design.md, section Registries.
"""

import base64
import json
import os
import platform
import tarfile
import tempfile
import time
import uuid

from gi.repository import GLib

import pd_registry
from pd_testcase import (BUILDDIR, DBUS_ERR, DEFAULT_CONFIG, DEFAULT_FILES, DENIED, ERR,
                         JOB_IFACE, MANAGER_IFACE, MANAGER_PATH, PLUGIN_IFACE, SRCDIR,
                         TIMEOUT_MULT, DBusError, main, opts, plugin_call, plugin_config,
                         sha256_file)
from registry_testcase import (USER, RegistryTestCase, expected_tree, layer_entries,
                               registry_auth, sha256_digest, tree)

EXAMPLE_BINARY = os.path.join(BUILDDIR, 'example', 'plugind-example')
EXAMPLE_CONFIG = os.path.join(SRCDIR, 'example', 'hello', 'config.json')
CONTAINER_CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json'
GOARCH = {'x86_64': 'amd64', 'aarch64': 'arm64'}

# every privilege Docker's computePrivileges knows, in its order
PRIVILEGED_CONFIG = plugin_config(
    Network={'Type': 'host'},
    IpcHost=True,
    PidHost=True,
    Mounts=[
        {'Name': 'data', 'Description': 'data dir', 'Settable': ['source'],
         'Source': '/srv/data', 'Destination': '/data', 'Type': 'bind',
         'Options': ['rbind', 'ro']},
        # no Source: nothing to grant (Docker skips it)
        {'Name': 'scratch', 'Description': 'a tmpfs', 'Settable': [],
         'Destination': '/scratch', 'Type': 'tmpfs', 'Options': []},
    ],
    Linux={'Capabilities': ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'], 'AllowAllDevices': True,
           'Devices': [{'Name': 'fuse', 'Description': 'fuse device', 'Settable': ['path'],
                        'Path': '/dev/fuse'}]},
)
PRIVILEGED_PRIVS = [
    ('network', 'permissions to access a network', ['host']),
    ('host ipc namespace', 'allow access to host ipc namespace', ['true']),
    ('host pid namespace', 'allow access to host pid namespace', ['true']),
    ('mount', 'host path to mount', ['/srv/data']),
    ('device', 'host device to access', ['/dev/fuse']),
    ('allow-all-devices', "allow 'rwm' access to all devices", ['true']),
    ('capabilities', 'list of additional capabilities required',
     ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']),
]


def privs_list(privs):
    """a(ssas) as unpacked, as comparable lists."""
    return [(p[0], p[1], list(p[2])) for p in privs]


def raw_entry(name, kind=tarfile.REGTYPE, data=b'', linkname=''):
    """A ('raw', TarInfo, data) make_layer entry, for hostile names."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    info.mtime = pd_registry.LAYER_MTIME
    info.linkname = linkname
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return ('raw', info, data)
    return ('raw', info, None)


# the example mounts its volumes beneath its PropagatedMount
EXAMPLE_CAPABILITIES = [('capabilities', '', ['CAP_SYS_ADMIN'])]
EXAMPLE_CAPABILITIES_LISTED = ('capabilities', 'list of additional capabilities required',
                               ['CAP_SYS_ADMIN'])


def example_config():
    with open(EXAMPLE_CONFIG) as f:
        return json.load(f)


def example_entries():
    """One layer holding the example plugin's static binary, as its create context has it."""
    with open(EXAMPLE_BINARY, 'rb') as f:
        return [('file', 'plugind-example', f.read(), 0o755)]


class _TimedRequests(list):
    """A FaultProxy.requests replacement stamping each record with time.monotonic()."""

    def append(self, record):
        record.setdefault('time', time.monotonic())
        super().append(record)


class PullTestCase(RegistryTestCase):
    """Helpers shared by every class of this file."""

    def push_built(self, repo, tag, built, config=None, diff_ids=None, registry=None, **kw):
        """Pushes layers already made with pd_registry.make_layer; diff_ids replaces the
        config's rootfs.diff_ids (to lie about them). Returns the manifest digest."""
        registry = registry or self.registry
        own = registry is self.registry
        cfg = pd_registry.make_plugin_config(config if config is not None else DEFAULT_CONFIG,
                                             diff_ids if diff_ids is not None
                                             else [b[1] for b in built])
        return pd_registry.push_plugin(registry.url, repo, tag, cfg,
                                       [(b[0], b[2]) for b in built],
                                       auth=self.auth if own else None,
                                       ca=self.ca.ca_path if own and self.ca else None, **kw)

    def manifest_of(self, repo, ref):
        data, _, digest = pd_registry.get_manifest(self.registry.url, repo, ref, auth=self.auth,
                                                   ca=self.ca.ca_path if self.ca else None)
        return json.loads(data), data, digest

    def job_error(self, job, names):
        """Waits for a job that must fail with one of names; returns the DBusError."""
        if isinstance(names, str):
            names = (names,)
        try:
            results = self.wait_job(job)
        except DBusError as e:
            self.assertIn(e.name, names, 'wrong job error: %s' % e)
            self.assertEqual(self.job_prop(job, 'Result'), 'failed')
            return e
        self.fail('expected %s, the job succeeded: %r' % (names, results))

    def pull_refused(self, names, remote, name='', privileges=(), options=None):
        """A Pull that must fail, as the method's error or as the job's; nothing installed."""
        if isinstance(names, str):
            names = (names,)
        before = self.list_plugins()
        try:
            job = self.pull(remote, name, privileges,
                            options if options is not None else self.auth_options())
        except DBusError as e:
            self.assertIn(e.name, names, 'wrong error from Pull: %s' % e)
            return e
        e = self.job_error(job, names)
        self.assertEqual(self.list_plugins(), before)
        return e

    def job_changes(self, job):
        """The changed-property dicts of the job's PropertiesChanged signals, in order."""
        self.iterate()
        return [s[3][1] for s in self.signals
                if s[0] == job and s[2] == 'PropertiesChanged' and s[3][0] == JOB_IFACE]


# ---------------------------------------------------------------------------------------------
# GetPrivileges


class GetPrivilegesTests(PullTestCase):

    def test_unprivileged(self):
        self.push_plugin('test/plain', 'v1')
        privs, info = self.get_privileges(self.remote('test/plain', 'v1'))
        self.assertEqual(privs, [])
        self.assertEqual(self.list_plugins(), [])
        self.assertEqual(self.blob_digests(), set(), 'GetPrivileges stored something')

    def test_privileged_in_docker_order(self):
        self.push_plugin('test/priv', 'v1', config=PRIVILEGED_CONFIG)
        privs, _ = self.get_privileges(self.remote('test/priv', 'v1'))
        self.assertEqual(privs_list(privs), privs_list(PRIVILEGED_PRIVS))

    def test_network_none_counts(self):
        # Docker's computePrivileges: only "", "null" and "bridge" need no grant
        self.push_plugin('test/none', 'v1', config=plugin_config(Network={'Type': 'none'}))
        self.push_plugin('test/bridge', 'v1', config=plugin_config(Network={'Type': 'bridge'}))
        privs, _ = self.get_privileges(self.remote('test/none', 'v1'))
        self.assertEqual(privs_list(privs),
                         [('network', 'permissions to access a network', ['none'])])
        privs, _ = self.get_privileges(self.remote('test/bridge', 'v1'))
        self.assertEqual(privs, [])

    def test_info(self):
        layers = [layer_entries({'etc/one': (b'one\n' * 100, 0o644)}),
                  layer_entries({'etc/two': (os.urandom(3000), 0o644)})]
        digest, _, blobs = self.push_plugin('test/info', 'v3', layers=layers)
        privs, info = self.get_privileges(self.remote('test/info', 'v3'))
        self.assertEqual(set(info), {'manifest-digest', 'reference', 'description',
                                     'interface-types', 'size'})
        self.assertEqual(info['manifest-digest'], digest)
        self.assertEqual(info['reference'], '%s/test/info:v3' % self.host)
        self.assertEqual(info['description'], DEFAULT_CONFIG['Description'])
        self.assertEqual(info['interface-types'], ['docker.volumedriver/1.0'])
        self.assertEqual(info['size'], sum(len(b) for b in blobs))

    def test_reference_normalised(self):
        # "host/repo" means "host/repo:latest", as Docker normalises it (Manager.xml: remote)
        digest, _, _ = self.push_plugin('test/norm', 'latest')
        _, info = self.get_privileges('%s/test/norm' % self.host)
        self.assertEqual(info['manifest-digest'], digest)
        self.assertEqual(info['reference'], '%s/test/norm:latest' % self.host)

    def test_by_digest(self):
        digest, _, _ = self.push_plugin('test/dig', 'v1', config=PRIVILEGED_CONFIG)
        # another tag moved on: the digest still names the first content
        self.push_plugin('test/dig', 'v1')
        remote = '%s/test/dig@%s' % (self.host, digest)
        privs, info = self.get_privileges(remote)
        self.assertEqual(info['manifest-digest'], digest)
        self.assertEqual(info['reference'], remote)
        self.assertEqual(privs_list(privs), privs_list(PRIVILEGED_PRIVS))

    def test_registry_down(self):
        self.push_plugin('test/down', 'v1')
        self.registry.stop()
        t0 = time.monotonic()
        # Docker answers "no privileges" here; plugind must fail, or a network error would
        # pass for consent
        e = self.assertDBusError(ERR + 'RegistryError', self.get_privileges,
                                 self.remote('test/down', 'v1'))
        self.assertLess(time.monotonic() - t0, 20 * TIMEOUT_MULT, 'the 15 s deadline was passed')
        # RegistryError passes the network failure through, so that the user can act on it
        self.assertIn('refused', e.message.lower(), 'the error does not say why: ' + e.message)

    def test_unknown_repository_and_tag(self):
        self.push_plugin('test/known', 'v1')
        for remote in (self.remote('test/unknown', 'v1'), self.remote('test/known', 'nope')):
            with self.subTest(remote=remote):
                e = self.assertDBusError(ERR + 'RegistryNotFound', self.get_privileges, remote)
                self.assertIn('404', e.message)

    def test_container_image(self):
        cfg = {'architecture': 'amd64', 'os': 'linux', 'config': {'Cmd': ['/bin/sh']}}
        self.push_plugin('test/image', 'v1', config=cfg, config_media_type=CONTAINER_CONFIG_TYPE)
        e = self.assertDBusError(ERR + 'UnsupportedMediaType', self.get_privileges,
                                 self.remote('test/image', 'v1'))
        self.assertIn(CONTAINER_CONFIG_TYPE, e.message)

    def grant_nobody_query_remote(self, token):
        """A polkit rule that lets nobody look up remotes holding token without a password, as
        the shipped policy lets every active local user (nobody has no session here). Scoped
        to token, so that tests running at the same time see no change; removed afterwards."""
        self.add_polkit_rule(token, 'polkit.addRule(function(action, subject) {\n'
                             '    if (action.id == "org.plugind.plugind1.query-remote" &&\n'
                             '        subject.user == "nobody" &&\n'
                             '        action.lookup("remote").indexOf("%s") >= 0)\n'
                             '        return polkit.Result.YES;\n'
                             '    return polkit.Result.NOT_HANDLED;\n'
                             '});\n' % token)

    def test_nobody_deeply_nested_registry_auth(self):
        # registry-auth is base64url JSON from any active local user: 100,000 nested '[' would
        # overflow a recursive parser's stack
        token = uuid.uuid4().hex[:12]
        self.grant_nobody_query_remote(token)
        remote = self.remote('test/auth-' + token, 'v1')
        args = "('%s', @a{sv} {})" % remote

        def lookup():
            return self.nobody_call(MANAGER_PATH, MANAGER_IFACE, 'GetPrivileges', 'sa{sv}',
                                    args)[1]

        # polkitd picks the rule up within a moment: until then nobody is denied
        self.wait_until(lambda: lookup().name not in DENIED, timeout=20,
                        msg='polkitd to load the test rule')
        err = lookup()
        self.assertEqual(err.name, ERR + 'RegistryNotFound', err)
        deep = base64.urlsafe_b64encode(b'[' * 100000).decode()
        _, err = self.nobody_call(MANAGER_PATH, MANAGER_IFACE, 'GetPrivileges', 'sa{sv}',
                                  "('%s', {'registry-auth': <'%s'>})" % (remote, deep))
        self.assertIsNotNone(err)
        self.assertEqual(err.name, DBUS_ERR + 'InvalidArgs', err)
        self.assertIn('registry-auth', err.message)
        self.assertIsNone(self.daemon.poll(), 'plugind died')
        self.assertEqual(self.list_plugins(), [])

    def test_bad_reference(self):
        self.assertDBusError(ERR + 'InvalidReference', self.get_privileges,
                             '%s/Test/Upper:v1' % self.host)

    def test_authorize(self):
        # root: the lookup as ever; only the install or the upgrade of a named plugin can be
        # asked for, never an action the caller chooses
        self.push_plugin('test/plain', 'v1')
        remote = self.remote('test/plain', 'v1')
        privs, _ = self.get_privileges(remote, {'authorize': GLib.Variant('s', 'install')})
        self.assertEqual(privs, [])
        for options in ({'authorize': GLib.Variant('s', 'upgrade')},
                        {'authorize': GLib.Variant('s', 'install-privileged')},
                        {'authorize': GLib.Variant('s', 'org.plugind.plugind1.install')},
                        {'authorize': GLib.Variant('b', True)}):
            with self.subTest(options=options):
                self.assertDBusError((ERR + 'InvalidArgs', DBUS_ERR + 'InvalidArgs'),
                                     self.get_privileges, remote, options)
        self.assertEqual(self.list_plugins(), [])


# ---------------------------------------------------------------------------------------------
# Pull over plain HTTP: content, names, privileges, GC


class PullTests(PullTestCase):

    def test_pull_plain_http(self):
        digest, diff_ids, _ = self.push_plugin('test/hello', 'v1')
        plugin, results = self.pull_ok(self.remote('test/hello', 'v1'))
        self.assertEqual(results['manifest-digest'], digest)
        rootfs = self.rootfs(plugin)
        with open(os.path.join(rootfs, 'etc/motd'), 'rb') as f:
            self.assertEqual(f.read(), b'plugind test rootfs\n')
        self.assertEqual(self.plugin_prop(plugin, 'Name'), '%s/test/hello:v1' % self.host)

    def test_results_record_and_event(self):
        digest, _, blobs = self.push_plugin('test/res', 'v2')
        manifest, _, _ = self.manifest_of('test/res', 'v2')
        remote = self.remote('test/res', 'v2')
        plugin, results = self.pull_ok(remote)
        self.assertEqual(set(results), {'plugin', 'plugin-id', 'manifest-digest', 'reference',
                                        'size'})
        props = self.get_all(plugin, PLUGIN_IFACE)
        self.assertEqual(results['plugin-id'], props['Id'])
        self.assertEqual(results['reference'], remote)
        self.assertEqual(results['size'], sum(len(b) for b in blobs))
        self.assertEqual(props['Reference'], remote)
        self.assertEqual(props['ManifestDigest'], digest)
        self.assertEqual(props['ConfigDigest'], manifest['config']['digest'])
        self.assertFalse(props['Enabled'])
        self.assertEqual(props['State'], 'disabled')
        self.assertEqual(props['Privileges'], [])
        # the store holds the registry's own manifest, config and layer, byte for byte
        self.assertEqual(self.blob_digests(),
                         {digest, manifest['config']['digest'], sha256_digest(blobs[0])})
        self.assertEqual(self.tmp_entries(), [])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(DEFAULT_FILES))
        ev = self.wait_signal('PluginEvent', lambda a: a[0] == 'pull')
        self.assertEqual(ev[3][1:4], (props['Id'], props['Name'], plugin))
        self.assertEqual(ev[3][5]['remote'], remote)

    def test_reference_normalised(self):
        # Docker records "host/repo:latest" as the PluginReference of "host/repo"
        digest, _, _ = self.push_plugin('test/norm', 'latest')
        plugin, results = self.pull_ok('%s/test/norm' % self.host)
        self.assertEqual(results['manifest-digest'], digest)
        self.assertEqual(self.plugin_prop(plugin, 'Name'), '%s/test/norm:latest' % self.host)
        self.assertEqual(results['reference'], '%s/test/norm:latest' % self.host)
        self.assertEqual(self.plugin_prop(plugin, 'Reference'), '%s/test/norm:latest' % self.host)

    def test_layers_with_whiteouts_and_opaque_dirs(self):
        layer1 = [
            ('dir', 'a'), ('file', 'a/keep', b'keep\n'), ('file', 'a/gone', b'gone\n'),
            ('dir', 'b'), ('file', 'b/old', b'old\n'), ('dir', 'b/sub'),
            ('file', 'b/sub/deep', b'deep\n'),
            ('dir', 'c'), ('file', 'c/f', b'c\n'),
            ('file', 'top', b'top v1\n', 0o644),
            ('symlink', 'link', 'a/keep'),
            ('dir', 'e'), ('file', 'e/f', b'e\n'),
        ]
        layer2 = [
            ('whiteout', 'a/gone'),
            ('dir', 'b'), ('opaque', 'b'), ('file', 'b/new', b'new\n'),
            ('whiteout', 'c'),
            ('file', 'top', b'top v2\n', 0o600),
            ('dir', 'd'), ('file', 'd/x', b'x\n', 0o755),
            # deleted here, made again by the next layer
            ('whiteout', 'e'),
        ]
        layer3 = [
            ('whiteout', 'link'),
            ('file', 'c', b'c is a file now\n'),
            ('dir', 'e'), ('file', 'e/g', b'g\n'),
        ]
        self.push_plugin('test/layers', 'v1', layers=[layer1, layer2, layer3])
        plugin, _ = self.pull_ok(self.remote('test/layers', 'v1'))
        # directories a, b, d and e, all 0755
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree({
            'a/keep': (b'keep\n', 0o644),
            'b/new': (b'new\n', 0o644),
            'c': (b'c is a file now\n', 0o644),
            'd/x': (b'x\n', 0o755),
            'e/g': (b'g\n', 0o644),
            'top': (b'top v2\n', 0o600),
        }))

    def _pull_compressed(self, compression):
        files = {'bin/hello': (b'#!/bin/sh\necho %s\n' % str(compression).encode(), 0o755),
                 'data/blob': (os.urandom(20000), 0o644)}
        digest, diff_ids, blobs = self.push_plugin('test/comp', 'v1', files=files,
                                                   compression=compression)
        manifest, _, _ = self.manifest_of('test/comp', 'v1')
        plugin, _ = self.pull_ok(self.remote('test/comp', 'v1'))
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(files))
        # the blob is stored as the registry has it (compressed), under its digest
        self.assertEqual(self.read_blob(manifest['layers'][0]['digest']), blobs[0])
        return manifest

    def test_zstd_layer(self):
        manifest = self._pull_compressed('zstd')
        self.assertEqual(manifest['layers'][0]['mediaType'], pd_registry.MT_OCI_LAYER_ZSTD)

    def test_xz_layer(self):
        self._pull_compressed('xz')

    def test_uncompressed_layer(self):
        manifest = self._pull_compressed(None)
        self.assertEqual(manifest['layers'][0]['mediaType'], pd_registry.MT_LAYER_TAR)

    def test_wrong_diff_id(self):
        good = pd_registry.make_layer(layer_entries(DEFAULT_FILES))
        other = pd_registry.make_layer([('file', 'other', b'other\n')])
        # the config claims the diff_id of another layer
        self.push_built('test/diff', 'v1', [good], diff_ids=[other[1]])
        e = self.pull_expect_error(ERR + 'DigestMismatch', self.remote('test/diff', 'v1'))
        self.assertIn(other[1], e.message)
        self.assertEqual(self.blob_digests(), set())

    def test_dotdot_entry(self):
        outside = os.path.join(self.tmpdir, 'pwned-dotdot')
        depth = '../' * 12
        layer = [('file', 'ok', b'ok\n'),
                 raw_entry(depth + outside.lstrip('/'), data=b'escaped\n'),
                 raw_entry('a/../../escape', data=b'escaped\n')]
        self.push_plugin('test/dotdot', 'v1', layers=[layer])
        e = self.pull_expect_error(ERR + 'InvalidArchive', self.remote('test/dotdot', 'v1'))
        self.assertIn('..', e.message)
        self.assertFalse(os.path.lexists(outside))
        self.assertFalse(os.path.lexists(os.path.join(self.state_dir, 'escape')))
        self.assertFalse(os.path.lexists(os.path.join(self.state_dir, 'tmp', 'escape')))
        self.assertEqual(self.blob_digests(), set())

    def test_absolute_symlink_escape(self):
        outside = os.path.join(self.tmpdir, 'outside')
        os.mkdir(outside)
        layer = [('file', 'ok', b'ok\n'),
                 ('symlink', 'escape', outside),
                 ('file', 'escape/pwned', b'escaped\n')]
        self.push_plugin('test/symlink', 'v1', layers=[layer])
        e = self.pull_expect_error(ERR + 'InvalidArchive', self.remote('test/symlink', 'v1'))
        self.assertIn('escape/pwned', e.message)
        self.assertEqual(os.listdir(outside), [], 'a layer wrote outside its rootfs')
        self.assertEqual(self.blob_digests(), set())

    def test_symlink_from_a_lower_layer_is_confined(self):
        # a write through a symlink that an earlier layer made: refused or confined to the
        # rootfs, never outside
        outside = os.path.join(self.tmpdir, 'outside')
        os.mkdir(outside)
        lower = [('symlink', 'escape', outside), ('file', 'ok', b'ok\n')]
        upper = [('file', 'escape/pwned', b'escaped\n')]
        self.push_plugin('test/symlink2', 'v1', layers=[lower, upper])
        job = self.pull(self.remote('test/symlink2', 'v1'), '', (), self.auth_options())
        try:
            results = self.wait_job(job)
        except DBusError as e:
            self.assertEqual(e.name, ERR + 'InvalidArchive', str(e))
            self.assertEqual(self.list_plugins(), [])
        else:
            rootfs = self.rootfs(results['plugin'])
            confined = os.path.join(rootfs, outside.lstrip('/'), 'pwned')
            with open(confined, 'rb') as f:
                self.assertEqual(f.read(), b'escaped\n')
        self.assertEqual(os.listdir(outside), [], 'a layer wrote outside its rootfs')

    # -- image indexes ---------------------------------------------------------------------

    def push_multi_arch(self, repo, tag, archs):
        """One plugin manifest per architecture (rootfs file "arch" names it), and an OCI
        index of them. Returns (index digest, {arch: (manifest digest, config digest)})."""
        entries = []
        out = {}
        for arch in archs:
            files = {'arch': (arch.encode() + b'\n', 0o644)}
            digest, _, _ = self.push_plugin(repo, None, files=files,
                                            config=plugin_config(Description='for ' + arch))
            manifest, data, _ = self.manifest_of(repo, digest)
            entries.append((digest, len(data), pd_registry.MT_MANIFEST,
                            {'os': 'linux', 'architecture': arch}))
            out[arch] = (digest, manifest['config']['digest'])
        index = pd_registry.push_index(self.registry.url, repo, tag, entries, auth=self.auth,
                                       ca=self.ca.ca_path if self.ca else None)
        return index, out

    def host_and_other_arch(self):
        host = GOARCH.get(platform.machine())
        if host is None:
            self.fail('no GOARCH known for %s' % platform.machine())
        return host, 'arm64' if host == 'amd64' else 'amd64'

    def assertPulledArch(self, plugin, arch, manifests):
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), manifests[arch][0])
        self.assertEqual(self.plugin_prop(plugin, 'ConfigDigest'), manifests[arch][1])
        with open(os.path.join(self.rootfs(plugin), 'arch'), 'rb') as f:
            self.assertEqual(f.read(), arch.encode() + b'\n')

    def test_index_picks_the_host_platform(self):
        host, other = self.host_and_other_arch()
        index, manifests = self.push_multi_arch('test/multi', 'v1', [other, host])
        _, info = self.get_privileges(self.remote('test/multi', 'v1'))
        self.assertEqual(info['manifest-digest'], index)
        self.assertEqual(info['description'], 'for ' + host)
        plugin, results = self.pull_ok(self.remote('test/multi', 'v1'))
        self.assertPulledArch(plugin, host, manifests)
        # the digest shown to the admin is the index's: expected-digest binds that
        self.assertEqual(results['manifest-digest'], index)

    def test_index_platform_option(self):
        host, other = self.host_and_other_arch()
        _, manifests = self.push_multi_arch('test/multi', 'v1', [host, other])
        _, info = self.get_privileges(self.remote('test/multi', 'v1'),
                                      opts(platform='linux/' + other))
        self.assertEqual(info['description'], 'for ' + other)
        plugin, _ = self.pull_ok(self.remote('test/multi', 'v1'),
                                 options=opts(platform='linux/' + other))
        self.assertPulledArch(plugin, other, manifests)

    def test_index_without_the_platform(self):
        self.push_multi_arch('test/exotic', 'v1', ['s390x', 'ppc64le'])
        e = self.pull_expect_error(ERR + 'UnsupportedMediaType', self.remote('test/exotic', 'v1'))
        self.assertIn('linux/s390x', e.message)
        self.assertIn('linux/ppc64le', e.message)
        e = self.assertDBusError(ERR + 'UnsupportedMediaType', self.get_privileges,
                                 self.remote('test/exotic', 'v1'))
        self.assertIn('linux/s390x', e.message)
        self.assertEqual(self.blob_digests(), set())

    # -- expected-digest, names --------------------------------------------------------------

    def test_expected_digest_match(self):
        self.push_plugin('test/exp', 'v1')
        _, info = self.get_privileges(self.remote('test/exp', 'v1'))
        plugin, results = self.pull_ok(self.remote('test/exp', 'v1'), options=opts(
            expected_digest=info['manifest-digest']))
        self.assertEqual(results['manifest-digest'], info['manifest-digest'])
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), info['manifest-digest'])

    def test_name_alias(self):
        self.push_plugin('test/orig', 'v1')
        plugin, _ = self.pull_ok(self.remote('test/orig', 'v1'), name='my/alias')
        self.assertEqual(self.plugin_prop(plugin, 'Name'), 'my/alias:latest')
        self.assertEqual(self.plugin_prop(plugin, 'Reference'), self.remote('test/orig', 'v1'))
        self.assertEqual(self.get_plugin('my/alias'), plugin)
        plugin2, _ = self.pull_ok(self.remote('test/orig', 'v1'), name='my/alias:two')
        self.assertEqual(self.plugin_prop(plugin2, 'Name'), 'my/alias:two')

    def test_name_derived_from_digest_reference(self):
        digest, _, _ = self.push_plugin('test/byd', 'v7')
        plugin, _ = self.pull_ok('%s/test/byd@%s' % (self.host, digest))
        self.assertEqual(self.plugin_prop(plugin, 'Name'), '%s/test/byd:latest' % self.host)
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), digest)

    def test_name_derived_from_tag_and_digest(self):
        digest, _, _ = self.push_plugin('test/byd', 'v7')
        plugin, _ = self.pull_ok('%s/test/byd:v7@%s' % (self.host, digest))
        self.assertEqual(self.plugin_prop(plugin, 'Name'), '%s/test/byd:v7' % self.host)

    def test_tag_and_digest_the_digest_wins(self):
        first, _, _ = self.push_plugin('test/moved', 'v1', files={'which': (b'first\n', 0o644)})
        self.push_plugin('test/moved', 'v1', files={'which': (b'second\n', 0o644)})
        plugin, _ = self.pull_ok('%s/test/moved:v1@%s' % (self.host, first))
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), first)
        with open(os.path.join(self.rootfs(plugin), 'which'), 'rb') as f:
            self.assertEqual(f.read(), b'first\n')

    def test_name_taken(self):
        self.push_plugin('test/taken', 'v1')
        self.pull_ok(self.remote('test/taken', 'v1'), name='test/taken')
        before = self.snapshot_files()
        self.pull_refused(ERR + 'PluginExists', self.remote('test/taken', 'v1'),
                          name='test/taken:latest')
        self.assertEqual(self.snapshot_files(), before)
        self.assertEqual(len(self.list_plugins()), 1)

    def test_invalid_remote(self):
        bad = ['', '%s/Test/Upper:v1' % self.host, '%s/test/x:bad tag' % self.host,
               '%s/test/x@sha256:1234' % self.host, '%s/test/x@md5:%s' % (self.host, '0' * 32),
               'a' * 64, '%s//double' % self.host]
        for remote in bad:
            with self.subTest(remote=remote):
                self.assertDBusError(ERR + 'InvalidReference', self.pull, remote, '', (),
                                     self.auth_options())
        self.assertEqual(self.list_jobs(), [])

    def test_digest_in_name(self):
        digest, _, _ = self.push_plugin('test/dn', 'v1')
        e = self.assertDBusError(ERR + 'InvalidReference', self.pull, self.remote('test/dn', 'v1'),
                                 'my/name@' + digest, (), self.auth_options())
        self.assertIn('digest', e.message)
        self.assertEqual(self.list_jobs(), [])

    # -- privileges --------------------------------------------------------------------------

    def test_privileges_accepted(self):
        self.push_plugin('test/priv', 'v1', config=PRIVILEGED_CONFIG)
        privs, info = self.get_privileges(self.remote('test/priv', 'v1'))
        # exactly what GetPrivileges returned, in another order with other descriptions
        accepted = [(p[0], '', list(reversed(p[2]))) for p in reversed(privs)]
        plugin, _ = self.pull_ok(self.remote('test/priv', 'v1'), privileges=accepted,
                                 options=opts(expected_digest=info['manifest-digest']))
        self.assertEqual(privs_list(self.plugin_prop(plugin, 'Privileges')),
                         privs_list(PRIVILEGED_PRIVS))

    def test_grant_all_privileges(self):
        self.push_plugin('test/priv', 'v1', config=PRIVILEGED_CONFIG)
        plugin, _ = self.pull_ok(self.remote('test/priv', 'v1'),
                                 options=opts(grant_all_privileges=True))
        self.assertEqual(privs_list(self.plugin_prop(plugin, 'Privileges')),
                         privs_list(PRIVILEGED_PRIVS))

    def test_privileges_partly_accepted(self):
        self.push_plugin('test/priv', 'v1', config=PRIVILEGED_CONFIG)
        for label, privs in (('one missing', PRIVILEGED_PRIVS[1:]),
                             ('one more', PRIVILEGED_PRIVS + [('mount', '', ['/etc'])]),
                             ('other value', PRIVILEGED_PRIVS[:-1] + [
                                 ('capabilities', '', ['CAP_SYS_ADMIN'])])):
            with self.subTest(case=label):
                e = self.pull_expect_error(ERR + 'PrivilegesMismatch',
                                           self.remote('test/priv', 'v1'), privileges=privs)
                self.assertIn('CAP_NET_ADMIN', e.message)
        self.assertEqual(self.blob_digests(), set())

    def test_privileges_computed_after_settings(self):
        self.push_built('test/ex', 'v1', [pd_registry.make_layer(example_entries())],
                        config=example_config())
        data_dir = tempfile.mkdtemp(prefix='data-', dir=self.tmpdir)
        settings = GLib.Variant('a(ss)', [('data', data_dir)])
        # the config's own source is not what will be mounted
        e = self.pull_expect_error(ERR + 'PrivilegesMismatch', self.remote('test/ex', 'v1'),
                                   privileges=[('mount', '', ['/var/lib/plugind-example'])] +
                                   EXAMPLE_CAPABILITIES,
                                   options=dict(self.auth_options(), settings=settings))
        self.assertIn(data_dir, e.message)
        plugin, _ = self.pull_ok(self.remote('test/ex', 'v1'),
                                 privileges=[('mount', '', [data_dir])] + EXAMPLE_CAPABILITIES,
                                 options=dict(self.auth_options(), settings=settings))
        self.assertEqual(privs_list(self.plugin_prop(plugin, 'Privileges')),
                         [('mount', 'host path to mount', [data_dir]),
                          EXAMPLE_CAPABILITIES_LISTED])
        self.assertIn(('data', 'mount', data_dir),
                      [(s[0], s[1], s[3]) for s in self.plugin_prop(plugin, 'Settings')])

    def test_privileges_of_repeated_settings(self):
        # issue 10: GetPrivileges computes on the same ordered list Pull applies, so the consent
        # covers exactly what is mounted: a source set twice is the last one in both
        config = plugin_config(Mounts=[
            {'Name': 'data', 'Description': 'host path to mount', 'Settable': ['source'],
             'Source': '/srv', 'Destination': '/data', 'Type': 'bind', 'Options': ['rbind']}])
        self.push_plugin('test/twice', 'v1', config=config)
        first = tempfile.mkdtemp(prefix='first-', dir=self.tmpdir)
        last = tempfile.mkdtemp(prefix='last-', dir=self.tmpdir)
        settings = [('data', first), ('data.source', last)]
        remote = self.remote('test/twice', 'v1')
        privs, _ = self.get_privileges(remote, self.auth_options(settings=settings))
        self.assertEqual(privs_list(privs), [('mount', 'host path to mount', [last])])
        # consent to the first one is not consent to what Pull applies
        e = self.pull_expect_error(ERR + 'PrivilegesMismatch', remote,
                                   privileges=[('mount', '', [first])],
                                   options=self.auth_options(settings=settings))
        self.assertIn(last, e.message)
        plugin, _ = self.pull_ok(remote, privileges=privs_list(privs),
                                 options=self.auth_options(settings=settings))
        self.assertEqual(privs_list(self.plugin_prop(plugin, 'Privileges')), privs_list(privs))
        self.assertIn(('data', 'mount', last),
                      [(s[0], s[1], s[3]) for s in self.plugin_prop(plugin, 'Settings')])
        # and in the other order, the other one
        privs, _ = self.get_privileges(remote, self.auth_options(settings=settings[::-1]))
        self.assertEqual(privs_list(privs), [('mount', 'host path to mount', [first])])

    def test_settings_with_unknown_key(self):
        self.push_plugin('test/set', 'v1')
        settings = GLib.Variant('a(ss)', [('NOPE', 'x')])
        self.pull_refused((ERR + 'InvalidArgs', 'org.freedesktop.DBus.Error.InvalidArgs'),
                          self.remote('test/set', 'v1'),
                          options=dict(self.auth_options(), settings=settings))
        self.assertEqual(self.tmp_entries(), [])
        self.assertEqual(self.blob_digests(), set())

    # -- enable ------------------------------------------------------------------------------

    def test_enable_with_settings(self):
        self.push_built('test/ex', 'v1', [pd_registry.make_layer(example_entries())],
                        config=example_config())
        data_dir = tempfile.mkdtemp(prefix='data-', dir=self.tmpdir)
        options = dict(self.auth_options(), enable=GLib.Variant('b', True),
                       settings=GLib.Variant('a(ss)', [('data', data_dir), ('DEBUG', '1')]))
        job = self.pull(self.remote('test/ex', 'v1'), 'test/ex',
                        [('mount', '', [data_dir])] + EXAMPLE_CAPABILITIES, options)
        results = self.wait_job(job)
        plugin = results['plugin']
        props = self.get_all(plugin, PLUGIN_IFACE)
        self.assertEqual(props['State'], 'running')
        self.assertTrue(props['Enabled'])
        self.assertGreater(props['MainPID'], 0)
        self.assertIn('DEBUG=1', self.plugin_env(plugin))
        self.assertEqual(privs_list(props['Privileges']),
                         [('mount', 'host path to mount', [data_dir]),
                          EXAMPLE_CAPABILITIES_LISTED])
        self.assertIn('enabling', [c['Phase'] for c in self.job_changes(job) if 'Phase' in c])
        # the mount source the settings named is what the running plugin sees
        status, reply = plugin_call(props['Socket'], 'VolumeDriver.Create',
                                    {'Name': 'vol1', 'Opts': {}})
        self.assertEqual((status, reply.get('Err', '')), (200, ''))
        self.assertTrue(os.path.isdir(os.path.join(data_dir, 'volumes', 'vol1')))
        self.wait_signal('PluginEvent', lambda a: a[0] == 'enable' and a[1] == props['Id'])
        self.disable(plugin)

    # -- blobs: sharing and GC ---------------------------------------------------------------

    def test_shared_layer_and_gc(self):
        shared = pd_registry.make_layer(example_entries())
        only_a = pd_registry.make_layer([('dir', 'etc'), ('file', 'etc/a', b'a\n')])
        only_b = pd_registry.make_layer([('dir', 'etc'), ('file', 'etc/b', b'b\n')])
        ma = self.push_built('test/a', 'v1', [shared, only_a],
                             config=dict(example_config(), Description='A'))
        mb = self.push_built('test/b', 'v1', [shared, only_b],
                             config=dict(example_config(), Description='B'))
        ca = self.manifest_of('test/a', 'v1')[0]['config']['digest']
        cb = self.manifest_of('test/b', 'v1')[0]['config']['digest']
        grant = opts(grant_all_privileges=True)
        a, _ = self.pull_ok(self.remote('test/a', 'v1'), options=grant)
        b, _ = self.pull_ok(self.remote('test/b', 'v1'), options=grant)
        sa, sb = sha256_digest(shared[0]), sha256_digest(only_a[0])
        sbb = sha256_digest(only_b[0])
        self.assertEqual(self.blob_digests(), {ma, ca, sa, sb, mb, cb, sbb})
        a_id = self.plugin_prop(a, 'Id')
        self.remove(a)
        self.wait_until(lambda: not os.path.exists(self.plugin_dir(a_id)), 10, 'the purge')
        self.assertEqual(self.blob_digests(), {mb, cb, sa, sbb})
        for d in (mb, cb, sa, sbb):
            self.assertTrue(os.path.isfile(self.blob_path(d)), d)
        # the survivor is whole: it inspects and runs
        doc = self.inspect(b)
        self.assertEqual(doc['Config']['Description'], 'B')
        data_dir = tempfile.mkdtemp(prefix='data-', dir=self.tmpdir)
        self.set_settings(b, {'data': data_dir})
        self.enable(b)
        self.assertEqual(self.plugin_prop(b, 'State'), 'running')
        self.disable(b)
        self.remove(b)
        self.wait_until(lambda: self.blob_digests() == set(), 10, 'GC of the last blobs')
        self.assertEqual(os.listdir(os.path.join(self.state_dir, 'blobs', 'sha256')), [])

    def test_failed_pull_leaves_no_blob(self):
        self.push_plugin('test/good', 'v1')
        self.pull_ok(self.remote('test/good', 'v1'))
        baseline = self.blob_digests()
        # the first layer downloads and verifies, the second does not match its diff_id
        fine = pd_registry.make_layer([('file', 'fine', os.urandom(5000))])
        bad = pd_registry.make_layer([('file', 'bad', b'bad\n')])
        self.push_built('test/bad', 'v1', [fine, bad], diff_ids=[fine[1], fine[1]])
        self.pull_expect_error(ERR + 'DigestMismatch', self.remote('test/bad', 'v1'))
        self.assertEqual(self.blob_digests(), baseline)


# ---------------------------------------------------------------------------------------------
# TLS


class TLSTests(PullTestCase):
    registry_kind = 'tls'

    def test_pull_with_the_ca_in_certs_d(self):
        digest, _, _ = self.push_plugin('test/tls', 'v1')
        privs, info = self.get_privileges(self.remote('test/tls', 'v1'))
        self.assertEqual(info['manifest-digest'], digest)
        plugin, results = self.pull_ok(self.remote('test/tls', 'v1'))
        self.assertEqual(results['manifest-digest'], digest)
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(DEFAULT_FILES))

    def test_pull_without_the_ca(self):
        self.push_plugin('test/tls', 'v1')
        os.unlink(os.path.join(self.config_dir, 'certs.d', self.registry.host, 'ca.crt'))
        e = self.pull_expect_error(ERR + 'RegistryError', self.remote('test/tls', 'v1'))
        self.assertIn('certificate', e.message.lower())
        self.assertEqual(self.blob_digests(), set())
        e = self.assertDBusError(ERR + 'RegistryError', self.get_privileges,
                                 self.remote('test/tls', 'v1'))
        self.assertIn('certificate', e.message.lower())

    def test_ca_of_another_host_is_not_used(self):
        self.push_plugin('test/tls', 'v1')
        os.rename(os.path.join(self.config_dir, 'certs.d', self.registry.host),
                  os.path.join(self.config_dir, 'certs.d', '127.0.0.1:1'))
        e = self.pull_expect_error(ERR + 'RegistryError', self.remote('test/tls', 'v1'))
        self.assertIn('certificate', e.message.lower())

    def test_insecure_registry_without_the_ca(self):
        self.push_plugin('test/tls', 'v1')
        os.unlink(os.path.join(self.config_dir, 'certs.d', self.registry.host, 'ca.crt'))
        self.write_config('[Registries]\nInsecure=other.example:5000; %s\n' % self.registry.host)
        self.restart_daemon()
        plugin, _ = self.pull_ok(self.remote('test/tls', 'v1'))
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(DEFAULT_FILES))


# ---------------------------------------------------------------------------------------------
# htpasswd (Basic)


class HtpasswdTests(PullTestCase):
    registry_kind = 'htpasswd'

    def test_pull_with_registry_auth(self):
        digest, _, _ = self.push_plugin('test/auth', 'v1')
        _, info = self.get_privileges(self.remote('test/auth', 'v1'), self.auth_options())
        self.assertEqual(info['manifest-digest'], digest)
        plugin, results = self.pull_ok(self.remote('test/auth', 'v1'))
        self.assertEqual(results['manifest-digest'], digest)
        # credentials are never stored nor logged
        with open(self.log_path, 'rb') as f:
            log = f.read()
        for secret in (b'wonderland', registry_auth().encode()):
            self.assertNotIn(secret, log)
            for root, dirs, files in os.walk(self.state_dir):
                if '/rootfs' in root:
                    continue
                for n in files:
                    with open(os.path.join(root, n), 'rb') as f:
                        self.assertNotIn(secret, f.read(), os.path.join(root, n))

    def test_wrong_password(self):
        self.push_plugin('test/auth', 'v1')
        options = {'registry-auth': GLib.Variant('s', registry_auth(USER, 'Sekr1t-n0t-this'))}
        e = self.pull_expect_error(ERR + 'RegistryUnauthorized', self.remote('test/auth', 'v1'),
                                   options=options)
        self.assertNotIn('Sekr1t', e.message)
        self.assertDBusError(ERR + 'RegistryUnauthorized', self.get_privileges,
                             self.remote('test/auth', 'v1'), options)

    def test_no_credentials(self):
        self.push_plugin('test/auth', 'v1')
        self.pull_expect_error(ERR + 'RegistryUnauthorized', self.remote('test/auth', 'v1'),
                               options={})
        self.assertDBusError(ERR + 'RegistryUnauthorized', self.get_privileges,
                             self.remote('test/auth', 'v1'))

    def test_credentials_of_another_registry_are_not_sent(self):
        self.push_plugin('test/auth', 'v1')
        for server in ('other.example:5000', 'https://127.0.0.1:1/v2/', 'docker.io'):
            with self.subTest(server=server):
                options = {'registry-auth': GLib.Variant('s', registry_auth(server=server))}
                self.pull_expect_error(ERR + 'RegistryUnauthorized',
                                       self.remote('test/auth', 'v1'), options=options)

    def test_credentials_for_this_registry(self):
        self.push_plugin('test/auth', 'v1')
        options = {'registry-auth': GLib.Variant(
            's', registry_auth(server='http://%s/' % self.registry.host))}
        self.pull_ok(self.remote('test/auth', 'v1'), options=options)

    def test_redirect_to_another_host_drops_authorization(self):
        # a front proxy on 127.0.0.1 redirects the layer to a "CDN" on 127.0.0.2: another
        # plain registry with the same blob, reached without credentials
        cdn_registry = pd_registry.Registry(os.path.join(self.tmpdir, 'cdn'))
        self.addCleanup(cdn_registry.stop)
        front = pd_registry.FaultProxy(self.registry.url)
        self.addCleanup(front.stop)
        cdn = pd_registry.FaultProxy(cdn_registry.url, host='127.0.0.2')
        self.addCleanup(cdn.stop)
        self.proxy = front
        built = pd_registry.make_layer(layer_entries(DEFAULT_FILES))
        self.push_built('test/cdn', 'v1', [built])
        layer = pd_registry.push_blob(cdn_registry.url, 'test/cdn', built[0])
        front.add_fault('GET', '/blobs/' + layer + '$', 'redirect', count=None, location=cdn.url)
        plugin, _ = self.pull_ok(self.remote('test/cdn', 'v1'))
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(DEFAULT_FILES))
        redirected = self.blob_gets(layer, front)
        self.assertTrue(redirected and all(r['status'] == 307 for r in redirected), redirected)
        self.assertTrue(all('authorization' in r['headers'] for r in redirected),
                        'the registry itself was asked without credentials')
        followed = self.blob_gets(layer, cdn)
        self.assertEqual(len(followed), 1, followed)
        self.assertNotIn('authorization', followed[0]['headers'])
        self.assertEqual(followed[0]['status'], 200)


# ---------------------------------------------------------------------------------------------
# token server (Bearer)


class TokenTests(PullTestCase):
    registry_kind = 'token'

    def test_pull_asks_for_the_plugin_scope_first(self):
        digest, _, _ = self.push_plugin('test/tok', 'v1')
        self.token_server.requests.clear()
        plugin, results = self.pull_ok(self.remote('test/tok', 'v1'))
        self.assertEqual(results['manifest-digest'], digest)
        reqs = self.token_server.requests
        self.assertTrue(reqs, 'no token request')
        self.assertEqual(reqs[0]['scopes'], ['repository(plugin):test/tok:pull'])
        self.assertEqual(reqs[0]['user'], USER)
        self.assertEqual(reqs[0]['status'], 200)
        # the token was good: no second round for the plain scope
        self.assertNotIn('repository:test/tok:pull', [s for r in reqs for s in r['scopes']])

    def test_plugin_scope_rejected_falls_back(self):
        self.push_plugin('test/tok', 'v1')
        self.token_server.requests.clear()
        self.token_server.reject_plugin_scope = True
        plugin, _ = self.pull_ok(self.remote('test/tok', 'v1'))
        scopes = [r['scopes'] for r in self.token_server.requests]
        self.assertEqual(scopes[:2], [['repository(plugin):test/tok:pull'],
                                      ['repository:test/tok:pull']])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(DEFAULT_FILES))

    def test_get_privileges_with_token(self):
        digest, _, _ = self.push_plugin('test/tok', 'v1', config=PRIVILEGED_CONFIG)
        privs, info = self.get_privileges(self.remote('test/tok', 'v1'), self.auth_options())
        self.assertEqual(info['manifest-digest'], digest)
        self.assertEqual(privs_list(privs), privs_list(PRIVILEGED_PRIVS))

    def test_wrong_password(self):
        self.push_plugin('test/tok', 'v1')
        options = {'registry-auth': GLib.Variant('s', registry_auth(USER, 'wrong'))}
        self.pull_expect_error(ERR + 'RegistryUnauthorized', self.remote('test/tok', 'v1'),
                               options=options)

    def test_token_server_failure(self):
        self.push_plugin('test/tok', 'v1')
        ts = self.token_server
        ts.requests.clear()
        ts.fail_status = 500
        # the failures carry Retry-After: 0, or the test waits for four backoffs (~15 s)
        handle = ts._handle

        def handle_retry_after_0(handler, path, record, creds):
            reply = handler._reply
            handler._reply = lambda status, obj, headers=(): reply(
                status, obj, list(headers) + ([('Retry-After', '0')] if status >= 500 else []))
            handle(handler, path, record, creds)
        ts._handle = handle_retry_after_0
        # the token server failed, the credentials were not refused: not RegistryUnauthorized
        e = self.pull_expect_error(ERR + 'RegistryError', self.remote('test/tok', 'v1'))
        self.assertIn('500', e.message)
        self.assertEqual([r['status'] for r in ts.requests], [500] * 5,
                         'five attempts (retries are bounded)')
        self.assertEqual(self.blob_digests(), set())


# ---------------------------------------------------------------------------------------------
# through a fault-injecting proxy


class ProxyTests(PullTestCase):
    registry_kind = 'proxy'

    def push_random(self, repo, size=48 * 1024, compression='gzip', tag='v1'):
        """A plugin whose first layer is one incompressible file. Returns (manifest digest,
        layer digest, layer blob, files)."""
        files = {'data/random': (os.urandom(size), 0o644),
                 'bin/hello': (b'#!/bin/sh\necho hi\n', 0o755)}
        digest, _, blobs = self.push_plugin(repo, tag, files=files, compression=compression)
        return digest, sha256_digest(blobs[0]), blobs[0], files

    def test_get_privileges_fetches_no_layer(self):
        digest, layer, _, _ = self.push_random('test/gp')
        manifest, _, _ = self.manifest_of('test/gp', 'v1')
        self.get_privileges(self.remote('test/gp', 'v1'))
        blob_paths = {r['path'] for r in self.proxy.requests if '/blobs/' in r['path']}
        self.assertEqual(blob_paths, {'/v2/test/gp/blobs/' + manifest['config']['digest']})

    def test_expected_digest_mismatch_fetches_no_blob(self):
        self.push_random('test/exp')
        wrong = 'sha256:' + '0' * 64
        e = self.pull_expect_error(ERR + 'DigestMismatch', self.remote('test/exp', 'v1'),
                                   options=opts(expected_digest=wrong))
        self.assertIn(wrong, e.message)
        self.assertEqual([r for r in self.proxy.requests if '/blobs/' in r['path']], [])
        self.assertEqual(self.blob_digests(), set())

    def test_privileges_mismatch_fetches_no_layer(self):
        files = {'data/random': (os.urandom(10000), 0o644)}
        _, _, blobs = self.push_plugin('test/priv', 'v1', config=PRIVILEGED_CONFIG, files=files)
        manifest, _, _ = self.manifest_of('test/priv', 'v1')
        e = self.pull_expect_error(ERR + 'PrivilegesMismatch', self.remote('test/priv', 'v1'))
        self.assertIn('CAP_SYS_ADMIN', e.message)
        blob_gets = [r['path'] for r in self.proxy.requests if '/blobs/' in r['path']]
        self.assertEqual(blob_gets, ['/v2/test/priv/blobs/' + manifest['config']['digest']])
        self.assertEqual(self.blob_gets(sha256_digest(blobs[0])), [])
        self.assertEqual(self.blob_digests(), set())

    def test_job_properties_while_running(self):
        slow = layer_entries({'data/random': (os.urandom(32 * 1024), 0o644)})
        small = layer_entries({'etc/motd': (b'small\n', 0o644)})
        _, _, blobs = self.push_plugin('test/props', 'v1', layers=[slow, small])
        digests = [sha256_digest(b) for b in blobs]
        total = sum(len(b) for b in blobs)
        # about 1.5 s for the first layer
        self.proxy.add_fault('GET', '/blobs/' + digests[0] + '$', 'trickle', chunk=1024,
                             delay=0.045)
        job = self.pull(self.remote('test/props', 'v1'), '', (), self.auth_options())
        self.assertEqual(self.job_prop(job, 'Operation'), 'pull')
        self.assertEqual(self.job_prop(job, 'Remote'), self.remote('test/props', 'v1'))
        self.assertEqual(self.job_prop(job, 'PluginName'), self.remote('test/props', 'v1'))
        self.wait_until(lambda: self.job_prop(job, 'Phase') == 'downloading', 20,
                        'the downloading phase')
        self.assertTrue(self.job_prop(job, 'Cancellable'))
        self.assertEqual(self.job_prop(job, 'State'), 'running')
        results = self.wait_job(job)
        changes = self.job_changes(job)
        phases = [c['Phase'] for c in changes if 'Phase' in c]
        wanted = ['resolving', 'checking-privileges', 'downloading', 'committing']
        it = iter(phases)
        self.assertTrue(all(p in it for p in wanted),
                        'phases %r do not contain %r in order' % (phases, wanted))
        # progress while the first layer trickled
        partial = [c for c in changes if 'Layers' in c and c['Layers'] and
                   c['Layers'][0][1] == 'downloading' and 0 < c['Layers'][0][2] < len(blobs[0])]
        self.assertTrue(partial, 'no PropertiesChanged showed the layer half-way: %r' %
                        [c.get('Layers') for c in changes])
        self.assertEqual([(layer[0], layer[3]) for layer in partial[0]['Layers']],
                         list(zip(digests, [len(b) for b in blobs])))
        self.assertEqual(partial[0]['Layers'][1][1], 'waiting')
        done_values = [c['BytesDone'] for c in changes if 'BytesDone' in c]
        self.assertEqual(done_values, sorted(done_values), 'BytesDone went backwards')
        self.assertTrue(any(0 < v < total for v in done_values), done_values)
        self.assertTrue(all(c['BytesTotal'] == total for c in changes if 'BytesTotal' in c))
        # and at the end
        props = self.get_all(job, JOB_IFACE)
        self.assertEqual(props['BytesTotal'], total)
        self.assertEqual(props['BytesDone'], total)
        self.assertEqual(props['Layers'], [(d, 'complete', len(b), len(b))
                                           for d, b in zip(digests, blobs)])
        self.assertEqual(props['State'], 'finished')
        self.assertEqual(props['Result'], 'done')
        self.assertEqual(props['Plugin'], results['plugin'])
        self.assertFalse(props['Cancellable'])

    def test_cancel_during_download(self):
        digest, layer, blob, _ = self.push_random('test/cancel', size=96 * 1024)
        # about 20 KiB/s: 5 s unless cancelled
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'trickle', count=None, chunk=1024,
                             delay=0.05)
        job = self.pull(self.remote('test/cancel', 'v1'), '', (), self.auth_options())
        self.wait_until(lambda: self.job_prop(job, 'BytesDone') > 0, 20, 'download progress')
        self.assertEqual(self.job_prop(job, 'Phase'), 'downloading')
        self.cancel(job)
        self.assertDBusError(ERR + 'JobCancelled', self.wait_job, job)
        self.assertEqual(self.job_prop(job, 'Result'), 'cancelled')
        self.wait_signal('JobFinished', lambda a: a[1] == job and a[2] == 'cancelled')
        self.assertEqual(self.list_plugins(), [])
        self.assertEqual(os.listdir(os.path.join(self.state_dir, 'plugins')), [])
        self.assertEqual(self.tmp_entries(), [])
        self.assertEqual(self.blob_digests(), set())
        self.assertEqual([s for s in self.signals_named('PluginEvent') if s[3][0] == 'pull'], [])

    # -- faults ------------------------------------------------------------------------------

    def test_500_twice_then_success(self):
        digest, layer, _, files = self.push_random('test/f500')
        self.proxy.add_fault('GET', '/manifests/v1$', 'status', count=2, status=500)
        # Retry-After: 0 here, or the test waits for two more backoffs
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'status', count=2, status=503,
                             headers={'Retry-After': '0'})
        plugin, results = self.pull_ok(self.remote('test/f500', 'v1'))
        self.assertEqual(results['manifest-digest'], digest)
        self.assertEqual([r['status'] for r in self.requests_for('/manifests/v1')],
                         [500, 500, 200])
        self.assertEqual([r['status'] for r in self.blob_gets(layer)], [503, 503, 200])
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(files))

    def test_429_retry_after_honoured(self):
        digest, layer, _, _ = self.push_random('test/f429')
        self.proxy.requests = _TimedRequests(self.proxy.requests)
        # 2 s: more than the longest first backoff (1.25 s), so only Retry-After explains it
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'status', count=1, status=429,
                             headers={'Retry-After': '2'})
        self.pull_ok(self.remote('test/f429', 'v1'))
        gets = self.blob_gets(layer)
        self.assertEqual([r['status'] for r in gets], [429, 200])
        self.assertGreaterEqual(gets[1]['time'] - gets[0]['time'], 1.9)

    def test_reset_mid_blob_resumes_with_range(self):
        digest, layer, blob, files = self.push_random('test/reset')
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'reset', count=1, after=20000)
        plugin, _ = self.pull_ok(self.remote('test/reset', 'v1'))
        gets = self.blob_gets(layer)
        self.assertEqual(len(gets), 2, gets)
        self.assertEqual(gets[0]['fault'], 'reset')
        self.assertNotIn('range', gets[0]['headers'])
        rng = gets[1]['headers'].get('range', '')
        self.assertRegex(rng, r'^bytes=[0-9]+-$')
        offset = int(rng[len('bytes='):-1])
        self.assertTrue(0 < offset <= 20000, rng)
        self.assertEqual(gets[1]['status'], 206)
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(files))
        self.assertEqual(sha256_file(self.blob_path(layer)), layer.split(':')[1])

    def test_truncated_body_resumes(self):
        digest, layer, blob, files = self.push_random('test/trunc')
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'truncate', count=1, after=30000)
        plugin, _ = self.pull_ok(self.remote('test/trunc', 'v1'))
        gets = self.blob_gets(layer)
        self.assertEqual(len(gets), 2, gets)
        self.assertRegex(gets[1]['headers'].get('range', ''), r'^bytes=[1-9][0-9]*-$')
        self.assertEqual(gets[1]['status'], 206)
        self.assertEqual(tree(self.rootfs(plugin)), expected_tree(files))

    def test_corrupt_byte_uncompressed_layer(self):
        digest, layer, blob, _ = self.push_random('test/corrupt', compression=None)
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'corrupt', count=None,
                             offset=len(blob) // 2)
        e = self.pull_expect_error(ERR + 'DigestMismatch', self.remote('test/corrupt', 'v1'))
        self.assertIn(layer, e.message)
        self.assertEqual(self.blob_digests(), set())

    def test_corrupt_byte_gzip_layer(self):
        digest, layer, blob, _ = self.push_random('test/corrupt')
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'corrupt', count=None,
                             offset=len(blob) // 2)
        e = self.pull_expect_error(ERR + 'DigestMismatch', self.remote('test/corrupt', 'v1'))
        self.assertIn(layer, e.message)
        self.assertEqual(self.blob_digests(), set())

    def test_corrupt_config(self):
        self.push_random('test/corrupt')
        manifest, _, _ = self.manifest_of('test/corrupt', 'v1')
        config = manifest['config']['digest']
        self.proxy.add_fault('GET', '/blobs/' + config + '$', 'corrupt', count=None)
        e = self.pull_expect_error(ERR + 'DigestMismatch', self.remote('test/corrupt', 'v1'))
        self.assertIn(config, e.message)
        self.assertDBusError(ERR + 'DigestMismatch', self.get_privileges,
                             self.remote('test/corrupt', 'v1'))

    def test_redirect_loop(self):
        digest, layer, _, _ = self.push_random('test/loop')
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'redirect-loop', count=None)
        e = self.pull_expect_error(ERR + 'RegistryError', self.remote('test/loop', 'v1'))
        self.assertIn('redirect', e.message)
        n = len(self.blob_gets(layer))
        self.assertTrue(10 <= n <= 11, '%d requests for at most 10 redirects' % n)
        self.assertEqual(self.blob_digests(), set())

    def test_500_forever(self):
        digest, layer, _, _ = self.push_random('test/f500')
        # Retry-After: 0 keeps the test fast; the attempts are what is counted
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'status', count=None, status=500,
                             headers={'Retry-After': '0'})
        e = self.pull_expect_error(ERR + 'RegistryError', self.remote('test/f500', 'v1'))
        self.assertIn('500', e.message)
        self.assertEqual(len(self.blob_gets(layer)), 5, 'five attempts (retries are bounded)')
        self.assertEqual(self.blob_digests(), set())

    def test_deeply_nested_error_body(self):
        # 400 KB of '[' as a 404's body: the registry's error text is read from JSON, and a
        # recursive parser without a depth limit would overflow the stack
        self.push_random('test/deep')
        deep = b'[' * (400 * 1024)
        self.proxy.add_fault('GET', '/manifests/v1$', 'status', count=None, status=404,
                             body=deep)
        e = self.assertDBusError(ERR + 'RegistryNotFound', self.get_privileges,
                                 self.remote('test/deep', 'v1'))
        self.assertIn('404', e.message)
        self.pull_expect_error(ERR + 'RegistryNotFound', self.remote('test/deep', 'v1'))
        self.assertIsNone(self.daemon.poll(), 'plugind died')
        self.assertEqual(self.list_plugins(), [])

    def test_404_blob(self):
        digest, layer, _, _ = self.push_random('test/f404')
        self.proxy.add_fault('GET', '/blobs/' + layer + '$', 'status', count=None, status=404)
        self.pull_expect_error(ERR + 'RegistryNotFound', self.remote('test/f404', 'v1'))
        self.assertEqual(len(self.blob_gets(layer)), 1, 'a 404 is not retried')

    # -- download once -----------------------------------------------------------------------

    def test_concurrent_pulls_download_each_blob_once(self):
        slow = layer_entries({'data/random': (os.urandom(24 * 1024), 0o644)})
        small = layer_entries({'etc/motd': (b'small\n', 0o644)})
        _, _, blobs = self.push_plugin('test/once', 'v1', layers=[slow, small])
        digests = [sha256_digest(b) for b in blobs]
        self.proxy.add_fault('GET', '/blobs/' + digests[0] + '$', 'trickle', count=None,
                             chunk=1024, delay=0.03)
        jobs = [self.pull(self.remote('test/once', 'v1'), name, (), self.auth_options())
                for name in ('once/a', 'once/b')]
        # the trickled layer takes ~0.7 s: both jobs run at once
        self.assertEqual([self.job_prop(j, 'State') for j in jobs], ['running', 'running'])
        results = [self.wait_job(j) for j in jobs]
        for d in digests:
            self.assertEqual(len(self.blob_gets(d)), 1, 'blob %s fetched more than once' % d)
        trees = [tree(self.rootfs(r['plugin'])) for r in results]
        self.assertEqual(trees[0], trees[1])
        self.assertEqual(len(self.list_plugins()), 2)


# ---------------------------------------------------------------------------------------------
# plugind.conf


class PullCrashTests(PullTestCase):
    """kill -9 at the steps of a pull (PLUGIND_CRASH_POINT), then restart: the plugin is wholly
    there or wholly absent, nothing is left in tmp/, and the invariants hold."""

    def crash_during_pull(self, point):
        digest, _, _ = self.push_plugin('test/crash', 'v1', layers=[
            layer_entries(DEFAULT_FILES),
            [('file', 'etc/second', b'second layer\n', 0o644)]])
        self.restart_daemon({'PLUGIND_CRASH_POINT': point})
        try:
            self.wait_job(self.pull(self.remote('test/crash', 'v1'),
                                    options=self.auth_options()))
        except DBusError:
            pass  # the daemon may die before it replies
        rc = self.wait_daemon_death()
        self.assertEqual(rc, -9, 'plugind did not SIGKILL itself at %s' % point)
        self.start_daemon()
        self.check_invariants(settle=False)
        self.assertEqual(os.listdir(os.path.join(self.state_dir, 'tmp')), [])
        return digest

    def assert_absent_then_pullable(self, digest):
        self.assertEqual(self.list_plugins(), [])
        plugin, results = self.pull_ok(self.remote('test/crash', 'v1'))
        self.assertEqual(results['manifest-digest'], digest)
        with open(os.path.join(self.rootfs(plugin), 'etc/second'), 'rb') as f:
            self.assertEqual(f.read(), b'second layer\n')

    def test_crash_while_storing_a_layer(self):
        self.assert_absent_then_pullable(self.crash_during_pull('blob-after-rename'))

    def test_crash_before_commit(self):
        self.assert_absent_then_pullable(self.crash_during_pull('pull-before-commit'))

    def test_crash_before_the_commit_rename(self):
        self.assert_absent_then_pullable(self.crash_during_pull('store-commit-before-rename'))

    def test_crash_after_the_commit_rename(self):
        digest = self.crash_during_pull('store-commit-after-rename')
        plugins = self.list_plugins()
        self.assertEqual(len(plugins), 1)
        path = plugins[0][5]
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), digest)
        with open(os.path.join(self.rootfs(path), 'etc/second'), 'rb') as f:
            self.assertEqual(f.read(), b'second layer\n')


class ConfigTests(PullTestCase):

    def start_expect_refusal(self):
        """Starts the daemon, which must exit non-zero during start-up. Returns its log."""
        self.stop_daemon()
        with self.assertRaises(self.failureException) as cm:
            self.start_daemon()
        self.assertIn('exited during start-up', str(cm.exception))
        d, self.daemon = self.daemon, None
        self.assertNotEqual(d.returncode, 0)
        with open(self.log_path, errors='replace') as f:
            return f.read().split('===== start %d' % self.daemon_starts)[-1]

    def test_malformed_mirrors(self):
        self.write_config('[Registries]\nMirrors=ftp://x\n')
        log = self.start_expect_refusal()
        self.assertIn('Mirrors', log)
        self.assertIn('ftp://x', log)

    def test_malformed_insecure(self):
        self.write_config('[Registries]\nInsecure=http://host/path\n')
        log = self.start_expect_refusal()
        self.assertIn('Insecure', log)

    def test_well_formed_config(self):
        self.write_config('[Registries]\nInsecure=registry.example:5000;\n'
                          'Mirrors=https://mirror.example/ ; http://10.0.0.1:5000\n')
        self.restart_daemon()
        digest, _, _ = self.push_plugin('test/conf', 'v1')
        self.pull_ok(self.remote('test/conf', 'v1'))


class MirrorTests(PullTestCase):
    """Mirrors= for docker.io references, with the mirror a local registry behind the recording
    proxy: the pull is served by the mirror (nothing goes past it), and no credentials go to it."""
    registry_kind = 'proxy'

    def test_docker_hub_reference_served_by_the_mirror(self):
        # a mirror serves Docker Hub's paths: library/ for official images
        digest, _, _ = self.push_plugin('library/mirrored', 'v1')
        self.push_plugin('someone/plugin', 'v2')
        self.write_config('[Registries]\nMirrors=%s\n' % self.proxy.url)
        self.restart_daemon()
        options = {'registry-auth': GLib.Variant('s', registry_auth(server='docker.io'))}
        plugin, results = self.pull_ok('mirrored:v1', options=options)
        self.assertEqual(results['manifest-digest'], digest)
        self.assertEqual(self.plugin_prop(plugin, 'Name'), 'mirrored:v1')
        self.assertEqual(self.plugin_prop(plugin, 'Reference'), 'docker.io/library/mirrored:v1')
        privileges, info = self.get_privileges('someone/plugin:v2', options)
        self.assertEqual(info['reference'], 'docker.io/someone/plugin:v2')
        paths = [r['path'] for r in self.proxy.requests]
        self.assertIn('/v2/library/mirrored/manifests/v1', paths)
        self.assertIn('/v2/someone/plugin/manifests/v2', paths)
        # Docker Hub's credentials are for Docker Hub: never sent to a mirror
        self.assertEqual([r['path'] for r in self.proxy.requests
                          if 'authorization' in r['headers']], [])


if __name__ == '__main__':
    main()
