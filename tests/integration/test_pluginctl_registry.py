#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pluginctl's registry commands (privileges, install, upgrade, push) against the real
distribution registry and the real daemon."""

import base64
import json
import os
import re
import select
import signal
import subprocess
import tarfile
import tempfile
import time
import tty
import urllib.parse
import urllib.request

import pd_registry
from pd_testcase import (DEFAULT_CONFIG, DEFAULT_FILES, ERR, EXAMPLE_CONTEXT, EXIT_FAILURE,
                         EXIT_NO_SUCH_PLUGIN, EXIT_NOT_AUTHORIZED, EXIT_USAGE, PLUGINCTL,
                         PRIV_CONFIG, TIMEOUT_MULT, main, plugin_call)
from registry_testcase import PASSWORD, USER, RegistryTestCase, layer_entries

PRIV_LINES = (' - network: [host]\n'
              ' - capabilities: [CAP_SYS_ADMIN CAP_NET_ADMIN]\n')
GRANT_QUESTION = 'Do you grant the above permissions? [y/N] '
MISMATCH_QUESTION = 'Plugin images do not match, are you sure? [y/N] '

# what a terminal could act on
RAW_CONTROLS = (b'\x1b', b'\xc2\x9b', b'\x7f', b'\r')


def require(path):
    if not os.path.exists(path):
        raise RuntimeError('%s is not built' % path)


def short_id(digest):
    return digest.split(':', 1)[1][:12]


def no_controls(test, data, what):
    for c in RAW_CONTROLS:
        test.assertNotIn(c, data, '%s carries a raw %r: %r' % (what, c, data))


def basic_auth(user, password):
    return base64.b64encode(('%s:%s' % (user, password)).encode()).decode()


class CtlRegistryTestCase(RegistryTestCase):

    def setUp(self):
        require(PLUGINCTL)
        super().setUp()
        # the caller's home: no Docker config unless a test writes one
        self.home = tempfile.mkdtemp(prefix='home-', dir=self.tmpdir)

    # -- running pluginctl --------------------------------------------------------------

    def env(self, **extra):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL='C.UTF-8',
                   HOME=self.home)
        for k in ('DBUS_SESSION_BUS_ADDRESS', 'DOCKER_CONFIG'):
            env.pop(k, None)
        env.update(extra)
        return env

    def ctl(self, *args, stdin=None, env=None):
        """Runs pluginctl; stdin: bytes, or None for an empty input (EOF). Not a terminal."""
        return subprocess.run([PLUGINCTL] + list(args), env=env or self.env(),
                              input=stdin or b'', capture_output=True,
                              timeout=120 * TIMEOUT_MULT)

    def ctl_ok(self, *args, **kw):
        p = self.ctl(*args, **kw)
        self.assertEqual(p.returncode, 0, 'pluginctl %s failed (%d)\nstdout: %s\nstderr: %s' %
                         (' '.join(args), p.returncode, p.stdout.decode(errors='replace'),
                          p.stderr.decode(errors='replace')))
        self.assertNotIn(b'GDBus.Error', p.stderr)
        return p.stdout.decode(), p.stderr.decode()

    def ctl_fail(self, status, *args, **kw):
        p = self.ctl(*args, **kw)
        self.assertEqual(p.returncode, status, 'pluginctl %s: expected status %d, got %d\n'
                         'stdout: %s\nstderr: %s' % (' '.join(args), status, p.returncode,
                                                     p.stdout.decode(errors='replace'),
                                                     p.stderr.decode(errors='replace')))
        self.assertNotIn(b'GDBus.Error', p.stderr)
        return p.stdout.decode(), p.stderr.decode()

    def ctl_pty(self, *args, answers=(), env=None, on_output=None, timeout=120):
        """Runs pluginctl with standard input and output on a terminal (raw mode: no echo, no
        CR added). answers: (text, bytes) pairs, each typed once text has appeared in the
        output after the previous answer. on_output(output so far, process) is called after
        every read. Returns (status, output bytes, stderr bytes)."""
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            p = subprocess.Popen([PLUGINCTL] + list(args), env=env or self.env(), stdin=slave,
                                 stdout=slave, stderr=subprocess.PIPE)
        finally:
            os.close(slave)
        out = b''
        seen = 0
        pending = list(answers)
        deadline = time.monotonic() + timeout * TIMEOUT_MULT
        try:
            while True:
                if pending and pending[0][0].encode() in out[seen:]:
                    os.write(master, pending[0][1])
                    seen = len(out)
                    pending.pop(0)
                self.assertLess(time.monotonic(), deadline, 'pluginctl hangs: %r' % out)
                r, _, _ = select.select([master], [], [], 0.2)
                if not r:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every slave end is closed, pluginctl is gone
                    break
                if not chunk:
                    break
                out += chunk
                if on_output is not None:
                    on_output(out, p)
            err = p.stderr.read()
            status = p.wait(30 * TIMEOUT_MULT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stderr.close()
            os.close(master)
        self.assertEqual(pending, [], 'prompts never shown: %r' % out)
        return status, out, err

    # -- fixtures ------------------------------------------------------------------------

    def docker_config(self, auths=None, path=None, **extra):
        """Writes a Docker CLI config.json (default: $HOME/.docker/config.json)."""
        if path is None:
            path = os.path.join(self.home, '.docker', 'config.json')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        doc = {'auths': auths or {}}
        doc.update(extra)
        with open(path, 'w') as f:
            json.dump(doc, f)
        os.chmod(path, 0o600)
        return path

    def assertNoPlugins(self):
        self.assertEqual(self.list_plugins(), [])

    def assertNoJobs(self):
        self.assertEqual(self.list_jobs(), [])


class PrivilegesTests(CtlRegistryTestCase):

    def test_privileges_text(self):
        plain, _, _ = self.push_plugin('test/plain')
        priv, _, _ = self.push_plugin('test/priv', config=PRIV_CONFIG)
        out, err = self.ctl_ok('privileges', self.remote('test/plain'))
        self.assertEqual(out, 'Plugin "%s" is requesting no privileges\nDigest: %s\n' %
                         (self.remote('test/plain'), plain))
        self.assertEqual(err, '')
        out, err = self.ctl_ok('privileges', self.remote('test/priv'))
        self.assertEqual(out, 'Plugin "%s" is requesting the following privileges:\n%s'
                         'Digest: %s\n' % (self.remote('test/priv'), PRIV_LINES, priv))
        # nothing was installed or started
        self.assertNoPlugins()
        self.assertNoJobs()

    def test_privileges_json(self):
        digest, _, blobs = self.push_plugin('test/priv', 'v1', config=PRIV_CONFIG)
        out, _ = self.ctl_ok('privileges', '--format', 'json', self.remote('test/priv', 'v1'))
        self.assertEqual(out.count('\n'), 1, out)
        doc = json.loads(out)
        self.assertEqual(doc['Digest'], digest)
        self.assertEqual(doc['Reference'], self.remote('test/priv', 'v1'))
        self.assertEqual(doc['Description'], 'A test plugin')
        self.assertEqual(doc['InterfaceTypes'], ['docker.volumedriver/1.0'])
        self.assertEqual(doc['Size'], sum(len(b) for b in blobs))
        self.assertEqual([(p['Name'], p['Value']) for p in doc['Privileges']],
                         [('network', ['host']),
                          ('capabilities', ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'])])
        for p in doc['Privileges']:
            self.assertIsInstance(p['Description'], str)
        # text is the default, and other formats are a usage error
        self.assertIn('Digest: ' + digest, self.ctl_ok('privileges', '--format', 'text',
                                                        self.remote('test/priv', 'v1'))[0])
        self.ctl_fail(EXIT_USAGE, 'privileges', '--format', 'yaml', self.remote('test/priv', 'v1'))

    def test_privileges_errors(self):
        # no such repository: the daemon's error, exit status 1
        out, err = self.ctl_fail(EXIT_FAILURE, 'privileges', self.remote('test/missing'))
        self.assertEqual(out, '')
        self.assertTrue(err.startswith('Error: '), err)
        # a malformed reference (upper case) is a usage error, found before the bus is used
        _, err = self.ctl_fail(EXIT_USAGE, 'privileges', self.host + '/Test/Upper')
        self.assertTrue(err.startswith('Error: '), err)
        self.ctl_fail(EXIT_USAGE, 'privileges')
        self.ctl_fail(EXIT_USAGE, 'privileges', 'a', 'b')


class InstallTests(CtlRegistryTestCase):

    def test_install_unprivileged_settings_disabled(self):
        digest, _, blobs = self.push_plugin('test/plain', 'v1')
        remote = self.remote('test/plain', 'v1')
        # stdin is at EOF: a prompt would fail the install
        out, err = self.ctl_ok('install', '--disable', remote, 'DEBUG=1', 'args=--bar --baz')
        self.assertNotIn('privileges', out)
        lines = out.splitlines()
        self.assertEqual(lines[0], 'v1: Pulling from %s/test/plain' % self.host)
        self.assertEqual(lines[1], 'Digest: ' + digest)
        self.assertIn('%s: Pull complete' % short_id(pd_registry._sha256(blobs[0])), lines)
        self.assertEqual(lines[-1], 'Installed plugin ' + remote)
        no_controls(self, out.encode(), 'stdout')
        path = self.get_plugin(remote)
        self.assertEqual(self.plugin_prop(path, 'Name'), remote)
        self.assertEqual(self.plugin_prop(path, 'Reference'), remote)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), digest)
        self.assertFalse(self.plugin_prop(path, 'Enabled'))
        self.assertEqual(self.plugin_prop(path, 'State'), 'disabled')
        self.assertIn('DEBUG=1', self.plugin_env(path))
        self.assertEqual(self.plugin_args(path), ['--bar', '--baz'])
        # one pull job, finished
        jobs = self.list_jobs()
        self.assertEqual([j[1] for j in jobs], ['pull'])
        self.assertEqual(self.job_prop(jobs[0][5], 'Result'), 'done')
        # installing it again: the daemon's PluginExists, nothing changed
        _, err = self.ctl_fail(EXIT_FAILURE, 'install', '--disable', remote)
        self.assertTrue(err.startswith('Error: '), err)
        self.assertEqual(len(self.list_plugins()), 1)

    def test_install_privileged_refused_without_terminal(self):
        self.push_plugin('test/priv', config=PRIV_CONFIG)
        remote = self.remote('test/priv')
        prompt = ('Plugin "%s" is requesting the following privileges:\n%s%s' %
                  (remote, PRIV_LINES, GRANT_QUESTION))
        # at end of input, and with a "y" that does not come from a terminal
        for answer in (None, b'y\n'):
            out, err = self.ctl_fail(EXIT_FAILURE, 'install', '--disable', remote, stdin=answer)
            self.assertEqual(out, prompt + '\n')
            self.assertTrue(err.endswith('Error: permission denied while installing plugin %s\n'
                                         % remote), err)
            self.assertNoPlugins()
            self.assertNoJobs()

    def test_install_privileged_granted(self):
        digest, _, _ = self.push_plugin('test/priv', config=PRIV_CONFIG)
        remote = self.remote('test/priv')
        out, _ = self.ctl_ok('install', '--grant-all-permissions', '--disable', remote)
        self.assertNotIn('privileges', out)
        self.assertTrue(out.endswith('Installed plugin %s\n' % remote), out)
        path = self.get_plugin(remote)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), digest)
        self.assertEqual([(p[0], list(p[2])) for p in self.plugin_prop(path, 'Privileges')],
                         [('network', ['host']),
                          ('capabilities', ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'])])

    def test_install_privileged_terminal_yes(self):
        digest, _, _ = self.push_plugin('test/priv', config=PRIV_CONFIG)
        remote = self.remote('test/priv')
        prompt = ('Plugin "%s" is requesting the following privileges:\n%s%s' %
                  (remote, PRIV_LINES, GRANT_QUESTION))
        status, out, err = self.ctl_pty('install', '--disable', remote,
                                        answers=[(GRANT_QUESTION, b'y\n')])
        self.assertEqual(status, 0, err)
        self.assertTrue(out.startswith(prompt.encode()), out)
        self.assertTrue(out.endswith(b'Installed plugin %s\n' % remote.encode()), out)
        self.assertEqual(self.plugin_prop(self.get_plugin(remote), 'ManifestDigest'), digest)

    def test_install_privileged_terminal_no(self):
        self.push_plugin('test/priv', config=PRIV_CONFIG)
        remote = self.remote('test/priv')
        prompt = ('Plugin "%s" is requesting the following privileges:\n%s%s' %
                  (remote, PRIV_LINES, GRANT_QUESTION))
        for answer in (b'n\n', b'\n', b'yes\n'):
            status, out, err = self.ctl_pty('install', '--disable', remote,
                                            answers=[(GRANT_QUESTION, answer)])
            self.assertEqual(status, EXIT_FAILURE, (out, err))
            self.assertEqual(out, prompt.encode())
            self.assertEqual(err, b'Error: permission denied while installing plugin %s\n' %
                             remote.encode())
            self.assertNoPlugins()
            self.assertNoJobs()

    def test_install_alias(self):
        digest, _, _ = self.push_plugin('test/plain', 'v2')
        remote = self.remote('test/plain', 'v2')
        out, _ = self.ctl_ok('install', '--disable', '--alias', 'me/local', remote)
        # Docker prints the remote it was given, not the alias
        self.assertTrue(out.endswith('Installed plugin %s\n' % remote), out)
        path = self.get_plugin('me/local')
        self.assertEqual(self.plugin_prop(path, 'Name'), 'me/local:latest')
        self.assertEqual(self.plugin_prop(path, 'Reference'), remote)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), digest)
        self.assertDBusError(ERR + 'NoSuchPlugin', self.get_plugin, remote)
        # the same remote under a second alias, with a tag
        self.ctl_ok('install', '--disable', '--alias', 'me/local:2', remote)
        self.assertEqual(self.plugin_prop(self.get_plugin('me/local:2'), 'Name'), 'me/local:2')
        # an alias with a digest, a bad setting: usage errors, nothing asked of the daemon
        for args in (('--alias', 'me/x@sha256:' + '0' * 64, remote), (remote, '=value'),
                     (self.host + '/Test/Upper',), ()):
            _, err = self.ctl_fail(EXIT_USAGE, 'install', *args)
            self.assertTrue(err.startswith('Error: '), err)
        self.assertEqual(len(self.list_plugins()), 2)
        self.assertEqual(len(self.list_jobs()), 2)

    def test_install_by_digest(self):
        digest, _, _ = self.push_plugin('test/plain', 'v3')
        remote = '%s/test/plain@%s' % (self.host, digest)
        out, _ = self.ctl_ok('install', '--disable', remote)
        lines = out.splitlines()
        self.assertEqual(lines[0], 'Pulling from %s/test/plain' % self.host)
        self.assertEqual(lines[1], 'Digest: ' + digest)
        path = self.get_plugin('%s/test/plain:latest' % self.host)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), digest)

    def test_install_consent_bound_to_digest(self):
        # the tag moves between the privileges lookup and the pull: the pull fails instead of
        # installing content nobody looked at
        self.push_plugin('test/moving', config=PRIV_CONFIG)
        remote = self.remote('test/moving')
        moved = []

        def move(out, p):
            if GRANT_QUESTION.encode() in out and not moved:
                moved.append(self.push_plugin('test/moving', config=PRIV_CONFIG,
                                              files={'bin/other': (b'x', 0o755)})[0])
        status, out, err = self.ctl_pty('install', '--disable', remote, on_output=move,
                                        answers=[(GRANT_QUESTION, b'y\n')])
        self.assertEqual(moved and status, EXIT_FAILURE, (out, err))
        self.assertIn(b'\nError: ', b'\n' + err)
        self.assertIn(moved[0].encode(), err)
        self.assertNoPlugins()
        self.assertEqual(self.job_prop(self.list_jobs()[0][5], 'ErrorName'),
                         ERR + 'DigestMismatch')


# -- a terminal, as far as pluginctl drives one ------------------------------------------------

_CONTROL = re.compile(rb'\x1b\[(\d*)([A-Za-z])|\r|\n|[\x00-\xff]')


def screen(data):
    """The lines a terminal shows after data: CR, LF, ESC[nA (up), ESC[2K, ESC[K, ESC[J."""
    rows = ['']
    r = c = 0
    text = data
    for m in _CONTROL.finditer(text):
        tok = m.group(0)
        if tok == b'\r':
            c = 0
        elif tok == b'\n':
            r += 1
            c = 0
            while len(rows) <= r:
                rows.append('')
        elif m.group(2) is not None:
            n = int(m.group(1) or '0')
            cmd = m.group(2)
            if cmd == b'A':
                r = max(0, r - max(n, 1))
            elif cmd == b'K':
                rows[r] = '' if n == 2 else rows[r][:c]
            elif cmd == b'J':
                rows[r] = rows[r][:c]
                del rows[r + 1:]
            else:
                raise AssertionError('unexpected escape sequence %r' % tok)
        else:
            ch = tok.decode('latin-1')
            rows[r] = rows[r][:c].ljust(c) + ch + rows[r][c + 1:]
            c += 1
    while rows and rows[-1] == '':
        rows.pop()
    return rows


def big_layers():
    """Three layers; the second is 300 kB of incompressible data, slow to download."""
    return [layer_entries({'bin/hello': (b'#!/bin/sh\necho hello\n', 0o755)}),
            layer_entries({'data/big': (os.urandom(300000), 0o644)}),
            layer_entries({'etc/motd': (b'plugind test rootfs\n', 0o644)})]


class ProgressTests(CtlRegistryTestCase):
    """Downloads slowed down by the FaultProxy, so that progress is seen."""
    registry_kind = 'proxy'

    def push_slow(self, repo='test/multi', config=None):
        digest, _, blobs = self.push_plugin(repo, layers=big_layers(), config=config)
        self.proxy.add_fault('GET', '/blobs/sha256:', 'trickle', count=None, chunk=16384,
                             delay=0.05)
        return digest, [pd_registry._sha256(b) for b in blobs]

    def test_progress_without_terminal(self):
        digest, layers = self.push_slow()
        out, err = self.ctl_ok('install', '--disable', self.remote('test/multi'))
        no_controls(self, out.encode(), 'stdout')
        no_controls(self, err.encode(), 'stderr')
        lines = out.splitlines()
        self.assertEqual(lines[:2], ['latest: Pulling from %s/test/multi' % self.host,
                                     'Digest: ' + digest])
        self.assertEqual(lines[-1], 'Installed plugin ' + self.remote('test/multi'))
        # one line per status change of each layer: never the same line twice
        self.assertEqual(len(lines), len(set(lines)), out)
        for layer in layers:
            mine = [l for l in lines if l.startswith(short_id(layer) + ': ')]
            self.assertEqual(mine[-1], short_id(layer) + ': Pull complete', out)
        # the slow layer was seen downloading, without a progress bar
        big = [l for l in lines if l.startswith(short_id(layers[1]) + ': ')]
        self.assertIn(short_id(layers[1]) + ': Downloading', big)
        self.assertLess(big.index(short_id(layers[1]) + ': Downloading'),
                        big.index(short_id(layers[1]) + ': Pull complete'))

    def test_progress_on_a_terminal(self):
        digest, layers = self.push_slow(config=PRIV_CONFIG)
        remote = self.remote('test/multi')
        status, out, err = self.ctl_pty('install', '--disable', remote,
                                        answers=[(GRANT_QUESTION, b'y\n')])
        self.assertEqual(status, 0, err)
        # redrawn in place: the cursor goes back up over the three layer lines
        self.assertIn(b'\x1b[3A', out)
        self.assertRegex(out, rb'\r\x1b\[2K%s: Downloading \[=*> *\] +[0-9.]+kB/[0-9.]+kB\n'
                         % short_id(layers[1]).encode())
        # what stays on the screen
        self.assertEqual(screen(out), [
            'Plugin "%s" is requesting the following privileges:' % remote,
            ' - network: [host]',
            ' - capabilities: [CAP_SYS_ADMIN CAP_NET_ADMIN]',
            GRANT_QUESTION + 'latest: Pulling from %s/test/multi' % self.host,
            'Digest: ' + digest,
        ] + ['%s: Pull complete' % short_id(l) for l in layers] + [
            'Installed plugin ' + remote,
        ])

    def test_ctrl_c_cancels_the_job(self):
        self.push_plugin('test/multi', layers=big_layers())
        self.proxy.add_fault('GET', '/blobs/sha256:', 'trickle', count=None, chunk=4096,
                             delay=0.2)
        p = subprocess.Popen([PLUGINCTL, 'install', '--disable', self.remote('test/multi')],
                             env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            out = b''
            deadline = time.monotonic() + 60 * TIMEOUT_MULT
            while b': Downloading\n' not in out:
                self.assertLess(time.monotonic(), deadline, 'no download seen: %r' % out)
                r, _, _ = select.select([p.stdout], [], [], 0.2)
                if r:
                    chunk = os.read(p.stdout.fileno(), 65536)
                    self.assertNotEqual(chunk, b'', 'pluginctl ended early: %r' % out)
                    out += chunk
            jobs = self.list_jobs()
            self.assertEqual(len(jobs), 1)
            self.assertEqual(self.job_prop(jobs[0][5], 'State'), 'running')
            p.send_signal(signal.SIGINT)
            rest, err = p.communicate(timeout=60 * TIMEOUT_MULT)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, EXIT_FAILURE, err)
        self.assertIn(b'Cancelling', err)
        self.assertIn(b'\nError: ', b'\n' + err)
        self.assertNotIn(b'Installed plugin', out + rest)
        job = jobs[0][5]
        self.assertEqual(self.job_prop(job, 'Result'), 'cancelled')
        self.assertEqual(self.job_prop(job, 'ErrorName'), ERR + 'JobCancelled')
        self.assertNoPlugins()


class CredentialTests(CtlRegistryTestCase):
    """Credentials from the caller's Docker config for a registry with htpasswd auth."""
    registry_kind = 'htpasswd'
    WRONG = 'Wr0ng-S3cret!'

    def assertNoSecret(self, *outputs):
        for secret in (PASSWORD, self.WRONG, basic_auth(USER, PASSWORD),
                       basic_auth(USER, self.WRONG)):
            for text in outputs:
                self.assertNotIn(secret, text)

    def test_install_with_config_credentials(self):
        digest, _, _ = self.push_plugin('test/secret')
        remote = self.remote('test/secret')
        self.docker_config({self.host: {'auth': basic_auth(USER, PASSWORD)}})
        out, err = self.ctl_ok('privileges', remote)
        self.assertIn('Digest: ' + digest, out)
        out, err = self.ctl_ok('install', '--disable', remote)
        self.assertTrue(out.endswith('Installed plugin %s\n' % remote), out)
        self.assertNoSecret(out, err)
        self.assertEqual(self.plugin_prop(self.get_plugin(remote), 'ManifestDigest'), digest)
        # pushing it elsewhere on the same registry uses them too
        out, err = self.ctl_ok('push', '--remote', self.remote('test/copy', 'v1'), remote)
        self.assertNoSecret(out, err)
        _, _, pushed = pd_registry.get_manifest(self.registry.url, 'test/copy', 'v1',
                                                auth=self.auth)
        self.assertEqual(pushed, digest)

    def test_config_key_forms(self):
        digest, _, _ = self.push_plugin('test/secret')
        remote = self.remote('test/secret')
        # $DOCKER_CONFIG wins over $HOME; a key with scheme and path; username and password
        config_dir = tempfile.mkdtemp(prefix='docker-config-', dir=self.tmpdir)
        self.docker_config({'http://%s/v2/' % self.host: {'username': USER,
                                                          'password': PASSWORD}},
                           path=os.path.join(config_dir, 'config.json'))
        self.docker_config({self.host: {'auth': basic_auth(USER, self.WRONG)}})
        out, err = self.ctl_ok('privileges', remote, env=self.env(DOCKER_CONFIG=config_dir))
        self.assertIn('Digest: ' + digest, out)
        self.assertNoSecret(out, err)
        # the exact key first, as Docker's file store looks it up
        self.docker_config({'https://%s' % self.host: {'auth': basic_auth(USER, self.WRONG)},
                            self.host: {'auth': basic_auth(USER, PASSWORD)}})
        out, err = self.ctl_ok('privileges', remote)
        self.assertIn('Digest: ' + digest, out)

    def test_wrong_credentials(self):
        self.push_plugin('test/secret')
        remote = self.remote('test/secret')
        path = self.docker_config({self.host: {'auth': basic_auth(USER, self.WRONG)}})
        for args in (('privileges', remote), ('install', '--disable', remote)):
            out, err = self.ctl_fail(EXIT_FAILURE, *args)
            self.assertEqual(out, '')
            self.assertTrue(err.startswith('Error: '), err)
            self.assertIn('Note: the registry %s refused the credentials for it in %s.\n' %
                          (self.host, path), err)
            self.assertNoSecret(out, err)
        self.assertNoPlugins()
        self.assertNoJobs()

    def test_no_credentials(self):
        self.push_plugin('test/secret')
        remote = self.remote('test/secret')
        path = os.path.join(self.home, '.docker', 'config.json')
        out, err = self.ctl_fail(EXIT_FAILURE, 'install', remote)
        self.assertTrue(err.startswith('Error: '), err)
        self.assertIn('Note: %s holds no credentials for %s' % (path, self.host), err)
        self.assertNoPlugins()

    def test_credentials_of_other_registries_are_not_sent(self):
        self.push_plugin('test/secret')
        remote = self.remote('test/secret')
        right = {'auth': basic_auth(USER, PASSWORD)}
        port = int(self.host.rsplit(':', 1)[1])
        other_port = '127.0.0.1:%d' % (port + 1 if port < 65535 else port - 1)
        self.docker_config({'https://index.docker.io/v1/': right, other_port: right,
                            'https://%s.example/' % self.host.replace(':', '-'): right})
        _, err = self.ctl_fail(EXIT_FAILURE, 'install', remote)
        self.assertIn('holds no credentials for %s' % self.host, err)
        self.assertNoPlugins()

    def test_credential_helpers_are_not_run(self):
        self.push_plugin('test/secret')
        remote = self.remote('test/secret')
        for extra in ({'credsStore': 'desktop'}, {'credHelpers': {self.host: 'pass'}}):
            path = self.docker_config({self.host: {}}, **extra)
            _, err = self.ctl_fail(EXIT_FAILURE, 'install', remote)
            self.assertEqual(err.count('names a credential helper'), 1, err)
            self.assertIn('Note: %s names a credential helper' % path, err)
            self.assertNotIn('docker login', err)
        # a helper for another registry says nothing
        self.docker_config({}, credHelpers={'registry.example': 'pass'})
        _, err = self.ctl_fail(EXIT_FAILURE, 'install', remote)
        self.assertNotIn('credential helper', err)
        # inline credentials are used even with a helper configured
        self.docker_config({self.host: {'auth': basic_auth(USER, PASSWORD)}},
                           credsStore='desktop')
        out, err = self.ctl_ok('install', '--disable', remote)
        self.assertNotIn('credential helper', err)

    def test_broken_config(self):
        self.push_plugin('test/secret')
        remote = self.remote('test/secret')
        path = os.path.join(self.home, '.docker', 'config.json')
        os.makedirs(os.path.dirname(path))
        with open(path, 'w') as f:
            f.write('{"auths": {"%s": {"auth": "%s"' % (self.host, basic_auth(USER, PASSWORD)))
        _, err = self.ctl_fail(EXIT_FAILURE, 'privileges', remote)
        self.assertIn('WARNING: Error loading config file: %s' % path, err)
        self.assertNoSecret(err)
        # an "auth" that is not base64 of user:password
        self.docker_config({self.host: {'auth': base64.b64encode(PASSWORD.encode()).decode()}})
        _, err = self.ctl_fail(EXIT_FAILURE, 'privileges', remote)
        self.assertIn('WARNING: %s: the “auth” of “%s”' % (path, self.host), err)
        self.assertNoSecret(err)


class TokenCredentialTests(CtlRegistryTestCase):
    """A registry with a token server: user and password, and an identity token."""
    registry_kind = 'token'

    def test_install_with_password(self):
        digest, _, _ = self.push_plugin('test/tok')
        remote = self.remote('test/tok')
        self.docker_config({self.host: {'auth': basic_auth(USER, PASSWORD)}})
        self.ctl_ok('install', '--disable', remote)
        self.assertEqual(self.plugin_prop(self.get_plugin(remote), 'ManifestDigest'), digest)
        self.assertTrue(any(r['user'] == USER and r['status'] == 200
                            for r in self.token_server.requests))

    def test_install_with_identity_token(self):
        digest, _, _ = self.push_plugin('test/tok')
        remote = self.remote('test/tok')
        # what `docker login` keeps for an OAuth2 registry: a refresh token
        form = urllib.parse.urlencode({'grant_type': 'password', 'username': USER,
                                       'password': PASSWORD, 'access_type': 'offline',
                                       'service': self.token_server.service,
                                       'client_id': 'docker'}).encode()
        with urllib.request.urlopen(self.token_server.realm, data=form, timeout=30) as resp:
            refresh = json.loads(resp.read())['refresh_token']
        self.docker_config({self.host: {'auth': '', 'identitytoken': refresh}})
        before = len(self.token_server.requests)
        out, err = self.ctl_ok('install', '--disable', remote)
        self.assertNotIn(refresh, out + err)
        self.assertEqual(self.plugin_prop(self.get_plugin(remote), 'ManifestDigest'), digest)
        used = [r for r in self.token_server.requests[before:]
                if r['grant_type'] == 'refresh_token']
        self.assertTrue(used and all(r['refresh_token'] == refresh for r in used),
                        self.token_server.requests[before:])


class UpgradeTests(CtlRegistryTestCase):

    def push_version(self, tag, description, config=None, marker=b'1'):
        cfg = dict(config or DEFAULT_CONFIG, Description=description)
        files = dict(DEFAULT_FILES, **{'etc/version': (marker, 0o644)})
        return self.push_plugin('test/up', tag, config=cfg, files=files)[0]

    def install(self, tag='latest'):
        self.ctl_ok('install', '--disable', self.remote('test/up', tag))
        path = self.get_plugin(self.remote('test/up', tag))
        return path, {k: self.plugin_prop(path, k)
                      for k in ('Id', 'ConfigDigest', 'ManifestDigest', 'Reference')}

    def test_upgrade_same_tag(self):
        self.push_version('latest', 'version one')
        path, before = self.install()
        name = self.remote('test/up')
        self.set_settings(path, {'DEBUG': '7'})
        v2 = self.push_version('latest', 'version two', marker=b'2')
        out, err = self.ctl_ok('upgrade', name)
        familiar = name
        lines = out.splitlines()
        self.assertEqual(lines[0], 'Upgrading plugin %s from %s to %s' % (name, familiar,
                                                                          familiar))
        self.assertNotIn('Plugin images do not match', out)
        self.assertEqual(lines[1], 'latest: Pulling from %s/test/up' % self.host)
        self.assertEqual(lines[2], 'Digest: ' + v2)
        self.assertEqual(lines[-1], 'Upgraded plugin %s to %s' % (name, name))
        no_controls(self, out.encode(), 'stdout')
        # the same plugin, with the new content and the old settings
        self.assertEqual(self.get_plugin(name), path)
        self.assertEqual(self.plugin_prop(path, 'Id'), before['Id'])
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), v2)
        self.assertNotEqual(self.plugin_prop(path, 'ConfigDigest'), before['ConfigDigest'])
        self.assertEqual(self.plugin_prop(path, 'Description'), 'version two')
        self.assertEqual(self.plugin_prop(path, 'Reference'), before['Reference'])
        self.assertIn('DEBUG=7', self.plugin_env(path))
        with open(os.path.join(self.rootfs(path), 'etc', 'version'), 'rb') as f:
            self.assertEqual(f.read(), b'2')
        self.assertEqual([j[1] for j in self.list_jobs()], ['pull', 'upgrade'])

    def test_upgrade_other_image_asks(self):
        self.push_version('v1', 'version one')
        path, before = self.install('v1')
        name = self.remote('test/up', 'v1')
        v2 = self.push_version('v2', 'version two', marker=b'2')
        target = self.remote('test/up', 'v2')
        header = 'Upgrading plugin %s from %s to %s\n' % (name, name, target)
        # no terminal, or "n": cancelled, nothing changed
        out, err = self.ctl_fail(EXIT_FAILURE, 'upgrade', name, target, stdin=b'y\n')
        self.assertEqual(out, header + MISMATCH_QUESTION + '\n')
        self.assertTrue(err.endswith('Error: plugin upgrade has been cancelled\n'), err)
        status, tout, terr = self.ctl_pty('upgrade', name, target,
                                          answers=[(MISMATCH_QUESTION, b'n\n')])
        self.assertEqual(status, EXIT_FAILURE, terr)
        self.assertEqual(tout, (header + MISMATCH_QUESTION).encode())
        self.assertEqual(terr, b'Error: plugin upgrade has been cancelled\n')
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), before['ManifestDigest'])
        self.assertEqual([j[1] for j in self.list_jobs()], ['pull'])
        # "y" on the terminal: upgraded to the other tag
        status, tout, terr = self.ctl_pty('upgrade', name, target,
                                          answers=[(MISMATCH_QUESTION, b'y\n')])
        self.assertEqual(status, 0, terr)
        self.assertTrue(tout.startswith((header + MISMATCH_QUESTION).encode()), tout)
        self.assertTrue(tout.endswith(b'Upgraded plugin %s to %s\n' % (name.encode(),
                                                                       target.encode())), tout)
        self.assertEqual(self.plugin_prop(path, 'Id'), before['Id'])
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), v2)
        self.assertEqual(self.plugin_prop(path, 'Reference'), target)
        self.assertEqual(self.plugin_prop(path, 'Name'), name)
        # --skip-remote-check: no question
        v3 = self.push_version('v3', 'version three', marker=b'3')
        out, _ = self.ctl_ok('upgrade', '--skip-remote-check', name, self.remote('test/up', 'v3'))
        self.assertNotIn('Plugin images do not match', out)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), v3)

    def test_upgrade_privileged(self):
        self.push_version('latest', 'version one')
        path, before = self.install()
        name = self.remote('test/up')
        v2 = self.push_version('latest', 'version two', config=PRIV_CONFIG, marker=b'2')
        out, err = self.ctl_fail(EXIT_FAILURE, 'upgrade', name)
        self.assertTrue(out.endswith('Plugin "%s" is requesting the following privileges:\n%s%s\n'
                                     % (name, PRIV_LINES, GRANT_QUESTION)), out)
        self.assertTrue(err.endswith('Error: permission denied while installing plugin %s\n'
                                     % name), err)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), before['ManifestDigest'])
        status, tout, terr = self.ctl_pty('upgrade', name, answers=[(GRANT_QUESTION, b'y\n')])
        self.assertEqual(status, 0, terr)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), v2)
        self.assertEqual([p[0] for p in self.plugin_prop(path, 'Privileges')],
                         ['network', 'capabilities'])
        self.assertEqual(self.plugin_prop(path, 'Id'), before['Id'])

    def test_upgrade_errors(self):
        self.ctl_fail(EXIT_NO_SUCH_PLUGIN, 'upgrade', 'test/none')
        self.ctl_fail(EXIT_USAGE, 'upgrade')
        self.ctl_fail(EXIT_USAGE, 'upgrade', 'a', 'b', 'c')
        self.push_version('latest', 'version one')
        path, before = self.install()
        self.ctl_fail(EXIT_USAGE, 'upgrade', self.remote('test/up'), self.host + '/Bad/Name')
        # the repository is gone from the registry: the daemon's error
        _, err = self.ctl_fail(EXIT_FAILURE, 'upgrade', '--skip-remote-check',
                               self.remote('test/up'), self.remote('test/gone'))
        self.assertIn('\nError: ', '\n' + err)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), before['ManifestDigest'])


