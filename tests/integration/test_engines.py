#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""podman and dockerd use a plugind plugin as a volume driver, end to end. Suite 'engines':
run once per test command, never under ASan or valgrind.

The example plugin (a real volume driver: each mounted volume a bind mount of its own beneath
its PropagatedMount) is installed and enabled through plugind, which publishes its consumer
socket where the engines look, in the machine's real places: /run/docker/plugins/NAME/NAME.sock
and /etc/containers/containers.conf.d/plugind.conf. Every test saves those paths first and
restores them when it ends, failed or not. Each engine (tests/integration/pd_engines.py) is a
private one, with an image imported from a static busybox: it creates a volume with the plugin,
runs a container that writes a file into it, the file is found in the plugin's storage, plugind
refuses to Disable the plugin while the volume is mounted, and once the container is gone
everything is removed, with no mount left on the host.
"""

import hashlib
import os
import shutil
import stat
import time
import uuid

import pd_engines
from pd_testcase import (BUILDDIR, ERR, PLUGIN_IFACE, TIMEOUT_MULT, GLib, PlugindTestCase,
                         main, opts, plugin_call)

EXAMPLE_CONTEXT = os.path.join(BUILDDIR, 'example', 'plugind-example-context.tar.gz')
PODMAN_DROP_IN_DIR = '/etc/containers/containers.conf.d'
PODMAN_DROP_IN = os.path.join(PODMAN_DROP_IN_DIR, 'plugind.conf')
DOCKERD_PLUGIN_DIR = '/run/docker/plugins'


class MachinePaths:
    """Paths outside the test's dir, saved as they are (absent, a file and its bytes, a dir),
    and restored: a file written back, what was absent removed (a dir only when empty, but for
    those in @owned, which go whole)."""

    def __init__(self, paths, owned=()):
        self.owned = set(owned)
        self.saved = []
        for p in paths:
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                self.saved.append((p, None))
                continue
            if stat.S_ISDIR(st.st_mode):
                self.saved.append((p, ('dir', stat.S_IMODE(st.st_mode))))
            else:
                with open(p, 'rb') as f:
                    self.saved.append((p, ('file', stat.S_IMODE(st.st_mode), f.read())))

    def restore(self):
        for p, snap in reversed(self.saved):
            if snap is None:
                if os.path.isdir(p) and not os.path.islink(p):
                    if p in self.owned:
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        try:
                            os.rmdir(p)
                        except OSError:
                            pass  # another program's files are in it now
                elif os.path.lexists(p):
                    os.unlink(p)
            elif snap[0] == 'dir':
                os.makedirs(p, exist_ok=True)
                os.chmod(p, snap[1])
            else:
                with open(p, 'wb') as f:
                    f.write(snap[2])
                os.chmod(p, snap[1])


class EnginesTestCase(PlugindTestCase):
    """plugind publishing in the machine's places, and the example plugin installed under a
    name of this test's own."""
    machine_engines = True
    autostart_daemon = False

    def setUp(self):
        super().setUp()
        # a name no other test uses at the same time, nor any engine's configuration
        self.name = 'pdex-' + uuid.uuid4().hex[:8]
        self.machine = MachinePaths(
            [os.path.dirname(DOCKERD_PLUGIN_DIR), DOCKERD_PLUGIN_DIR,
             os.path.join(DOCKERD_PLUGIN_DIR, self.name), PODMAN_DROP_IN_DIR, PODMAN_DROP_IN],
            owned=[os.path.join(DOCKERD_PLUGIN_DIR, self.name)])
        self.addCleanup(self.machine.restore)
        self.engine = None
        self.start_daemon()
        with open(EXAMPLE_CONTEXT, 'rb') as f:
            context = f.read()
        self.path, res = self.create_ok(self.name, context,
                                        options=opts(grant_all_privileges=True))
        self.pid = res['plugin-id']
        self.data_dir = os.path.join(self.tmpdir, 'example-data')
        os.makedirs(self.data_dir)
        self.set_settings(self.path, {'data': self.data_dir})
        self.propagated = os.path.join(self.state_dir, 'plugins', self.pid, 'propagated-mount')
        self.consumer = os.path.join(self.runtime_dir, 'consumers', self.pid[:12] + '.sock')
        self.pin_dir = os.path.join(self.runtime_dir, 'consumers', 'pins', self.pid)

    def tearDown(self):
        # the engine's containers go first: they hold the plugin's mounts
        if self.engine is not None:
            self.engine.stop()
        super().tearDown()

    def enable(self):
        self.call(self.path, PLUGIN_IFACE, 'Enable', GLib.Variant('(a{sv})', ({},)),
                  timeout_ms=60000 * TIMEOUT_MULT)

    def disable(self, **options):
        self.call(self.path, PLUGIN_IFACE, 'Disable', GLib.Variant('(a{sv})', (opts(**options),)),
                  timeout_ms=60000 * TIMEOUT_MULT)

    def host_mounts(self):
        """What is mounted beneath the plugin's propagated-mount dir, on the host."""
        return [m for m in pd_engines.mounts() if m.startswith(self.propagated + '/')]

    def pins(self):
        """The consumer's pins of the plugin's volumes, on the host."""
        return [m for m in pd_engines.mounts() if m.startswith(self.pin_dir + '/')]

    def wait_for_file(self, path, content):
        deadline = time.monotonic() + 60 * TIMEOUT_MULT
        while True:
            try:
                with open(path) as f:
                    if f.read() == content:
                        return
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                self.fail('%s never held %r' % (path, content))
            time.sleep(0.1)

    def use_volume(self, volume, run_detached, stop_container, remove_volume):
        """What each engine does: a container writes through the volume while plugind refuses
        to let the plugin go, then everything goes."""
        storage = os.path.join(self.data_dir, 'volumes', volume)
        self.assertTrue(os.path.isdir(storage), 'the plugin made no storage for the volume')
        run_detached()
        # the file is in the plugin's storage, through its mount on the host
        self.wait_for_file(os.path.join(storage, 'hello'), 'hello from a container\n')
        self.assertEqual(self.host_mounts(), [os.path.join(self.propagated, volume)])
        # the engine was given the pin of the volume's dir, not the plugin's dir
        self.assertEqual(self.pins(), [os.path.join(self.pin_dir, hashlib.sha256(
            volume.encode()).hexdigest())])

        e = self.assertDBusError(ERR + 'PluginInUse', self.disable)
        self.assertIn(os.path.join(self.propagated, volume), e.message)
        self.assertEqual(self.plugin_prop(self.path, 'State'), 'running')

        stop_container()
        self.assertEqual(self.host_mounts(), [])
        self.assertEqual(self.pins(), [])
        remove_volume()
        self.assertFalse(os.path.exists(storage))

    def assertAllGone(self):
        self.disable()
        self.remove(self.path)
        self.assertEqual([m for m in pd_engines.mounts() if m.startswith(self.state_dir) or
                          m.startswith(self.runtime_dir)], [])
        self.assertFalse(os.path.exists(self.consumer))
        self.assertFalse(os.path.exists(os.path.join(DOCKERD_PLUGIN_DIR, self.name)))
        self.assertFalse(os.path.exists(PODMAN_DROP_IN) and
                         self.name in open(PODMAN_DROP_IN).read())


