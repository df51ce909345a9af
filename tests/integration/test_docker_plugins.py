#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Plugins between plugind and a real Docker Engine (Debian's docker.io, dockerd 20.10), both
on the same local registry (docker-registry on 127.0.0.1). Suite 'engines': run once per test
command, never under ASan or valgrind.

  - Docker to plugind: `docker plugin create` from the example plugin's context and `docker
    plugin push` (so the config's rootfs.diff_ids hold the compressed layer digest, as every
    plugin Docker makes has them), then plugind pulls, enables, and upgrades v1 to v2, both
    made by Docker, over the bus.
  - plugind to Docker: plugind creates the example plugin and pushes it; dockerd installs it,
    enables it and uses it as a volume driver.

dockerd runs on a private socket, data root and exec root (tests/integration/pd_engines.py).
"""

import gzip
import json
import os
import shutil
import sys
import tarfile

import pd_engines
import pd_registry
from pd_testcase import BUILDDIR, SRCDIR, main, opts
from test_docker_made import enable_use_upgrade
from test_registry_push import UpgradePushTestCase

EXAMPLE_CONTEXT = os.path.join(BUILDDIR, 'example', 'plugind-example-context.tar.gz')
EXAMPLE_CONFIG = os.path.join(SRCDIR, 'example', 'hello', 'config.json')


def write_context(directory, version):
    """The example plugin's create context as a directory (what `docker plugin create` takes),
    with a VERSION file in its rootfs and the version in its description."""
    with tarfile.open(EXAMPLE_CONTEXT) as tar:
        tar.extractall(directory)
    with open(os.path.join(directory, 'rootfs', 'VERSION'), 'w') as f:
        f.write('%d\n' % version)
    # the time of every entry of the example's context
    for path in ('rootfs/VERSION', 'rootfs'):
        os.utime(os.path.join(directory, path), (0, 0))
    path = os.path.join(directory, 'config.json')
    with open(path) as f:
        config = json.load(f)
    config['Description'] = 'plugind example volume plugin, version %d' % version
    with open(path, 'w') as f:
        json.dump(config, f)
    return directory


class DockerTestCase(UpgradePushTestCase):
    """A registry, plugind, and a dockerd of the test's own."""

    def setUp(self):
        super().setUp()
        self.dockerd = pd_engines.Dockerd(os.path.join(self.tmpdir, 'dockerd'))
        self.addCleanup(self.dockerd.stop)
        self.data_dir = os.path.join(self.tmpdir, 'example-data')
        os.makedirs(self.data_dir)

    def dump_logs(self):
        super().dump_logs()
        dockerd = getattr(self, 'dockerd', None)
        if dockerd is not None:
            sys.stderr.write('\n----- dockerd log (%s) -----\n%s----- end -----\n' %
                             (dockerd.log_path, dockerd.log()))

    def docker(self, *args, **kw):
        return self.dockerd.docker(*args, **kw)

    def docker_create_push(self, repo, tag, version):
        """`docker plugin create` from the example's context, `docker plugin push`, and the
        plugin removed from dockerd again. Returns the reference."""
        remote = self.remote(repo, tag)
        context = write_context(os.path.join(self.tmpdir, 'context-%s' % tag), version)
        self.docker('plugin', 'create', remote, context)
        self.docker('plugin', 'push', remote)
        self.docker('plugin', 'rm', remote)
        shutil.rmtree(context)
        return remote

    def registry_blob(self, repo, digest):
        _, _, data = pd_registry._Session(self.registry.url, None, None).request(
            'GET', '/v2/%s/blobs/%s' % (repo, digest))
        return data

    def registry_image(self, repo, tag):
        """(manifest, config) as the registry holds them."""
        data, media_type, _ = pd_registry.get_manifest(self.registry.url, repo, tag)
        self.assertEqual(media_type, pd_registry.MT_MANIFEST)
        manifest = json.loads(data)
        self.assertEqual(pd_registry.docker_plugin_manifest(
            self.registry_blob(repo, manifest['config']['digest']),
            [(self.registry_blob(repo, manifest['layers'][0]['digest']),
              pd_registry.MT_LAYER_GZIP)]), data)
        return manifest, json.loads(self.registry_blob(repo, manifest['config']['digest']))

    def read_rootfs(self, plugin, name):
        with open(os.path.join(self.rootfs(plugin), name), 'rb') as f:
            return f.read()


class DockerToPlugindTests(DockerTestCase):

    def test_docker_made_plugin_installs_enables_upgrades(self):
        v1 = self.docker_create_push('test/docker-made', 'v1', 1)
        v2 = self.docker_create_push('test/docker-made', 'v2', 2)
        # what makes a Docker-made plugin: one gzip layer whose compressed digest is its
        # diff_id; and pd_registry's Docker writers give the same bytes from the same context
        with open(os.path.join(BUILDDIR, 'example', 'plugind-example'), 'rb') as f:
            binary = f.read()
        for version in (1, 2):
            manifest, config = self.registry_image('test/docker-made', 'v%d' % version)
            layer = manifest['layers'][0]
            self.assertEqual(config['rootfs']['diff_ids'], [layer['digest']])
            self.assertEqual(layer['mediaType'], pd_registry.MT_LAYER_GZIP)
            self.assertEqual(manifest['config']['mediaType'], pd_registry.MT_PLUGIN_CONFIG)
            with open(EXAMPLE_CONFIG) as f:
                context_config = json.load(f)
            context_config['Description'] = 'plugind example volume plugin, version %d' % version
            self.assertEqual(
                self.registry_blob('test/docker-made', manifest['config']['digest']),
                pd_registry.docker_plugin_config(context_config, [layer['digest']],
                                                 config['DockerVersion']))
            entries = [('file', 'VERSION', b'%d\n' % version, 0o644),
                       ('file', 'plugind-example', binary, 0o755)]
            self.assertEqual(
                gzip.decompress(self.registry_blob('test/docker-made', layer['digest'])),
                pd_registry.docker_layer_tar(entries, mtime=0))

        privileges, _ = self.get_privileges(v1)
        self.assertEqual(privileges, [('mount', 'host path to mount',
                                       ['/var/lib/plugind-example']),
                                      ('capabilities', 'list of additional capabilities required',
                                       ['CAP_SYS_ADMIN'])])
        plugin, results = self.pull_ok(v1, privileges=privileges)
        self.assertEqual(self.plugin_prop(plugin, 'Reference'), v1)
        self.set_settings(plugin, {'data': self.data_dir})
        enable_use_upgrade(self, plugin, v2, 'plugind example volume plugin, version 2')


class PlugindToDockerTests(DockerTestCase):

    def test_docker_installs_what_plugind_pushes(self):
        with open(EXAMPLE_CONTEXT, 'rb') as f:
            plugin, _ = self.create_ok('test/local', f.read(),
                                       options=opts(grant_all_privileges=True))
        remote = self.remote('test/from-plugind', 'v1')
        _, results = self.push_ok(plugin, remote)

        self.docker('plugin', 'install', '--grant-all-permissions', '--disable', remote)
        doc = self.dockerd.docker_json('plugin', 'inspect', remote)[0]
        self.assertEqual(doc['Config']['Description'], 'plugind example volume plugin')
        self.assertEqual(doc['Config']['Entrypoint'], ['/plugind-example'])
        self.assertFalse(doc['Enabled'])
        self.docker('plugin', 'set', remote, 'data.source=' + self.data_dir)
        self.docker('plugin', 'enable', remote)
        # dockerd uses it: a volume made through it is a directory in its data dir
        self.docker('volume', 'create', '--driver', remote, 'vol1')
        listing = self.docker('volume', 'ls', '--format', '{{json .}}').stdout
        # one JSON object a line; a set, since dockerd 20.10 once listed vol1 twice here
        volumes = {(v['Name'], v['Driver']) for v in map(json.loads, listing.splitlines())}
        self.assertEqual(volumes, {('vol1', remote)}, listing)
        self.assertTrue(os.path.isdir(os.path.join(self.data_dir, 'volumes', 'vol1')))
        self.docker('volume', 'rm', 'vol1')
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, 'volumes', 'vol1')))
        self.docker('plugin', 'disable', remote)
        self.docker('plugin', 'rm', remote)
        self.assertEqual(self.docker('plugin', 'ls', '--quiet').stdout, '')


if __name__ == '__main__':
    main()