class PushTests(CtlRegistryTestCase):

    def test_push_to_another_repository(self):
        digest, _, blobs = self.push_plugin('test/src', 'v1', layers=[
            layer_entries({'bin/hello': (b'#!/bin/sh\n', 0o755)}),
            layer_entries({'etc/motd': (b'two\n', 0o644)})])
        src = self.remote('test/src', 'v1')
        self.ctl_ok('install', '--disable', src)
        out, err = self.ctl_ok('push', '--remote', self.remote('test/dst', 'v9'), src)
        no_controls(self, out.encode(), 'stdout')
        lines = out.splitlines()
        self.assertEqual(lines[0], 'The push refers to repository [%s/test/dst]' % self.host)
        m = re.fullmatch(r'v9: digest: (sha256:[0-9a-f]{64}) size: (\d+)', lines[-1])
        self.assertIsNotNone(m, out)
        data, _, registry_digest = pd_registry.get_manifest(self.registry.url, 'test/dst', 'v9')
        self.assertEqual(registry_digest, m.group(1))
        self.assertEqual(len(data), int(m.group(2)))
        # the manifest pulled is the one pushed: same blobs
        self.assertEqual(registry_digest, digest)
        job = [j for j in self.list_jobs() if j[1] == 'push'][0][5]
        self.assertEqual(self.job_prop(job, 'Results')['manifest-digest'], m.group(1))
        # a line per blob (config and layers); the same registry lends them: mounted
        manifest = json.loads(data)
        for d in [manifest['config']['digest']] + [l['digest'] for l in manifest['layers']]:
            mine = [l for l in lines if l.startswith(short_id(d) + ': ')]
            self.assertIn(mine[-1].split(': ', 1)[1], ('Pushed', 'Layer already exists'), out)

    def test_push_created_plugin(self):
        # a plugin made here: every blob is new to the registry
        name = self.remote('test/made', 'v2')
        path, _ = self.create_ok(name)
        out, _ = self.ctl_ok('push', name)
        lines = out.splitlines()
        self.assertEqual(lines[0], 'The push refers to repository [%s/test/made]' % self.host)
        m = re.fullmatch(r'v2: digest: (sha256:[0-9a-f]{64}) size: (\d+)', lines[-1])
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1), self.plugin_prop(path, 'ManifestDigest'))
        data, _, registry_digest = pd_registry.get_manifest(self.registry.url, 'test/made', 'v2')
        self.assertEqual(registry_digest, m.group(1))
        manifest = json.loads(data)
        for d in [manifest['config']['digest']] + [l['digest'] for l in manifest['layers']]:
            self.assertIn('%s: Pushed' % short_id(d), lines)
        # pushed again: everything is there already
        out, _ = self.ctl_ok('push', name)
        for d in [manifest['config']['digest']] + [l['digest'] for l in manifest['layers']]:
            self.assertIn('%s: Layer already exists' % short_id(d), out.splitlines())
        # and installable from there
        self.ctl_ok('install', '--disable', '--alias', 'back/again', name)
        self.assertEqual(self.plugin_prop(self.get_plugin('back/again'), 'ManifestDigest'),
                         m.group(1))

    def test_push_errors(self):
        self.ctl_fail(EXIT_NO_SUCH_PLUGIN, 'push', 'test/none')
        self.ctl_fail(EXIT_USAGE, 'push')
        self.create_ok(self.remote('test/made'))
        self.ctl_fail(EXIT_USAGE, 'push', '--remote', 'Bad/Upper', self.remote('test/made'))
        # a digest is no place to push to: the daemon's error
        _, err = self.ctl_fail(EXIT_FAILURE, 'push', '--remote',
                               '%s/test/x@sha256:%s' % (self.host, '0' * 64),
                               self.remote('test/made'))
        self.assertIn('digest', err)


