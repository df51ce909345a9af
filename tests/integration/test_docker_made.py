#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A plugin image exactly as Docker Engine wrote it (tests/integration/docker-made/: manifests,
configs and layers as `docker plugin create` and `docker plugin push` made them, see its
README.md), put byte for byte into the real registry, then installed, enabled and upgraded v1 to
v2 by plugind. No dockerd needed.

What Docker writes and plugind's own writer does not: the compressed layer digest as the
config's diff_id, a config with every field Docker knows (nulls for absent lists, "User": {},
DockerVersion, a trailing newline), a compact manifest with mediaType last, and a layer tar from
Go's archive/tar (a "." entry first, names without "./" or a trailing slash, file type bits in
the mode field, a hard link, no padding to 10240 bytes) gzipped by Go.
"""

import gzip
import hashlib
import json
import os
import stat
import sys
import tempfile

import pd_registry
from pd_testcase import BUILDDIR, ERR, HERE, SRCDIR, main, plugin_call
from test_registry_push import UpgradePushTestCase

IMAGE_DIR = os.path.join(HERE, 'docker-made')
sys.path.insert(0, IMAGE_DIR)
import make_image  # noqa: E402

EXAMPLE_BINARY = os.path.join(BUILDDIR, 'example', 'plugind-example')
EXAMPLE_CONFIG = os.path.join(SRCDIR, 'example', 'hello', 'config.json')
REPO = 'plugind-test/docker-made'
# the example plugin's binary, which the image runs from the host through its 'bin' mount
EXAMPLE_DIR = os.path.join(BUILDDIR, 'example')


def read_blob(digest):
    algo, hexd = digest.split(':')
    with open(os.path.join(IMAGE_DIR, 'blobs', algo, hexd), 'rb') as f:
        return f.read()


def enable_use_upgrade(test, plugin, v2, description):
    """The example volume driver in @plugin (a VERSION file holding 1 in its rootfs, its settings
    made): enabled, a volume created, disabled, upgraded to @v2 (VERSION 2, @description), then
    enabled again with the volume still there, and disabled. @test: an UpgradePushTestCase whose
    data_dir is the plugin's data mount."""
    test.assertEqual(test.read_rootfs(plugin, 'VERSION'), b'1\n')
    test.enable(plugin)
    test.assertEqual(test.plugin_prop(plugin, 'State'), 'running')
    status, reply = plugin_call(test.plugin_prop(plugin, 'Socket'), 'VolumeDriver.Create',
                                {'Name': 'vol1', 'Opts': {}})
    test.assertEqual((status, reply.get('Err', '')), (200, ''))
    test.disable(plugin)

    plugin_id = test.plugin_prop(plugin, 'Id')
    # privileges of the new config with the settings the plugin has
    _, results = test.upgrade_ok(plugin, v2, test.plugin_prop(plugin, 'Privileges'))
    test.assertEqual(results['plugin-id'], plugin_id)
    test.assertEqual(test.plugin_prop(plugin, 'Description'), description)
    test.assertEqual(test.read_rootfs(plugin, 'VERSION'), b'2\n')
    # the settings of v1 are kept: same data dir
    test.enable(plugin)
    status, reply = plugin_call(test.plugin_prop(plugin, 'Socket'), 'VolumeDriver.List')
    test.assertEqual(status, 200)
    test.assertEqual([v['Name'] for v in reply['Volumes']], ['vol1'])
    test.disable(plugin)
    test.assertTrue(os.path.isdir(os.path.join(test.data_dir, 'volumes', 'vol1')))


