#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Makes the plugin image of this directory with a real Docker Engine: `docker plugin create` of
two small contexts (v1, v2) and `docker plugin push` to a local registry, then copies the
manifests, configs and layers byte for byte from the registry's storage into blobs/sha256/ and
writes tags.json ({"v1": manifest digest, "v2": …}). See README.md.

usage (as root, with docker.io and docker-registry installed):
    /usr/bin/python3 tests/integration/docker-made/make_image.py
"""

import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import pd_engines  # noqa: E402
import pd_registry  # noqa: E402

MTIME = 1700000000
REPO = 'plugind-test/docker-made'


def config(version):
    """The context's config.json: only what the plugin needs, so that Docker fills in the rest
    (nulls for absent lists, "User": {}, DockerVersion, rootfs)."""
    return {
        'Description': 'A plugin made by Docker Engine, version %d' % version,
        'Documentation': 'https://docs.docker.com/engine/extend/config/',
        'Entrypoint': ['/opt/example/plugind-example', 'docker-made.sock'],
        'Interface': {'Types': ['docker.volumedriver/1.0'], 'Socket': 'docker-made.sock'},
        'Mounts': [
            {'Name': 'bin', 'Description': 'Host directory holding plugind-example',
             'Settable': ['source'], 'Source': '/usr/lib/plugind-example',
             'Destination': '/opt/example', 'Type': 'bind', 'Options': ['rbind', 'ro']},
            {'Name': 'data', 'Description': 'Host directory that holds the volumes',
             'Settable': ['source'], 'Source': '/var/lib/plugind-example',
             'Destination': '/data', 'Type': 'bind', 'Options': ['rbind', 'rw']},
        ],
    }


def rootfs(version):
    """The context's rootfs/, as pd_registry.make_layer entries: a file, a hard link, a symlink
    and the mount points."""
    return [
        ('file', 'VERSION', b'%d\n' % version, 0o644),
        ('dir', 'data', 0o755),
        ('dir', 'etc', 0o755),
        ('file', 'etc/motd', b'made by docker plugin create\n', 0o644),
        ('hardlink', 'etc/motd.link', 'etc/motd'),
        ('dir', 'opt', 0o755),
        ('dir', 'opt/example', 0o755),
        ('symlink', 'plugin', 'opt/example/plugind-example'),
    ]


def write_context(directory, version):
    """config.json and rootfs/ on disk, every time MTIME."""
    root = os.path.join(directory, 'rootfs')
    os.makedirs(root)
    with open(os.path.join(directory, 'config.json'), 'w') as f:
        json.dump(config(version), f, indent=2)
    for kind, path, *args in rootfs(version):
        full = os.path.join(root, path)
        if kind == 'dir':
            os.mkdir(full)
            os.chmod(full, args[0])
        elif kind == 'file':
            with open(full, 'wb') as f:
                f.write(args[0])
            os.chmod(full, args[1])
        elif kind == 'hardlink':
            os.link(os.path.join(root, args[0]), full)
        else:
            os.symlink(args[0], full)
    for d, dirs, files in os.walk(directory, topdown=False):
        for n in dirs + files:
            os.utime(os.path.join(d, n), (MTIME, MTIME), follow_symlinks=False)
    os.utime(directory, (MTIME, MTIME))


def main():
    work = tempfile.mkdtemp(prefix='pd-docker-made-')
    registry = dockerd = None
    try:
        registry = pd_registry.Registry(os.path.join(work, 'registry'))
        dockerd = pd_engines.Dockerd(os.path.join(work, 'dockerd'))
        tags = {}
        for version in (1, 2):
            ref = '%s/%s:v%d' % (registry.host, REPO, version)
            context = os.path.join(work, 'context-%d' % version)
            write_context(context, version)
            dockerd.docker('plugin', 'create', ref, context)
            dockerd.docker('plugin', 'push', ref)
            _, _, tags['v%d' % version] = pd_registry.get_manifest(registry.url, REPO,
                                                                   'v%d' % version)
        print(dockerd.docker('version', '--format',
                             'client {{.Client.Version}}, server {{.Server.Version}}').stdout)
        blobs = os.path.join(HERE, 'blobs', 'sha256')
        shutil.rmtree(os.path.join(HERE, 'blobs'), ignore_errors=True)
        os.makedirs(blobs)
        stored = os.path.join(registry.storage_dir, 'docker', 'registry', 'v2', 'blobs',
                              'sha256')
        for prefix in os.listdir(stored):
            for hexd in os.listdir(os.path.join(stored, prefix)):
                shutil.copyfile(os.path.join(stored, prefix, hexd, 'data'),
                                os.path.join(blobs, hexd))
        with open(os.path.join(HERE, 'tags.json'), 'w') as f:
            json.dump(tags, f, indent=2, sort_keys=True)
            f.write('\n')
    finally:
        if dockerd is not None:
            dockerd.remove_workdir()
        if registry is not None:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