class EnabledPluginTests(CtlRegistryTestCase):
    """install and upgrade of the real example plugin, enabled."""

    def setUp(self):
        require(EXAMPLE_CONTEXT)
        super().setUp()
        with tarfile.open(EXAMPLE_CONTEXT) as tar:
            self.example_config = json.load(tar.extractfile('config.json'))
            self.example_binary = tar.extractfile('rootfs/plugind-example').read()
        self.data_dir = tempfile.mkdtemp(prefix='example-data-', dir=self.tmpdir)

    def push_example(self, tag='latest', description=None):
        cfg = dict(self.example_config)
        if description is not None:
            cfg['Description'] = description
        return self.push_plugin('test/example', tag, config=cfg,
                                files={'plugind-example': (self.example_binary, 0o755)})[0]

    def test_install_enables(self):
        self.push_example()
        remote = self.remote('test/example')
        out, err = self.ctl_ok('install', '--grant-all-permissions', remote,
                               'data=' + self.data_dir, 'DEBUG=1')
        self.assertTrue(out.endswith('Installed plugin %s\n' % remote), out)
        path = self.get_plugin(remote)
        self.assertTrue(self.plugin_prop(path, 'Enabled'))
        self.assertEqual(self.plugin_prop(path, 'State'), 'running')
        self.assertIn('DEBUG=1', self.plugin_env(path))
        self.assertIn(('mount', [self.data_dir]),
                      [(p[0], list(p[2])) for p in self.plugin_prop(path, 'Privileges')])
        status, reply = plugin_call(self.plugin_prop(path, 'Socket'), 'VolumeDriver.List')
        self.assertEqual((status, reply['Volumes']), (200, []))

        # an enabled plugin is upgraded only with --restart
        v2 = self.push_example(description='example, version two')
        _, err = self.ctl_fail(EXIT_FAILURE, 'upgrade', '--grant-all-permissions', remote)
        self.assertEqual(err, 'Error: the plugin must be disabled before upgrading\n')
        out, err = self.ctl_ok('upgrade', '--restart', '--grant-all-permissions', remote)
        self.assertIn('Stopping the plugin\n', out)
        self.assertIn('Enabling the plugin\n', out)
        self.assertEqual(self.plugin_prop(path, 'ManifestDigest'), v2)
        self.assertEqual(self.plugin_prop(path, 'Description'), 'example, version two')
        self.assertEqual(self.plugin_prop(path, 'State'), 'running')
        status, _ = plugin_call(self.plugin_prop(path, 'Socket'), 'VolumeDriver.List')
        self.assertEqual(status, 200)
        self.assertEqual(self.ctl_ok('disable', remote)[0], remote + '\n')

    def test_privileges_depend_on_settings(self):
        # a setting that changes a mount source changes the privileges: the prompt shows them
        # as they will be, and the consent given to it is what the daemon checks; a setting
        # given twice is the last one, in the prompt as in what is installed
        self.push_example()
        remote = self.remote('test/example')
        status, out, err = self.ctl_pty('install', '--disable', remote, 'data=/srv/first',
                                        'data.source=' + self.data_dir,
                                        answers=[(GRANT_QUESTION, b'y\n')])
        self.assertEqual(status, 0, (out, err))
        self.assertIn(('- mount: [%s]' % self.data_dir).encode(), out)
        self.assertNotIn(b'/var/lib/plugind-example', out)
        self.assertNotIn(b'/srv/first', out)
        path = self.get_plugin(remote)
        self.assertFalse(self.plugin_prop(path, 'Enabled'))
        self.assertIn(('mount', [self.data_dir]),
                      [(p[0], p[2]) for p in self.plugin_prop(path, 'Privileges')])
        # an upgrade keeps the setting, and its prompt shows the privileges with it
        status, out, err = self.ctl_pty('upgrade', '--skip-remote-check', remote,
                                        answers=[(GRANT_QUESTION, b'y\n')])
        self.assertEqual(status, 0, (out, err))
        self.assertIn(('- mount: [%s]' % self.data_dir).encode(), out)
        self.assertIn(('mount', [self.data_dir]),
                      [(p[0], p[2]) for p in self.plugin_prop(path, 'Privileges')])