class DockerMadeTests(UpgradePushTestCase):

    def setUp(self):
        super().setUp()
        with open(os.path.join(IMAGE_DIR, 'tags.json')) as f:
            self.tags = json.load(f)
        self.manifests = {}
        for tag, digest in sorted(self.tags.items()):
            data = read_blob(digest)
            manifest = json.loads(data)
            self.manifests[tag] = manifest
            for desc in [manifest['config']] + manifest['layers']:
                blob = read_blob(desc['digest'])
                self.assertEqual((len(blob), 'sha256:' + hashlib.sha256(blob).hexdigest()),
                                 (desc['size'], desc['digest']))
                self.assertEqual(pd_registry.push_blob(self.registry.url, REPO, blob),
                                 desc['digest'])
            self.assertEqual(pd_registry.push_manifest_raw(self.registry.url, REPO, tag, data,
                                                           manifest['mediaType']), digest)
        self.data_dir = tempfile.mkdtemp(prefix='data-', dir=self.tmpdir)

    def config_of(self, tag):
        return json.loads(read_blob(self.manifests[tag]['config']['digest']))

    def read_rootfs(self, plugin, name):
        with open(os.path.join(self.rootfs(plugin), name), 'rb') as f:
            return f.read()

    def test_image_is_docker_made(self):
        for tag, manifest in self.manifests.items():
            config = self.config_of(tag)
            self.assertEqual(config['rootfs']['diff_ids'], [manifest['layers'][0]['digest']])
            self.assertEqual(list(manifest), ['schemaVersion', 'config', 'layers', 'mediaType'])
            self.assertIsNone(config['Env'])
            self.assertEqual(config['User'], {})
            self.assertTrue(read_blob(manifest['config']['digest']).endswith(b'}\n'))

    def test_writers_match_docker(self):
        """pd_registry's Docker writers give back what Docker wrote, from the same context:
        the layer's tar, the gzip header, the config and the manifest, byte for byte."""
        for tag, version in (('v1', 1), ('v2', 2)):
            manifest = self.manifests[tag]
            layer = read_blob(manifest['layers'][0]['digest'])
            config = read_blob(manifest['config']['digest'])
            self.assertEqual(pd_registry.docker_layer_tar(make_image.rootfs(version),
                                                          make_image.MTIME),
                             gzip.decompress(layer))
            self.assertEqual(pd_registry.make_docker_layer(make_image.rootfs(version))[0][:10],
                             layer[:10])
            self.assertEqual(pd_registry.docker_plugin_config(make_image.config(version),
                                                              [manifest['layers'][0]['digest']]),
                             config)
            self.assertEqual(pd_registry.docker_plugin_manifest(
                config, [(layer, pd_registry.MT_LAYER_GZIP)]), read_blob(self.tags[tag]))

    def test_docker_way_example_install_enable_upgrade(self):
        """The example plugin written the Docker way by pd_registry (its binary in the rootfs,
        so larger than what is committed here): installs, enables and upgrades."""
        with open(EXAMPLE_BINARY, 'rb') as f:
            binary = f.read()
        with open(EXAMPLE_CONFIG) as f:
            config = json.load(f)
        for version in (1, 2):
            config['Description'] = 'the example the Docker way, version %d' % version
            files = {'plugind-example': (binary, 0o755), 'VERSION': (b'%d\n' % version, 0o644)}
            _, diff_ids, blobs = self.push_plugin('test/docker-way', 'v%d' % version,
                                                  config=config, files=files, docker_made=True)
            self.assertEqual(diff_ids, ['sha256:' + hashlib.sha256(blobs[0]).hexdigest()])
        v1 = self.remote('test/docker-way', 'v1')
        privileges, _ = self.get_privileges(v1)
        plugin, _ = self.pull_ok(v1, privileges=privileges)
        self.set_settings(plugin, {'data': self.data_dir})
        enable_use_upgrade(self, plugin, self.remote('test/docker-way', 'v2'),
                           'the example the Docker way, version 2')

    def test_hostile_diff_ids_refused(self):
        """Only a layer's own blob digest may stand for its diff_id: a Docker-style config
        naming another layer's blob, or a config blob, fails the uncompressed check, and nothing
        is installed."""
        built = [pd_registry.make_docker_layer(make_image.rootfs(version)) for version in (1, 2)]
        blobs = [b[1] for b in built]
        lies = [
            [blobs[1], blobs[0]],
            [blobs[0], blobs[0]],
            [self.manifests['v1']['config']['digest'], blobs[1]],
        ]
        privileges = [('mount', 'host path to mount', [source])
                      for source in ('/usr/lib/plugind-example', '/var/lib/plugind-example')]
        for i, lie in enumerate(lies):
            config = pd_registry.docker_plugin_config(make_image.config(1), lie)
            pd_registry.push_plugin(self.registry.url, 'test/hostile', 'v%d' % i, config,
                                    [(b[0], b[2]) for b in built], docker_made=True)
            err = self.pull_expect_error(ERR + 'DigestMismatch',
                                         self.remote('test/hostile', 'v%d' % i),
                                         privileges=privileges)
            self.assertIn('rootfs.diff_ids', err.message)

    def test_install_enable_upgrade(self):
        v1, v2 = self.remote(REPO, 'v1'), self.remote(REPO, 'v2')
        privileges, _ = self.get_privileges(v1)
        # one per mount, as Docker's computePrivileges lists them
        self.assertEqual(privileges, [('mount', 'host path to mount', [source])
                                      for source in ('/usr/lib/plugind-example',
                                                     '/var/lib/plugind-example')])
        plugin, results = self.pull_ok(v1, privileges=privileges)
        self.assertEqual(results['manifest-digest'], self.tags['v1'])
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), self.tags['v1'])
        self.assertEqual(self.plugin_prop(plugin, 'ConfigDigest'),
                         self.manifests['v1']['config']['digest'])
        self.assertEqual(self.plugin_prop(plugin, 'Description'),
                         'A plugin made by Docker Engine, version 1')
        rootfs = self.rootfs(plugin)
        self.assertEqual(self.read_rootfs(plugin, 'etc/motd.link'),
                         b'made by docker plugin create\n')
        self.assertEqual(os.lstat(os.path.join(rootfs, 'etc/motd')).st_ino,
                         os.lstat(os.path.join(rootfs, 'etc/motd.link')).st_ino)
        self.assertEqual(os.readlink(os.path.join(rootfs, 'plugin')),
                         'opt/example/plugind-example')
        for d in ('data', 'opt/example'):
            self.assertTrue(stat.S_ISDIR(os.lstat(os.path.join(rootfs, d)).st_mode), d)

        self.set_settings(plugin, {'bin': EXAMPLE_DIR, 'data': self.data_dir})
        enable_use_upgrade(self, plugin, v2, 'A plugin made by Docker Engine, version 2')
        self.assertEqual(self.plugin_prop(plugin, 'ManifestDigest'), self.tags['v2'])


if __name__ == '__main__':
    main()
