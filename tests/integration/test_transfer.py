#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""plugind-transfer, the helper process that does the registry, archive and SHA-256 work of
GetPrivileges, Pull, Upgrade, Create and Push (docs/design.md, section "The transfer helper"):
the daemon survives it being killed or saying anything, credentials never show in its argv or
environment, and the daemon's own process maps none of those libraries."""

import os
import signal
import uuid

from gi.repository import GLib

from pd_testcase import ERR, SRCDIR, DBusError, main, make_context, opts
from registry_testcase import RegistryTestCase, registry_auth, sha256_digest

TRANSFER_LIBRARIES = ('libsoup', 'libarchive', 'libcrypto', 'libgnutls', 'libgiognutls',
                      'libxml2', 'libicu')
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


if __name__ == '__main__':
    main()
