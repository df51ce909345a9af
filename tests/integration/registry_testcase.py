# SPDX-License-Identifier: LGPL-2.1-or-later
"""A PlugindTestCase with a real registry (docker-registry on 127.0.0.1) and plugind configured
for it: CONFIGURATION_DIRECTORY points at a per-test dir holding plugind.conf and certs.d/.

Subclasses set `registry_kind` ('plain', 'tls', 'htpasswd', 'token', 'proxy') before setUp.
"""

import base64
import hashlib
import json
import os
import stat

from gi.repository import GLib

import pd_registry
from pd_testcase import (DEFAULT_CONFIG, DEFAULT_FILES, JOB_IFACE, PLUGIN_IFACE, TIMEOUT_MULT,
                         DBusError, PlugindTestCase, opts, privileges_variant, sha256_file)

USER, PASSWORD = 'alice', 'wonderland'


def registry_auth(username=USER, password=PASSWORD, server=None, **extra):
    """Docker's X-Registry-Auth: base64url(JSON AuthConfig)."""
    auth = {'username': username, 'password': password}
    if server is not None:
        auth['serveraddress'] = server
    auth.update(extra)
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()


def layer_entries(files):
    """pd_registry.make_layer entries from DEFAULT_FILES-style {path: (bytes, mode)}."""
    entries = []
    dirs = set()
    for path in sorted(files):
        parts = path.split('/')[:-1]
        for i in range(1, len(parts) + 1):
            d = '/'.join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                entries.append(('dir', d, 0o755))
        data, mode = files[path]
        entries.append(('file', path, data, mode))
    return entries


