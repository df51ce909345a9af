#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pull, GetPrivileges, Upgrade and Push against the real distribution registry."""

import os
import unittest

from registry_testcase import RegistryTestCase


class PullTests(RegistryTestCase):

    def test_pull_plain_http(self):
        digest, diff_ids, _ = self.push_plugin('test/hello', 'v1')
        plugin, results = self.pull_ok(self.remote('test/hello', 'v1'))
        self.assertEqual(results['manifest-digest'], digest)
        rootfs = self.rootfs(plugin)
        with open(os.path.join(rootfs, 'etc/motd'), 'rb') as f:
            self.assertEqual(f.read(), b'plugind test rootfs\n')
        self.assertEqual(self.plugin_prop(plugin, 'Name'), '%s/test/hello:v1' % self.host)


if __name__ == '__main__':
    unittest.main()