class PodmanTests(EnginesTestCase):

    def setUp(self):
        super().setUp()
        self.engine = self.podman = pd_engines.Podman(os.path.join(self.tmpdir, 'podman'))
        self.image = self.podman.import_busybox()

    def volume_plugins(self):
        return self.podman.podman_json('info', '--format', '{{json .Plugins.Volume}}')

    def test_podman_writes_through_the_plugin(self):
        # the volume plugin podman knows comes from plugind's drop-in, and from nowhere else:
        # not there before the plugin is enabled, gone once it is disabled
        self.assertNotIn(self.name, self.volume_plugins())
        self.enable()
        self.assertIn(self.name, self.volume_plugins())
        with open(PODMAN_DROP_IN) as f:
            self.assertIn('"%s" = "%s"\n' % (self.name, self.consumer), f.read())

        self.podman.podman('volume', 'create', '--driver', self.name, 'v1')
        inspect = self.podman.podman_json('volume', 'inspect', 'v1')[0]
        self.assertEqual(inspect['Driver'], self.name)
        self.use_volume(
            'v1',
            lambda: self.podman.run('--detach', '--name', 'c1', '--volume', 'v1:/data',
                                    self.image, 'sh', '-c',
                                    'echo hello from a container > /data/hello; exec sleep 600'),
            lambda: self.podman.podman('rm', '--force', '--time', '0', 'c1'),
            lambda: self.podman.podman('volume', 'rm', 'v1'))

        self.disable()
        self.assertNotIn(self.name, self.volume_plugins())
        # the volume plugin podman no longer has fails at once
        p = self.podman.podman('volume', 'create', '--driver', self.name, 'v2', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.enable()
        self.assertAllGone()


class DockerdTests(EnginesTestCase):

    def setUp(self):
        super().setUp()
        self.engine = self.dockerd = pd_engines.Dockerd(os.path.join(self.tmpdir, 'dockerd'))
        tar = pd_engines.busybox_tar(os.path.join(self.tmpdir, 'busybox.tar'))
        self.image = 'pd-busybox:test'
        self.dockerd.docker('import', tar, self.image)

    def volumes(self):
        out = self.dockerd.docker('volume', 'ls', '--format', '{{.Driver}} {{.Name}}').stdout
        return set(out.splitlines())

    def test_dockerd_writes_through_the_plugin(self):
        self.enable()
        docker_socket = os.path.join(DOCKERD_PLUGIN_DIR, self.name, self.name + '.sock')
        self.assertTrue(stat.S_ISSOCK(os.lstat(docker_socket).st_mode))
        # a real socket where dockerd looks: a volume the plugin has shows in `docker volume
        # ls` before dockerd used the plugin at all
        self.assertEqual(plugin_call(self.consumer, 'VolumeDriver.Create',
                                     {'Name': 'early', 'Opts': {}}), (200, {'Err': ''}))
        self.assertIn('%s early' % self.name, self.volumes())

        self.dockerd.docker('volume', 'create', '--driver', self.name, 'v1')
        self.assertEqual(self.dockerd.docker_json('volume', 'inspect', 'v1')[0]['Driver'],
                         self.name)
        self.use_volume(
            'v1',
            lambda: self.dockerd.docker('run', '--detach', '--network', 'none', '--name', 'c1',
                                        '--volume', 'v1:/data', self.image, 'sh', '-c',
                                        'echo hello from a container > /data/hello; '
                                        'exec sleep 600'),
            lambda: self.dockerd.docker('rm', '--force', 'c1'),
            lambda: self.dockerd.docker('volume', 'rm', 'v1'))
        self.dockerd.docker('volume', 'rm', 'early')
        self.assertEqual({v for v in self.volumes() if v.startswith(self.name)}, set())
        self.assertAllGone()


if __name__ == '__main__':
    main()
