#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""plugind-transfer, the helper process that does the registry, archive and SHA-256 work of
GetPrivileges, Pull, Upgrade, Create and Push (docs/design.md, section "The transfer helper"):
the daemon survives it being killed or saying anything, credentials never show in its argv or
environment, and the daemon's own process maps none of those libraries."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import uuid

from gi.repository import GLib

import pd_registry
from pd_testcase import (DEFAULT_CONFIG, DEFAULT_FILES, ERR, SRCDIR, DBusError, main, make_context,
                         opts)
from registry_testcase import RegistryTestCase, layer_entries, registry_auth, sha256_digest

TRANSFER_LIBRARIES = ('libsoup', 'libarchive', 'libcrypto', 'libgnutls', 'libgiognutls',
                      'libxml2', 'libicu')
INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'
FAKE_HELPER = os.path.join(SRCDIR, 'tests', 'integration', 'fake_transfer_helper.py')


def children_named(parent, name):
    """pids of the children of parent whose argv[0] ends in name"""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv0 = f.read().split(b'\0')[0]
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and os.path.basename(argv0).decode(errors='replace') == name:
            found.append(int(entry))
    return found


def running(pid):
    """pid exists and is no zombie"""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def argv_of(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')[:-1]
    except OSError:
        return []


class TransferTests(RegistryTestCase):
    registry_kind = 'proxy'

    def slow_pull(self, repo, options=None):
        """A pull whose only layer trickles (about 20 KiB/s, 5 s): the job, once its helper
        downloads."""
        files = {'data/random': (os.urandom(96 * 1024), 0o644)}
        _, _, blobs = self.push_plugin(repo, 'v1', files=files)
        self.proxy.add_fault('GET', '/blobs/' + sha256_digest(blobs[0]) + '$', 'trickle',
                             count=None, chunk=1024, delay=0.05)
        job = self.pull(self.remote(repo, 'v1'), '', (),
                        options if options is not None else self.auth_options())
        self.wait_until(lambda: self.job_prop(job, 'BytesDone') > 0, 20, 'download progress')
        return job

    def helper_pid(self):
        pids = children_named(self.daemon.pid, 'plugind-transfer')
        self.assertEqual(len(pids), 1, 'one plugind-transfer of the daemon')
        return pids[0]

    def test_helper_killed_mid_pull(self):
        job = self.slow_pull('test/kill')
        os.kill(self.helper_pid(), signal.SIGKILL)
        with self.assertRaises(DBusError) as cm:
            self.wait_job(job)
        self.assertEqual(cm.exception.name, ERR + 'Failed')
        self.assertIn('transfer helper', cm.exception.message)
        self.assertIn('signal 9', cm.exception.message)
        # nothing of the job is left: no staging dir, no blob, no extraction helper
        self.assertEqual(self.tmp_entries(), [])
        self.assertEqual(self.list_plugins(), [])
        self.assertEqual(self.blob_digests(), set())
        self.wait_until(lambda: children_named(self.daemon.pid, 'plugind-extract') == [], 10,
                        'plugind-extract to end')
        # and the daemon goes on: the same layer again (the claim was released), and another
        self.proxy.clear_faults()
        plugin, _ = self.pull_ok(self.remote('test/kill', 'v1'))
        self.assertTrue(plugin)

    def test_helper_killed_after_a_commit(self):
        """Killed after the daemon published a first layer (fsynced, renamed into blobs/),
        while the second downloads and extracts: the job fails, its staging dir goes, and the
        published blob, no plugin's, goes at the next start at the latest."""
        files = {'data/random': (os.urandom(96 * 1024), 0o644)}
        _, _, blobs = self.push_plugin('test/two', 'v1', layers=[
            layer_entries({'etc/first': (b'first layer\n', 0o644)}), layer_entries(files)])
        first = sha256_digest(blobs[0])
        self.proxy.add_fault('GET', '/blobs/' + sha256_digest(blobs[1]) + '$', 'trickle',
                             count=None, chunk=1024, delay=0.05)
        job = self.pull(self.remote('test/two', 'v1'), '', (), self.auth_options())
        self.wait_until(lambda: first in self.blob_digests(), 20, 'the first layer published')
        os.kill(self.helper_pid(), signal.SIGKILL)
        with self.assertRaises(DBusError) as cm:
            self.wait_job(job)
        self.assertIn('signal 9', cm.exception.message)
        self.assertEqual(self.tmp_entries(), [])
        self.wait_until(lambda: children_named(self.daemon.pid, 'plugind-extract') == [], 10,
                        'plugind-extract to end')
        self.restart_daemon()
        self.check_invariants(settle=False)
        self.assertEqual(self.blob_digests(), set())
        self.proxy.clear_faults()
        plugin, _ = self.pull_ok(self.remote('test/two', 'v1'))
        with open(os.path.join(self.rootfs(plugin), 'etc/first'), 'rb') as f:
            self.assertEqual(f.read(), b'first layer\n')

    def test_registry_error_text_escaped_and_bounded(self):
        """A registry's error message with controls, 16 KiB long, crosses the helper into the
        D-Bus error, the job's error and the daemon's log escaped and cut."""
        self.push_plugin('test/errtext', 'v1')
        text = 'bad\x1b[2J\x07\r news ' + 'z' * (16 * 1024)
        body = json.dumps({'errors': [{'code': 'DENIED', 'message': text}]}).encode()
        self.proxy.add_fault('GET', '/manifests/v1$', 'status', count=None, status=403,
                             body=body)
        remote = self.remote('test/errtext', 'v1')
        errors = [self.assertDBusError((ERR + 'RegistryError', ERR + 'RegistryDenied',
                                        ERR + 'AccessDenied', ERR + 'RegistryUnauthorized'),
                                       self.get_privileges, remote)]
        job = self.pull(remote, '', (), self.auth_options())
        with self.assertRaises(DBusError) as cm:
            self.wait_job(job)
        errors.append(cm.exception)
        for e in errors:
            self.assertIn('news', e.message)
            for control in ('\x1b', '\x07', '\r'):
                self.assertNotIn(control, e.message)
            self.assertLess(len(e.message), 64 * 1024)
        with open(self.log_path, 'rb') as f:
            log = f.read()
        self.assertIn(b'news', log)
        self.assertNotIn(b'\x1b', log)
        self.assertNotIn(b'\x07', log)

    def test_credentials_not_in_argv_or_environment(self):
        secret = 'pw-' + uuid.uuid4().hex
        auth = registry_auth('alice', secret)
        job = self.slow_pull('test/secret', {'registry-auth': GLib.Variant('s', auth)})
        pid = self.helper_pid()
        for what in ('cmdline', 'environ'):
            with open('/proc/%d/%s' % (pid, what), 'rb') as f:
                data = f.read()
            self.assertNotIn(secret.encode(), data, what)
            self.assertNotIn(auth.encode(), data, what)
        self.cancel(job)
        self.assertDBusError(ERR + 'JobCancelled', self.wait_job, job)
        self.assertEqual(self.tmp_entries(), [])

    def spare_pids(self):
        return [pid for pid in children_named(self.daemon.pid, 'plugind-transfer')
                if argv_of(pid)[1:] == [b'spare']]

    def test_spare_helper(self):
        """A job's end starts a spare helper, which the next job uses; it dies with the
        daemon."""
        self.push_plugin('test/spare', 'v1')
        remote = self.remote('test/spare', 'v1')
        self.assertEqual(children_named(self.daemon.pid, 'plugind-transfer'), [])
        self.get_privileges(remote)
        self.wait_until(lambda: len(self.spare_pids()) == 1, 10, 'a spare helper')
        first = self.spare_pids()[0]
        self.get_privileges(remote)
        # the spare did the lookup and ended; another waits in its place
        self.wait_until(lambda: not running(first), 10, 'the used spare to end')
        self.wait_until(lambda: len(self.spare_pids()) == 1, 10, 'a new spare helper')
        spare = self.spare_pids()[0]
        self.assertNotEqual(spare, first)
        self.stop_daemon()
        # reaped by the daemon before it exits: not even a zombie is left
        self.assertFalse(os.path.exists('/proc/%d' % spare))

    def test_spare_killed_or_daemon_killed(self):
        """A spare that died is replaced without failing the next job; a spare does not
        outlive a daemon killed with SIGKILL (PR_SET_PDEATHSIG)."""
        self.push_plugin('test/spare', 'v1')
        remote = self.remote('test/spare', 'v1')
        self.get_privileges(remote)
        self.wait_until(lambda: len(self.spare_pids()) == 1, 10, 'a spare helper')
        spare = self.spare_pids()[0]
        os.kill(spare, signal.SIGKILL)
        self.wait_until(lambda: not running(spare), 10, 'the spare to die')
        privileges, results = self.get_privileges(remote)
        self.assertIn('manifest-digest', results)
        self.wait_until(lambda: len(self.spare_pids()) == 1, 10, 'a new spare helper')
        spare = self.spare_pids()[0]
        os.kill(self.daemon.pid, signal.SIGKILL)
        self.assertEqual(self.wait_daemon_death(), -signal.SIGKILL)
        # killed with its parent (a zombie until whoever adopted it reaps it)
        self.wait_until(lambda: not running(spare), 10, 'the spare to die with the daemon')
        self.start_daemon()
        self.assertEqual(self.tmp_entries(), [])

    def test_daemon_maps_no_transfer_library(self):
        self.push_plugin('test/maps', 'v1')
        self.get_privileges(self.remote('test/maps', 'v1'))
        pulled, _ = self.pull_ok(self.remote('test/maps', 'v1'))
        created, _ = self.create_ok('test/created', make_context(),
                                    options=opts(grant_all_privileges=True))
        job = self.push(created, dict(self.auth_options(),
                                      remote=GLib.Variant('s', self.remote('test/pushed', 'v1'))))
        self.wait_job(job)
        self.assertTrue(pulled)
        with open('/proc/%d/maps' % self.daemon.pid) as f:
            mapped = {line.split()[-1] for line in f if '/' in line}
        loaded = [m for m in mapped if any(lib in os.path.basename(m)
                                           for lib in TRANSFER_LIBRARIES)]
        self.assertEqual(loaded, [])

    def test_long_registry_auth_refused_before_a_helper(self):
        """A registry-auth longer than the registry client takes is InvalidArgs at the call,
        before a helper is started and sent it (on the daemon's main thread)."""
        remote = self.remote('test/long-auth', 'v1')
        long_auth = {'registry-auth': GLib.Variant('s', 'a' * (64 * 1024 + 1))}
        e = self.assertDBusError(INVALID_ARGS, self.get_privileges, remote, long_auth)
        self.assertIn('registry-auth is longer than', e.message)
        self.assertDBusError(INVALID_ARGS, self.pull, remote, '', (), long_auth)
        self.assertEqual(children_named(self.daemon.pid, 'plugind-transfer'), [])
        created, _ = self.create_ok('test/created', make_context(),
                                    options=opts(grant_all_privileges=True))
        self.assertDBusError(INVALID_ARGS, self.push, created,
                             dict(long_auth, remote=GLib.Variant('s', remote)))

    def test_helper_not_dumpable(self):
        """The helper holds credentials: no core dump, no ptrace by its own uid. A process
        that is not dumpable has its /proc files owned by root, whatever its uid."""
        ours, theirs = socket.socketpair()
        helper = subprocess.Popen(
            ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
             self.transfer_helper, 'spare'],
            pass_fds=(3,), preexec_fn=lambda: os.dup2(theirs.fileno(), 3),
            stdin=subprocess.DEVNULL)
        try:
            theirs.close()

            def hidden():
                argv = argv_of(helper.pid)
                return (argv and argv[0].endswith(b'plugind-transfer') and
                        os.stat('/proc/%d/environ' % helper.pid).st_uid == 0)
            self.wait_until(hidden, 10, 'the helper to be not dumpable')
            with open('/proc/%d/status' % helper.pid) as f:
                self.assertIn('\t65534\t', [l for l in f if l.startswith('Uid:')][0])
        finally:
            ours.close()
            # the request never comes: it exits
            self.assertEqual(helper.wait(10), 2)


