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

import pd_registry
from pd_testcase import DBUS_ERR, DEFAULT_CONFIG, DEFAULT_FILES, ERR, DBusError, main
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


if __name__ == '__main__':
    main()