class NobodyTests(CtlRegistryTestCase):
    """polkitd denies nobody (no agent): exit status 3, nothing changed."""

    def test_nobody_denied(self):
        self.push_plugin('test/plain')
        remote = self.remote('test/plain')
        self.ctl_ok('install', '--disable', '--alias', 'mine/x', remote)
        before = self.snapshot_state()
        for extra in ((), ('--no-ask-password',)):
            for args in (('install', '--disable', remote),
                         ('install', '--grant-all-permissions', remote),
                         ('privileges', remote),
                         ('upgrade', 'mine/x'),
                         ('push', '--remote', self.remote('test/other'), 'mine/x')):
                p = self.run_as_nobody([PLUGINCTL] + list(extra + args))
                self.assertEqual(p.returncode, EXIT_NOT_AUTHORIZED,
                                 'nobody: pluginctl %s gave %d: %s' %
                                 (' '.join(extra + args), p.returncode, p.stderr.decode()))
                self.assertTrue(p.stderr.decode().startswith('Error: '), p.stderr)
                self.assertNotIn(b'GDBus.Error', p.stderr)
                self.assertNotIn(b'Installed plugin', p.stdout)
        self.assertEqual(self.snapshot_state(), before)
        self.assertEqual([j[1] for j in self.list_jobs()], ['pull'])
        self.assertEqual(len(self.list_plugins()), 1)


if __name__ == '__main__':
    main()