class HostileHelperTests(RegistryTestCase):
    """A helper that breaks the protocol (tests/integration/fake_transfer_helper.py)."""

    def setUp(self):
        self.mode_file = None
        super().setUp()

    def start_daemon(self, *args, **kw):
        self.mode_file = os.path.join(self.tmpdir, 'fake-mode')
        with open(self.mode_file, 'w') as f:
            f.write('exit\n')
        self.daemon_env.update({'PLUGIND_TRANSFER_HELPER': FAKE_HELPER,
                                'PD_FAKE_TRANSFER_MODE_FILE': self.mode_file})
        return super().start_daemon(*args, **kw)

    def set_mode(self, mode):
        with open(self.mode_file, 'w') as f:
            f.write(mode + '\n')

    def daemon_devnull_fds(self):
        """the daemon's descriptors of /dev/null, which the fake helper sends it one of"""
        fd_dir = '/proc/%d/fd' % self.daemon.pid
        count = 0
        for fd in os.listdir(fd_dir):
            try:
                count += os.readlink(os.path.join(fd_dir, fd)) == '/dev/null'
            except OSError:
                pass
        return count

    def test_garbled_answers_fail_the_call(self):
        remote = self.remote('test/any', 'v1')
        cases = {
            'oversize': 'larger than',
            'garbage': 'normal form',
            'truncated': 'exited with status 0 without a result',
            'exit': 'exited with status 3',
            'unknown': 'unknown message',
            'bad-result': 'is not sha256:',
            'wrong-types': 'lacks its field line',
            'fd': 'unknown message',
            'two-results': 'after its last',
        }
        fds = self.daemon_devnull_fds()
        for mode, text in cases.items():
            with self.subTest(mode=mode):
                self.set_mode(mode)
                with self.assertRaises(DBusError) as cm:
                    self.get_privileges(remote)
                self.assertIn(cm.exception.name, (ERR + 'Failed', ERR + 'DigestMismatch'))
                self.assertIn(text, cm.exception.message)
        # an error code the daemon does not know is Failed, and its text keeps no control
        self.set_mode('error-controls')
        with self.assertRaises(DBusError) as cm:
            self.get_privileges(remote)
        self.assertEqual(cm.exception.name, ERR + 'Failed')
        self.assertNotIn('\x1b', cm.exception.message)
        self.assertNotIn('\x07', cm.exception.message)
        self.assertIn('news', cm.exception.message)
        # no descriptor the helper sent stays open in the daemon
        self.assertEqual(self.daemon_devnull_fds(), fds, 'a descriptor the helper sent is kept')
        self.assertEqual(self.list_plugins(), [])

    def test_escaping_commit_fails_the_pull(self):
        self.set_mode('commit-escape')
        e = self.pull_expect_error(ERR + 'Failed', self.remote('test/any', 'v1'))
        self.assertIn('commit before the consent check', e.message)
        self.assertTrue(os.path.exists('/etc/passwd'))
        self.assertEqual(self.tmp_entries(), [])

    def daemon_children(self):
        return [pid for pid in os.listdir('/proc') if pid.isdigit() and
                self.parent_of(int(pid)) == self.daemon.pid]

    @staticmethod
    def parent_of(pid):
        try:
            with open('/proc/%d/stat' % pid) as f:
                return int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return None

    def test_hanging_or_flooding_helper_is_cancelled(self):
        """A helper that stops within a message, or floods progress (the most layers
        allowed, values out of range) and log lines with controls, then hangs without exiting:
        the daemon keeps answering, Cancel ends the job and kills the helper. Progress of more
        layers than a manifest may name fails the job."""
        remote = self.remote('test/any', 'v1')
        flooded = self.mode_file + '.flooded'
        for mode in ('hang-half', 'flood'):
            with self.subTest(mode=mode):
                self.set_mode(mode)
                job = self.pull(remote)
                if mode == 'flood':
                    self.wait_until(lambda: os.path.exists(flooded), 60, 'the flood')
                    self.wait_until(lambda: len(self.job_prop(job, 'Layers')) == 128, 20,
                                    'the progress')
                    self.assertLessEqual(self.job_prop(job, 'BytesDone'),
                                         self.job_prop(job, 'BytesTotal'))
                self.assertEqual(self.list_plugins(), [])
                helpers = [int(pid) for pid in self.daemon_children()]
                self.assertEqual(len(helpers), 1, 'the job\'s helper only')
                self.cancel(job)
                self.assertDBusError(ERR + 'JobCancelled', self.wait_job, job)
                self.wait_until(lambda: not running(helpers[0]), 10, 'the helper to die')
                self.assertEqual(self.tmp_entries(), [])
        # a progress of more layers than a manifest may have fails the job at once
        self.set_mode('many-layers')
        e = self.pull_expect_error(ERR + 'Failed', remote)
        self.assertIn('too many layers', e.message)
        self.assertEqual(self.tmp_entries(), [])
        with open(self.log_path, 'rb') as f:
            log = f.read()
        self.assertIn(b'line 4999', log)
        self.assertNotIn(b'\x1b', log)
        self.assertNotIn(b'\x07', log)

    def test_failed_jobs_leak_no_fd_or_process(self):
        """Many jobs whose helper fails: the daemon's descriptors and children are what they
        were (a spare helper and its socket), no zombie."""
        remote = self.remote('test/any', 'v1')
        fd_dir = '/proc/%d/fd' % self.daemon.pid

        def steady():
            children = self.daemon_children()
            return len(children) == 1 and running(int(children[0]))
        self.assertDBusError(ERR + 'Failed', self.get_privileges, remote)
        self.wait_until(steady, 10, 'a spare helper')
        fds = len(os.listdir(fd_dir))
        for mode in ('exit', 'garbage', 'truncated', 'unknown', 'fd', 'oversize') * 4:
            self.set_mode(mode)
            self.assertDBusError((ERR + 'Failed', ERR + 'LimitsExceeded'), self.get_privileges,
                                 remote)
        self.wait_until(steady, 10, 'a spare helper')
        self.wait_until(lambda: len(os.listdir(fd_dir)) == fds, 10,
                        'the daemon\'s descriptors to be as before (%d)' % fds)

    def test_lookups_at_once_are_bounded(self):
        """GetPrivileges, which an active local user may call without a password, starts a
        helper each: 16 lookups at once, the 17th is Busy; their end frees the places."""
        self.set_mode('hang-half')
        remote = self.remote('test/any', 'v1')
        outcomes = []

        def lookup():
            try:
                self.get_privileges(remote)
                outcomes.append('ok')
            except DBusError as e:
                outcomes.append(e.name)
        threads = [threading.Thread(target=lookup) for _ in range(16)]
        for t in threads:
            t.start()
        try:
            self.wait_until(lambda: len(self.daemon_children()) == 16, 20, '16 helpers')
            e = self.assertDBusError(ERR + 'Busy', self.get_privileges, remote)
            self.assertIn('try again later', e.message)
        finally:
            for pid in self.daemon_children():
                os.kill(int(pid), signal.SIGKILL)
            for t in threads:
                t.join(30)
        self.assertEqual(outcomes, [ERR + 'Failed'] * 16)
        self.set_mode('exit')
        e = self.assertDBusError(ERR + 'Failed', self.get_privileges, remote)
        self.assertIn('status 3', e.message)

    def write_image(self):
        """a plugin's manifest and config for the fake helper to resolve to; the layer's
        digest"""
        blob, diff_id, media_type = pd_registry.make_layer(layer_entries(DEFAULT_FILES))
        config = pd_registry.make_plugin_config(DEFAULT_CONFIG, [diff_id])

        def descriptor(data, kind):
            return {'mediaType': kind, 'size': len(data),
                    'digest': 'sha256:' + hashlib.sha256(data).hexdigest()}
        manifest = json.dumps({'schemaVersion': 2, 'mediaType': pd_registry.MT_MANIFEST,
                               'config': descriptor(config, pd_registry.MT_PLUGIN_CONFIG),
                               'layers': [descriptor(blob, media_type)]}).encode()
        layer = descriptor(blob, media_type)['digest']
        with open(self.mode_file + '.resolved', 'w') as f:
            json.dump({'manifest': manifest.hex(), 'config': config.hex(),
                       'media-type': pd_registry.MT_MANIFEST, 'layer': layer}, f)
        return layer, blob

    def test_commit_or_pins_not_of_the_job(self):
        """After the consent check, a helper cannot have the daemon publish a blob the
        manifest does not name (under a digest of its choosing), nor pin without bound."""
        self.write_image()
        self.set_mode('commit-foreign')
        e = self.pull_expect_error(ERR + 'Failed', self.remote('test/any', 'v1'),
                                   options=opts(grant_all_privileges=True))
        self.assertIn('commit of a blob that is not this job\'s', e.message)
        self.assertEqual(self.blob_digests(), set())
        self.assertEqual(self.tmp_entries(), [])
        # pins of a blob the job names, which the store has
        layer, blob = self.write_image()
        blobs = os.path.join(self.state_dir, 'blobs', 'sha256')
        os.makedirs(blobs, exist_ok=True)
        with open(os.path.join(blobs, layer[len('sha256:'):]), 'wb') as f:
            f.write(blob)
        self.set_mode('pin-flood')
        e = self.pull_expect_error(ERR + 'Failed', self.remote('test/any', 'v1'),
                                   options=opts(grant_all_privileges=True))
        self.assertIn('pinned too many blobs', e.message)
        self.assertEqual(self.tmp_entries(), [])
        self.assertEqual(self.list_plugins(), [])

    def test_create_commit_without_name(self):
        """A commit without its ingest's name fails the Create with one error (no GError set
        over another)."""
        self.set_mode('commit-no-name')
        job = self.create('test/created', make_context(),
                          options=opts(grant_all_privileges=True))
        with self.assertRaises(DBusError) as cm:
            self.wait_job(job)
        self.assertEqual(cm.exception.name, ERR + 'Failed')
        self.assertIn('tmp-name', cm.exception.message)
        self.assertEqual(self.tmp_entries(), [])
        with open(self.log_path, errors='replace') as f:
            self.assertNotIn('over the top', f.read())


if __name__ == '__main__':
    main()
