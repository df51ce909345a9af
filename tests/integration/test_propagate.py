#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""PropagatedMount over the bus, seen from the host: what a volume plugin mounts beneath its
PropagatedMount is mounted on the host beneath its propagated-mount dir (a shared mount, nosuid
and nodev), and nothing it mounts elsewhere is; those mounts hold the plugin (Holders, Disable
and Remove refuse without force); and they are unmounted whenever the sandbox ends: disable,
crash, the daemon's stop, a killed daemon's next start, a removal. Also with the daemon in a
mount namespace of its own, a slave of the test's, as the shipped systemd unit runs it.

The plugin is tests/runner-plugin.c in its "mount" mode, with CAP_SYS_ADMIN: it makes the
mounts (and tries the attacks) its arguments say before it answers /Plugin.Activate."""

import json
import os
import signal
import subprocess

from pd_testcase import ERR, GLib, TIMEOUT_MULT, main, plugin_call
from test_run import RunnerPluginTestCase, RunTestCase, faulty_plugin


def unescape(field):
    """mountinfo escapes space, tab, newline and backslash as \\ooo"""
    out = ''
    i = 0
    while i < len(field):
        if field[i] == '\\' and field[i + 1:i + 4].isdigit():
            out += chr(int(field[i + 1:i + 4], 8))
            i += 4
        else:
            out += field[i]
            i += 1
    return out


def mountinfo(pid='self'):
    """The mounts of the mount namespace of pid, as dicts."""
    out = []
    with open('/proc/%s/mountinfo' % pid) as f:
        for line in f:
            fields = line.split()
            dash = fields.index('-', 6)
            out.append({'id': int(fields[0]), 'parent': int(fields[1]),
                        'point': unescape(fields[4]), 'options': fields[5].split(','),
                        'optional': fields[6:dash], 'fstype': fields[dash + 1]})
    return out


def mounts_at_or_beneath(path, pid='self'):
    return [m for m in mountinfo(pid)
            if m['point'] == path or m['point'].startswith(path + '/')]


def mount_points(pid='self'):
    return {m['point'] for m in mountinfo(pid)}


def unmount_beneath(top):
    """Whatever a test that failed half-way left mounted beneath top, before top is deleted."""
    for _ in range(1000):
        left = sorted((m['point'] for m in mounts_at_or_beneath(top)), key=len, reverse=True)
        if not left:
            return
        subprocess.run(['umount', '-l', left[0]], stderr=subprocess.DEVNULL)


def holders(test, path):
    return [tuple(h) for h in test.plugin_prop(path, 'Holders')]


def wait_holders(test, path, expected):
    test.wait_until(lambda: sorted(holders(test, path)) == sorted(expected), 10,
                    'Holders %r (are %r)' % (expected, holders(test, path)))


class PropagationTestCase(RunnerPluginTestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(unmount_beneath, os.path.realpath(self.tmpdir))

    def volume_plugin(self, name, actions):
        """Installs the runner's test plugin in its "mount" mode doing @actions, with
        PropagatedMount /data and CAP_SYS_ADMIN; returns (object path, propagated-mount dir on
        the host)."""
        path = faulty_plugin(
            self, 'mount', name,
            Args={'Name': 'args', 'Description': '', 'Settable': ['value'], 'Value': actions},
            PropagatedMount='/data',
            Linux={'Capabilities': ['CAP_SYS_ADMIN'], 'AllowAllDevices': False, 'Devices': []})
        pdir = os.path.join(self.plugin_dir(os.path.basename(path)), 'propagated-mount')
        return path, os.path.realpath(pdir)

    def holders(self, path):
        return holders(self, path)

    def wait_holders(self, path, expected):
        wait_holders(self, path, expected)

    def assertVolume(self, pdir, name, pid='self'):
        """A tmpfs at pdir/name in the namespace of pid, and pdir's own mount shared, nosuid,
        nodev."""
        mounts = mounts_at_or_beneath(pdir, pid)
        own = [m for m in mounts if m['point'] == pdir]
        self.assertTrue(own, 'nothing mounted at %s: %r' % (pdir, mounts))
        self.assertIn('nosuid', own[0]['options'])
        self.assertIn('nodev', own[0]['options'])
        self.assertTrue([o for o in own[0]['optional'] if o.startswith('shared:')], own[0])
        vols = [m for m in mounts if m['point'] == os.path.join(pdir, name)]
        self.assertEqual([m['fstype'] for m in vols], ['tmpfs'], mounts)

    def assertNothingMounted(self, pdir, pid='self'):
        self.assertEqual(mounts_at_or_beneath(pdir, pid), [])


class PropagationTests(PropagationTestCase):

    def test_mount_reaches_the_host(self):
        path, pdir = self.volume_plugin('test/volumes', ['tmpfs:/data/vol1'])
        self.assertNothingMounted(pdir)
        self.enable(path)
        self.assertVolume(pdir, 'vol1')
        # the same file system on both sides: a file the host writes, the plugin sees
        with open(os.path.join(pdir, 'vol1', 'hello'), 'w') as f:
            f.write('from the host')
        main_pid = self.plugin_prop(path, 'MainPID')
        with open('/proc/%d/root/data/vol1/hello' % main_pid) as f:
            self.assertEqual(f.read(), 'from the host')
        inside = [m for m in mountinfo(main_pid) if m['point'] == '/data']
        self.assertIn('nosuid', inside[0]['options'])
        self.assertIn('nodev', inside[0]['options'])

        # the mount holds the plugin: Holders, Disable and Remove say where
        volume = os.path.join(pdir, 'vol1')
        self.wait_holders(path, [(volume, 'mounted beneath its propagated mount (tmpfs)', 0, 0)])
        err = self.assertDBusError(ERR + 'PluginInUse', self.disable, path)
        self.assertIn(volume, err.message)
        err = self.assertDBusError(ERR + 'PluginInUse', self.remove, path)
        self.assertIn(volume, err.message)
        self.assertEqual(self.plugin_prop(path, 'State'), 'running')
        self.assertVolume(pdir, 'vol1')

        # force: stopped, and nothing of it stays mounted on the host
        self.disable(path, force=True)
        self.assertNothingMounted(pdir)
        self.assertEqual(self.holders(path), [])
        # and it starts again, with its mounts
        self.enable(path)
        self.assertVolume(pdir, 'vol1')
        self.remove(path, {'force': GLib.Variant('b', True)})
        self.assertNothingMounted(pdir)
        self.assertFalse(os.path.exists(pdir))

    def test_mounts_elsewhere_stay_in_the_sandbox(self):
        # a plugin with CAP_SYS_ADMIN mounts what it likes in its sandbox; only what is beneath
        # its PropagatedMount reaches the host: not a dir of its rootfs, not its socket dir,
        # not a path it reaches through a symlink it made in the propagated dir, and making its
        # own mount at /data suid again changes nothing on the host
        path, pdir = self.volume_plugin('test/elsewhere', [
            'mkdir:/elsewhere', 'tmpfs:/elsewhere', 'tmpfs:/run/docker/plugins/sub',
            'mkdir:/etc', 'symlink:/etc:/data/evil', 'tmpfs:/data/evil', 'symlink:/:/data/root',
            'tmpfs:/data/root/etc/etc', 'tmpfs:/data/ok', 'suid:/data', 'suid:/data/ok'])
        before = mount_points()
        self.enable(path)
        log = self.plugin_log(path)
        for done in ('tmpfs:/elsewhere: ok', 'tmpfs:/run/docker/plugins/sub: ok',
                     'tmpfs:/data/evil: ok', 'tmpfs:/data/root/etc/etc: ok', 'suid:/data: ok'):
            self.assertIn('runner-plugin: ' + done, log)
        main_pid = self.plugin_prop(path, 'MainPID')
        inside = mount_points(main_pid)
        self.assertIn('/elsewhere', inside)
        self.assertIn('/etc', inside)
        self.assertIn('/etc/etc', inside)

        # on the host: the dir's own mount and /data/ok, nothing else
        self.assertEqual(mount_points() - before, {pdir, os.path.join(pdir, 'ok')})
        self.assertVolume(pdir, 'ok')
        self.assertTrue(os.path.islink(os.path.join(pdir, 'evil')))
        self.wait_holders(path, [(os.path.join(pdir, 'ok'),
                                  'mounted beneath its propagated mount (tmpfs)', 0, 0)])
        self.disable(path, force=True)
        self.assertNothingMounted(pdir)
        self.assertEqual(mount_points(), before)

    def test_mount_stacked_on_the_propagated_mount(self):
        # a mount on /data itself is on the host at the dir itself, and goes too
        path, pdir = self.volume_plugin('test/stacked', ['tmpfs:/data'])
        self.enable(path)
        self.assertEqual(len([m for m in mounts_at_or_beneath(pdir) if m['point'] == pdir]), 2)
        self.wait_holders(path, [(pdir, 'mounted beneath its propagated mount (tmpfs)', 0, 0)])
        self.disable(path, force=True)
        self.assertNothingMounted(pdir)

    def test_symlink_at_the_propagated_mount_refused(self):
        # the plugin replaces its /data with a symlink to /etc: its next start fails before
        # anything is mounted, on the host or in its sandbox
        path, pdir = self.volume_plugin('test/symlink', [
            'umount:/data', 'rmdir:/data', 'mkdir:/etc', 'symlink:/etc:/data'])
        before = mount_points()
        self.enable(path)
        self.assertIn('runner-plugin: symlink:/etc:/data: ok', self.plugin_log(path))
        self.disable(path)
        self.assertNothingMounted(pdir)
        rootfs_data = os.path.join(os.path.dirname(pdir), 'rootfs', 'data')
        self.assertTrue(os.path.islink(rootfs_data))
        err = self.assertDBusError(ERR + 'SandboxFailed', self.enable, path)
        self.assertIn('/data in the plugin rootfs is a symlink', err.message)
        self.assertNothingMounted(pdir)
        self.assertEqual(mount_points(), before)

    def test_crash_unmounts(self):
        # the first run mounts a volume and crashes after its activation; every restart exits
        # at once, before it mounts anything
        path, pdir = self.volume_plugin('test/crash', ['crashonce:/crashed', 'tmpfs:/data/vol1'])
        self.enable(path)
        self.wait_signal('PluginEvent', lambda a: a[0] == 'crash' and a[3] == path)
        self.assertEqual([m for m in mounts_at_or_beneath(pdir) if m['point'] != pdir], [])
        self.disable(path)
        self.assertNothingMounted(pdir)

    def test_daemon_stop_unmounts(self):
        path, pdir = self.volume_plugin('test/stop', ['tmpfs:/data/vol1'])
        self.enable(path)
        self.assertVolume(pdir, 'vol1')
        # the plugin stays enabled, but nothing of it is mounted while plugind is not running
        self.stop_daemon()
        self.assertNothingMounted(pdir)
        self.start_daemon()
        self.wait_until(lambda: self.plugin_prop(path, 'State') == 'running', 20,
                        'the plugin restored')
        self.assertVolume(pdir, 'vol1')
        self.disable(path, force=True)
        self.assertNothingMounted(pdir)

    def test_killed_daemon_leaves_mounts_the_next_one_releases(self):
        path, pdir = self.volume_plugin('test/killed', ['tmpfs:/data/vol1'])
        self.enable(path)
        self.daemon.send_signal(signal.SIGKILL)
        self.wait_daemon_death()
        # a killed daemon unmounts nothing: its plugins died with it, their mounts stay
        self.assertVolume(pdir, 'vol1')
        self.start_daemon()
        self.wait_until(lambda: self.plugin_prop(path, 'State') == 'running', 20,
                        'the plugin restored')
        # what was left went before the new start: one of each
        points = [m['point'] for m in mounts_at_or_beneath(pdir)]
        self.assertEqual(sorted(points), [pdir, os.path.join(pdir, 'vol1')])
        self.disable(path, force=True)
        self.assertNothingMounted(pdir)

        # leftovers of a disabled plugin (as a killed daemon leaves them): the next start of
        # the daemon unmounts them, and so does its removal, before its files go, deleting
        # nothing through them
        outside = os.path.join(self.tmpdir, 'outside')
        os.makedirs(outside)
        with open(os.path.join(outside, 'keep'), 'w') as f:
            f.write('not the plugin\'s')

        def leave_mounts():
            self.assertEqual(os.system('mount --bind "%s" "%s"' % (pdir, pdir)), 0)
            os.makedirs(os.path.join(pdir, 'x'), exist_ok=True)
            self.assertEqual(os.system('mount --bind "%s" "%s/x"' % (outside, pdir)), 0)
        leave_mounts()
        self.restart_daemon()
        self.wait_until(lambda: mounts_at_or_beneath(pdir) == [], 10, 'the release at start')
        leave_mounts()
        self.remove(path)
        self.assertNothingMounted(pdir)
        self.assertTrue(os.path.exists(os.path.join(outside, 'keep')))


class ExampleVolumeTests(RunTestCase):
    """The bundled example, a real volume driver: a mounted volume is a mount of its own beneath
    its PropagatedMount, which an engine finds on the host; what is written there is in the
    plugin's storage."""

    def setUp(self):
        super().setUp()
        self.addCleanup(unmount_beneath, os.path.realpath(self.tmpdir))

    def findmnt(self, path):
        """findmnt's answer for the mount point path on the host, or None."""
        p = subprocess.run(['findmnt', '--json', '--mountpoint', path], capture_output=True,
                           text=True)
        return json.loads(p.stdout)['filesystems'] if p.returncode == 0 else None

    def test_volume_mount_reaches_the_host(self):
        self.enable()
        sock = self.plugin_prop(self.path, 'Socket')
        pdir = os.path.realpath(os.path.join(self.plugin_dir(self.pid), 'propagated-mount'))
        host = os.path.join(pdir, 'vol1')
        storage = os.path.join(self.data_dir, 'volumes', 'vol1')
        self.assertEqual(plugin_call(sock, 'VolumeDriver.Create', {'Name': 'vol1'}),
                         (200, {'Err': ''}))
        self.assertIsNone(self.findmnt(host))
        self.assertEqual(plugin_call(sock, 'VolumeDriver.Mount', {'Name': 'vol1', 'ID': 'c1'}),
                         (200, {'Mountpoint': '/mnt/volumes/vol1', 'Err': ''}))

        # on the host, a mount of its own (a directory alone would be no proof of propagation),
        # of the volume's directory: what an engine's container writes is in the storage
        found = self.findmnt(host)
        self.assertIsNotNone(found, 'vol1 is not mounted on the host')
        self.assertEqual(len(found), 1)
        self.assertEqual((os.stat(host).st_dev, os.stat(host).st_ino),
                         (os.stat(storage).st_dev, os.stat(storage).st_ino))
        with open(os.path.join(host, 'written-by-a-container'), 'w') as f:
            f.write('hello')
        with open(os.path.join(storage, 'written-by-a-container')) as f:
            self.assertEqual(f.read(), 'hello')

        # mounted, it holds the plugin
        fstype = found[0]['fstype']
        wait_holders(self, self.path,
                     [(host, 'mounted beneath its propagated mount (%s)' % fstype, 0, 0)])
        err = self.assertDBusError(ERR + 'PluginInUse', self.disable)
        self.assertIn(host, err.message)

        # unmounted, it is gone from the host, and the plugin can be disabled
        self.assertEqual(plugin_call(sock, 'VolumeDriver.Unmount', {'Name': 'vol1', 'ID': 'c1'}),
                         (200, {'Err': ''}))
        self.assertIsNone(self.findmnt(host))
        wait_holders(self, self.path, [])
        self.disable()
        self.assertEqual(mounts_at_or_beneath(pdir), [])
        self.assertTrue(os.path.exists(os.path.join(storage, 'written-by-a-container')))


