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

import pd_registry
from pd_testcase import DBUS_ERR, DEFAULT_CONFIG, DEFAULT_FILES, main
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


if __name__ == '__main__':
    main()