def sha256_digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def tree(root):
    """{relative path: (kind, mode, sha256 or link target)} of a directory tree; hashes keep
    what a failed comparison prints short."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ('dir', stat.S_IMODE(st.st_mode), None)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ('link', None, os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ('file', stat.S_IMODE(st.st_mode), sha256_file(p))
            else:
                out[rel] = ('other', st.st_mode, None)
    return out


def expected_tree(files):
    """tree() of a rootfs holding files ({path: (bytes, mode)}), directories 0755."""
    out = {}
    for path, (data, mode) in files.items():
        parts = path.split('/')
        for i in range(1, len(parts)):
            out['/'.join(parts[:i])] = ('dir', 0o755, None)
        out[path] = ('file', mode, hashlib.sha256(data).hexdigest())
    return out


class RegistryTestCase(PlugindTestCase):
    registry_kind = 'plain'
    autostart_daemon = False
    # the plugind.conf the daemon starts with
    plugind_conf = ''

    def setUp(self):
        super().setUp()
        self.config_dir = os.path.join(self.tmpdir, 'etc')
        os.makedirs(os.path.join(self.config_dir, 'certs.d'))
        self.auth = None
        self.ca = None
        self.token_server = None
        work = os.path.join(self.tmpdir, 'registry')
        os.makedirs(work)
        kind = self.registry_kind
        if kind == 'tls':
            self.ca = pd_registry.TestCA(os.path.join(self.tmpdir, 'ca'))
            self.registry = pd_registry.Registry(work, tls=self.ca.issue())
        elif kind == 'htpasswd':
            self.registry = pd_registry.Registry(work, htpasswd={USER: PASSWORD})
            self.auth = (USER, PASSWORD)
        elif kind == 'token':
            self.token_server = pd_registry.TokenServer(os.path.join(self.tmpdir, 'token'),
                                                        users={USER: PASSWORD})
            self.addCleanup(self.token_server.stop)
            self.registry = pd_registry.Registry(work, token=self.token_server)
            self.auth = (USER, PASSWORD)
        else:
            self.registry = pd_registry.Registry(work)
        # Registry() has started it already: a second start() would spawn a second process on
        # the same port, which the first one answers for, and the first would leak unstopped
        self.addCleanup(self.registry.stop)
        if self.ca is not None:
            self.trust_ca(self.registry.host)
        self.proxy = None
        if kind == 'proxy':
            self.proxy = pd_registry.FaultProxy(self.registry.url)
            self.addCleanup(self.proxy.stop)
        self.write_config(self.plugind_conf)
        self.daemon_env = {'CONFIGURATION_DIRECTORY': self.config_dir}
        self.start_daemon()

    # -- set-up -----------------------------------------------------------------------

    def write_config(self, text):
        with open(os.path.join(self.config_dir, 'plugind.conf'), 'w') as f:
            f.write(text)

    def trust_ca(self, host):
        d = os.path.join(self.config_dir, 'certs.d', host)
        os.makedirs(d, exist_ok=True)
        with open(self.ca.ca_path, 'rb') as src, open(os.path.join(d, 'ca.crt'), 'wb') as dst:
            dst.write(src.read())

    @property
    def host(self):
        """What plugind is told to reach: the proxy when there is one."""
        return self.proxy.host if self.proxy is not None else self.registry.host

    def remote(self, repo, tag='latest'):
        return '%s/%s:%s' % (self.host, repo, tag)

    def requests_for(self, path_suffix, proxy=None, method='GET'):
        """The requests a FaultProxy (default: the test's) saw for paths ending so; method
        None: any method."""
        proxy = proxy or self.proxy
        return [r for r in list(proxy.requests)
                if r['path'].endswith(path_suffix) and (method is None or r['method'] == method)]

    def blob_gets(self, digest, proxy=None):
        return self.requests_for('/blobs/' + digest, proxy)

    # -- images -----------------------------------------------------------------------

    def push_plugin(self, repo, tag='latest', config=None, layers=None, files=None,
                    compression='gzip', docker_made=False, **kw):
        """Pushes a plugin image straight to the registry (not through plugind).

        layers: a list of make_layer entry lists (default: one layer of files or
        DEFAULT_FILES). docker_made: the image exactly as `docker plugin create` and `push`
        make it (one layer, the compressed digest as diff_id, Docker's config and manifest;
        see pd_registry.make_docker_layer). Returns (manifest digest, [diff_ids], [layer
        blobs])."""
        if layers is None:
            layers = [layer_entries(files if files is not None else DEFAULT_FILES)]
        config = config if config is not None else DEFAULT_CONFIG
        if docker_made:
            if len(layers) != 1 or compression != 'gzip':
                raise ValueError('Docker makes one gzip layer')
            built = [pd_registry.make_docker_layer(layers[0])]
            cfg = pd_registry.docker_plugin_config(config, [built[0][1]])
        else:
            built = [pd_registry.make_layer(e, compression=compression) for e in layers]
            cfg = pd_registry.make_plugin_config(config, [b[1] for b in built])
        digest = pd_registry.push_plugin(self.registry.url, repo, tag, cfg,
                                         [(b[0], b[2]) for b in built], auth=self.auth,
                                         ca=self.ca.ca_path if self.ca else None,
                                         docker_made=docker_made, **kw)
        return digest, [b[1] for b in built], [b[0] for b in built]

    # -- calls ------------------------------------------------------------------------

    def get_privileges(self, remote, options=None, **kw):
        return self.manager('GetPrivileges', GLib.Variant('(sa{sv})', (remote, options or {})),
                            '(a(ssas)a{sv})', **kw)

    def pull(self, remote, name='', privileges=(), options=None, **kw):
        args = GLib.Variant('(ssa(ssas)a{sv})', (remote, name, privileges_variant(privileges),
                                                 options or {}))
        return self.manager('Pull', args, '(o)', **kw)[0]

    def auth_options(self, **extra):
        o = {}
        if self.auth is not None:
            o['registry-auth'] = GLib.Variant('s', registry_auth(*self.auth))
        o.update(opts(**extra))
        return o

    def pull_ok(self, remote, name='', privileges=(), options=None):
        job = self.pull(remote, name, privileges, options if options is not None
                        else self.auth_options())
        try:
            results = self.wait_job(job)
        except DBusError as e:
            self.fail('pulling %s failed: %s' % (remote, e))
        return results['plugin'], results

    def pull_expect_error(self, names, remote, name='', privileges=(), options=None):
        """A pull whose job fails with one of names; nothing may be committed."""
        if isinstance(names, str):
            names = (names,)
        before = self.list_plugins()
        job = self.pull(remote, name, privileges, options if options is not None
                        else self.auth_options())
        try:
            results = self.wait_job(job)
        except DBusError as e:
            self.assertIn(e.name, names, 'wrong error from the pull job: %s' % e)
            self.assertEqual(self.list_plugins(), before, 'a failed pull installed a plugin')
            self.assertEqual(os.listdir(os.path.join(self.state_dir, 'tmp')), [],
                             'a failed pull left staging files')
            return e
        self.fail('expected %s, the pull succeeded: %r' % (names, results))

    def upgrade(self, plugin, remote='', privileges=(), options=None, **kw):
        args = GLib.Variant('(sa(ssas)a{sv})', (remote, privileges_variant(privileges),
                                                options if options is not None
                                                else self.auth_options()))
        return self.call(plugin, PLUGIN_IFACE, 'Upgrade', args, '(o)', **kw)[0]

    def push(self, plugin, options=None, **kw):
        return self.call(plugin, PLUGIN_IFACE, 'Push',
                         GLib.Variant('(a{sv})', (options if options is not None
                                                  else self.auth_options(),)), '(o)', **kw)[0]

    def rootfs(self, plugin):
        plugin_id = self.plugin_prop(plugin, 'Id')
        return os.path.join(self.state_dir, 'plugins', plugin_id, 'rootfs')

    def enable(self, plugin, **options):
        return self.call(plugin, PLUGIN_IFACE, 'Enable',
                         GLib.Variant('(a{sv})', (opts(**options),)),
                         timeout_ms=60000 * TIMEOUT_MULT)

    def disable(self, plugin, **options):
        return self.call(plugin, PLUGIN_IFACE, 'Disable',
                         GLib.Variant('(a{sv})', (opts(**options),)),
                         timeout_ms=60000 * TIMEOUT_MULT)

    def cancel(self, job):
        return self.call(job, JOB_IFACE, 'Cancel', GLib.Variant('(a{sv})', ({},)))

    def tmp_entries(self):
        """What the state's tmp/ holds (staging dirs, partial downloads)."""
        tmp = os.path.join(self.state_dir, 'tmp')
        return os.listdir(tmp) if os.path.isdir(tmp) else []