class SlaveNamespaceTests(PropagationTestCase):
    """The shipped unit runs plugind in a mount namespace of its own, a slave of the host's,
    from which no mount propagates back; --host-mount-namespace names the host's (there PID
    1's; here the test's)."""

    autostart_daemon = False

    def test_mounts_reach_the_host_namespace(self):
        self.daemon_wrapper = ['unshare', '--mount', '--propagation', 'slave', '--']
        self.start_daemon()
        daemon_pid = self.daemon.pid
        self.assertNotEqual(os.readlink('/proc/%d/ns/mnt' % daemon_pid),
                            os.readlink('/proc/self/ns/mnt'))
        path, pdir = self.volume_plugin('test/slave', ['tmpfs:/data/vol1'])

        # without the option the plugin's mounts stay in the daemon's namespace
        self.enable(path)
        self.assertVolume(pdir, 'vol1', daemon_pid)
        self.assertNothingMounted(pdir)
        self.disable(path, force=True)
        self.assertNothingMounted(pdir, daemon_pid)

        # with it they are on the host, and gone from there when the plugin stops
        self.daemon_args = ['--host-mount-namespace=/proc/%d/ns/mnt' % os.getpid()]
        self.stop_daemon()
        self.start_daemon()
        daemon_pid = self.daemon.pid
        self.enable(path)
        self.assertVolume(pdir, 'vol1')
        self.wait_holders(path, [(os.path.join(pdir, 'vol1'),
                                  'mounted beneath its propagated mount (tmpfs)', 0, 0)])
        self.assertDBusError(ERR + 'PluginInUse', self.disable, path)
        self.disable(path, force=True)
        self.assertNothingMounted(pdir)
        self.assertNothingMounted(pdir, daemon_pid)

    def test_bad_host_namespace_refused(self):
        # what is no mount namespace ends the start, before anything else, saying why
        env = dict(os.environ, STATE_DIRECTORY=self.state_dir, RUNTIME_DIRECTORY=self.runtime_dir)
        for option, message in (
                ('/proc/self/ns/net', '/proc/self/ns/net is not a mount namespace'),
                (os.path.join(self.tmpdir, 'missing'), 'cannot open the host mount namespace')):
            p = subprocess.run([self.daemon_path, '--host-mount-namespace=' + option],
                               capture_output=True, text=True, timeout=30 * TIMEOUT_MULT,
                               env=env)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(message, p.stderr)


if __name__ == '__main__':
    main()
