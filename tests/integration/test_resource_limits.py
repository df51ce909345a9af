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

import pd_registry
from pd_testcase import (DBUS_ERR, DEFAULT_CONFIG, DEFAULT_FILES, ERR, DBusError,
                         PlugindTestCase, main)
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
