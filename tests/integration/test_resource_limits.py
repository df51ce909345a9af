#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Limits that keep a registry, a plugin or a caller from hanging the daemon or filling the
machine: MaxArchiveBytes over every decompressed byte and the compressed blob, the registry
stall timeout, the activation-timeout cap of every enabling call, cancelling and forcing a
start, and directory walks with a bounded number of fds.

Against the real distribution registry (through the fault-injecting proxy), the real polkitd
and real sandboxes.
"""

import gzip
import hashlib
import os
import random
import resource
import subprocess
import uuid

import pd_registry
from gi.repository import GLib

from pd_testcase import (BUILDDIR, BUS_NAME, DBUS_ERR, DEFAULT_CONFIG, DEFAULT_FILES, ERR,
                         JOB_IFACE, PLUGIN_IFACE, DBusError, PlugindTestCase, main, opts,
                         plugin_config)
from registry_testcase import RegistryTestCase, layer_entries

MIB = 1024 * 1024


def padded_layer(n_zeros, compression):
    """DEFAULT_FILES as a layer whose tar is followed by n_zeros zero bytes.
    Returns (blob, diff_id, media type)."""
    raw, _, _ = pd_registry.make_layer(layer_entries(DEFAULT_FILES), compression=None)
    raw += bytes(n_zeros)
    diff_id = 'sha256:' + hashlib.sha256(raw).hexdigest()
    if compression == 'gzip':
        return gzip.compress(raw, mtime=0), diff_id, pd_registry.MT_LAYER_GZIP
    return raw, diff_id, pd_registry.MT_LAYER_TAR


class ArchiveLimitTests(RegistryTestCase):
    """MaxArchiveBytes=1 MiB: a layer is refused by what it decompresses to, all of it, and by
    the size of its blob; nothing of it is stored."""

    registry_kind = 'proxy'
    plugind_conf = '[Limits]\nMaxArchiveBytes=%d\n' % MIB

    def push_layer(self, repo, layer):
        blob, diff_id, media_type = layer
        cfg = pd_registry.make_plugin_config(DEFAULT_CONFIG, [diff_id])
        pd_registry.push_plugin(self.registry.url, repo, 'latest', cfg, [(blob, media_type)])
        return 'sha256:' + hashlib.sha256(blob).hexdigest()

    def assertNotStored(self, digest):
        self.assertNotIn(digest, self.blob_digests())
        self.assertEqual(os.listdir(os.path.join(self.state_dir, 'tmp')), [])

    def blob_requests(self, digest):
        return [r for r in self.proxy.requests
                if r['method'] == 'GET' and r['path'].endswith('/blobs/' + digest)]

    def test_padding_after_the_tar_counts(self):
        # 4 MiB of zeros after the end-of-archive blocks: a 4 KiB blob
        layer = padded_layer(4 * MIB, 'gzip')
        self.assertLess(len(layer[0]), 64 * 1024)
        digest = self.push_layer('test/padded', layer)
        err = self.pull_expect_error(DBUS_ERR + 'LimitsExceeded', self.remote('test/padded'))
        self.assertIn('larger than %d bytes' % MIB, err.message)
        self.assertNotStored(digest)

    def test_big_blob_is_not_downloaded(self):
        # an uncompressed layer of 2 MiB: refused by its size in the manifest
        layer = padded_layer(2 * MIB, None)
        digest = self.push_layer('test/big', layer)
        err = self.pull_expect_error(DBUS_ERR + 'LimitsExceeded', self.remote('test/big'))
        self.assertIn(digest, err.message)
        self.assertEqual(self.blob_requests(digest), [])
        self.assertNotStored(digest)

    def test_under_the_limit(self):
        # the same layer with a little padding pulls as before
        layer = padded_layer(64 * 1024, 'gzip')
        digest = self.push_layer('test/small', layer)
        self.pull_ok(self.remote('test/small'))
        self.assertIn(digest, self.blob_digests())


class StallTests(RegistryTestCase):
    """A registry that trickles a blob is cut off once fewer than StallMinBytes arrive within
    StallTimeout seconds of waiting: the job ends and frees its slot."""

    registry_kind = 'proxy'
    plugind_conf = '[Registries]\nStallTimeout=2\nStallMinBytes=1024\n'

    def test_trickling_blob(self):
        # 64 KiB that do not compress, sent 16 bytes every 0.5 s: 34 minutes
        data = random.Random(8).randbytes(64 * 1024)
        files = dict(DEFAULT_FILES, **{'data/noise': (data, 0o644)})
        _, _, blobs = self.push_plugin('test/slow', files=files)
        layer = 'sha256:' + hashlib.sha256(blobs[0]).hexdigest()
        fault = self.proxy.add_fault('GET', '/blobs/' + layer, 'trickle', count=None, chunk=16,
                                     delay=0.5)
        job = self.pull(self.remote('test/slow'), options=self.auth_options())
        try:
            # far less than the trickle would take; the D-Bus timeout fails the test otherwise
            self.call(job, 'org.plugind.Plugind1.Job', 'Wait', None, '(a{sv})',
                      timeout_ms=30000)
            self.fail('the pull of a trickled blob succeeded')
        except DBusError as e:
            self.assertEqual(e.name, ERR + 'RegistryError', str(e))
            self.assertIn('fewer than 1024 bytes', e.message)
        self.assertEqual(fault.hits, 1)
        self.assertEqual(self.list_plugins(), [])
        # the job is over: its slot is free
        self.assertEqual(self.job_prop(job, 'State'), 'finished')


class StartTests(RegistryTestCase):
    """A plugin that never makes its socket stays "starting" until its activation timeout: every
    enabling call caps that timeout, a job that enables it can be cancelled, and Disable or
    Remove with "force" stop it (ending the enable or the job first) instead of answering
    Busy."""

    def push_starting_plugin(self, repo):
        """tests/runner-plugin in its "nosocket" mode, under a file name of this test's own."""
        with open(os.path.join(BUILDDIR, 'tests', 'runner-plugin'), 'rb') as f:
            binary = f.read()
        self.plugin_binary = 'runner-plugin-' + uuid.uuid4().hex[:12]
        config = plugin_config(Entrypoint=['/' + self.plugin_binary, 'nosocket', 'runner.sock'],
                               Interface={'Types': ['docker.volumedriver/1.0'],
                                          'Socket': 'runner.sock'})
        self.push_plugin(repo, config=config, files={self.plugin_binary: (binary, 0o755)})

    def plugin_processes(self):
        out = []
        for pid in os.listdir('/proc'):
            try:
                if pid.isdigit() and os.path.basename(
                        os.readlink('/proc/%s/exe' % pid)) == self.plugin_binary:
                    out.append(pid)
            except OSError:
                pass
        return out

    def assertStopped(self, path):
        self.assertEqual(self.plugin_prop(path, 'State'), 'disabled')
        self.assertFalse(self.plugin_prop(path, 'Enabled'))
        self.wait_until(lambda: self.plugin_processes() == [], timeout=10,
                        msg='the plugin process to be gone')

    def wait_until_started(self, path):
        """Starting, its process running: a start ended before bwrap reported the plugin's pid
        can leave bwrap's own pid-1 process behind (runner code, not what is tested here)."""
        self.wait_until(lambda: self.plugin_prop(path, 'State') == 'starting' and
                        self.plugin_prop(path, 'MainPID') != 0 and self.plugin_processes(),
                        msg='the plugin to be starting')

    def stop_daemon_on_failure(self):
        """Before the fix a start could outlast tearDown's waits: the daemon's shutdown ends
        it."""
        if self.daemon is not None and self.daemon.poll() is None:
            self.stop_daemon()

    def pull_enabling(self, repo):
        """Pulls with enable: returns (job, plugin path) once the job is enabling the plugin."""
        self.push_starting_plugin(repo)
        job = self.pull(self.remote(repo),
                        options=self.auth_options(enable=True, activation_timeout=300000))
        self.wait_until(lambda: self.job_prop(job, 'Phase') == 'enabling', msg='enabling')
        path = self.job_prop(job, 'Plugin')
        self.wait_until_started(path)
        return job, path

    def assertJobCancelled(self, job):
        err = self.assertDBusError(ERR + 'JobCancelled', self.wait_job, job)
        self.assertEqual(self.job_prop(job, 'Result'), 'cancelled', str(err))

    def enable_in_background(self, path):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        caller = subprocess.Popen(
            ['gdbus', 'call', '--system', '--dest', BUS_NAME, '--object-path', path,
             '--method', PLUGIN_IFACE + '.Enable', "{'activation-timeout': <uint32 300000>}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: caller.poll() is None and (caller.kill(), caller.wait()))
        self.wait_until_started(path)
        return caller

    def test_activation_timeout_capped(self):
        self.push_starting_plugin('test/capped')
        # 49 days, as Enable refuses it
        try:
            err = self.assertDBusError(
                DBUS_ERR + 'InvalidArgs', self.pull, self.remote('test/capped'),
                options=self.auth_options(enable=True, activation_timeout=0xffffffff))
        except AssertionError:
            self.stop_daemon_on_failure()
            raise
        self.assertIn('activation-timeout', err.message)
        self.assertEqual(self.list_jobs(), [])
        # the longest allowed (Upgrade and Create take no activation-timeout)
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.pull, self.remote('test/capped'),
                             options=self.auth_options(enable=True, activation_timeout=300001))
        job = self.pull(self.remote('test/capped'),
                        options=self.auth_options(activation_timeout=300000))
        self.wait_job(job)

    def test_cancel_enabling_job(self):
        job, path = self.pull_enabling('test/cancel')
        try:
            self.call(job, JOB_IFACE, 'Cancel', GLib.Variant('(a{sv})', ({},)))
        except DBusError:
            self.stop_daemon_on_failure()
            raise
        self.assertJobCancelled(job)
        # installed, not running, as when an enable fails
        self.assertEqual([p[5] for p in self.list_plugins()], [path])
        self.assertStopped(path)

    def force(self, path, method):
        """Disable or Remove with force (before the fix: Busy, and only the daemon's shutdown
        ended the start)."""
        try:
            self.call(path, PLUGIN_IFACE, method, GLib.Variant('(a{sv})', (opts(force=True),)))
        except DBusError:
            self.stop_daemon_on_failure()
            raise

    def assertRemoved(self):
        self.assertEqual(self.list_plugins(), [])
        self.wait_until(lambda: self.plugin_processes() == [], timeout=10,
                        msg='the plugin process to be gone')

    def test_force_disable_ends_the_job(self):
        job, path = self.pull_enabling('test/force-disable')
        self.force(path, 'Disable')
        self.assertStopped(path)
        self.assertJobCancelled(job)

    def test_force_remove_ends_the_job(self):
        job, path = self.pull_enabling('test/force-remove')
        self.force(path, 'Remove')
        self.assertRemoved()
        self.assertJobCancelled(job)

    def test_force_disable_ends_an_enable(self):
        self.push_starting_plugin('test/enable')
        path, _ = self.pull_ok(self.remote('test/enable'))
        caller = self.enable_in_background(path)
        # without force: still Busy
        self.assertDBusError(ERR + 'Busy', self.call, path, PLUGIN_IFACE, 'Disable',
                             GLib.Variant('(a{sv})', ({},)))
        self.force(path, 'Disable')
        self.assertStopped(path)
        _, err = caller.communicate(timeout=30)
        self.assertNotEqual(caller.returncode, 0)
        self.assertIn(b'disabled', err)

    def test_force_remove_ends_an_enable(self):
        self.push_starting_plugin('test/enable-remove')
        path, _ = self.pull_ok(self.remote('test/enable-remove'))
        caller = self.enable_in_background(path)
        self.force(path, 'Remove')
        self.assertRemoved()
        caller.communicate(timeout=30)
        self.assertNotEqual(caller.returncode, 0)

def make_deep_tree(parent, levels, bottom=b''):
    """parent/d/d/.../d (levels deep) with a file 'bottom' holding bottom at the end, made one
    fd at a time (no path to it fits in PATH_MAX)."""
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir('d', dir_fd=fd)
            child = os.open('d', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        out = os.open('bottom', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        with os.fdopen(out, 'wb') as f:
            f.write(bottom)
    finally:
        os.close(fd)


class DeepTreeTests(PlugindTestCase):
    """A plugin's rootfs and socket dir as deep as it likes: the daemon measures and removes
    them with a few fds (it runs with RLIMIT_NOFILE 128 here), off the main thread for the
    rootfs."""

    LEVELS = 1000
    FD_LIMIT = 128

    def start_daemon_with_few_fds(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.FD_LIMIT, hard))
        try:
            self.start_daemon()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        with open('/proc/%d/limits' % self.daemon.pid) as f:
            self.assertRegex(f.read(), r'Max open files +%d ' % self.FD_LIMIT)

    def test_deep_rootfs_and_socket_dir(self):
        path, res = self.create_ok('test/deep')
        plugin_id = res['plugin-id']
        rootfs = os.path.join(self.plugin_dir(plugin_id), 'rootfs')
        sockets = os.path.join(self.runtime_dir, 'plugins', plugin_id)
        self.stop_daemon()
        # what a plugin could leave in its writable rootfs and in its socket dir; GNU rm
        # removes whatever the daemon did not
        for top in (rootfs, sockets):
            os.makedirs(top, exist_ok=True)
            self.addCleanup(subprocess.run, ['rm', '-rf', '--one-file-system',
                                             os.path.join(top, 'd')])
        make_deep_tree(rootfs, self.LEVELS, bytes(MIB))
        make_deep_tree(sockets, self.LEVELS)

        self.start_daemon_with_few_fds()
        # measured at start-up, the file at the bottom included
        self.wait_until(lambda: self.plugin_prop(path, 'DiskUsage') >= MIB, timeout=60,
                        msg='DiskUsage to count the bottom of the tree')
        self.remove(path)
        self.assertEqual(self.list_plugins(), [])
        self.assertFalse(os.path.exists(sockets))
        self.wait_until(lambda: os.listdir(os.path.join(self.state_dir, 'plugins')) == [],
                        timeout=60, msg='the rootfs to be deleted')
        # the daemon never needed more than a few fds for all that
        self.assertLess(len(os.listdir('/proc/%d/fd' % self.daemon.pid)), self.FD_LIMIT // 2)


if __name__ == '__main__':
    main()
