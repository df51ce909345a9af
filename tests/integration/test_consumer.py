#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Consumer sockets over the bus: each enabled plugin served to container engines at
<runtime>/consumers/<short id>.sock, published for dockerd and podman ([ContainerEngines] of
plugind.conf, pointed into the test's dir by the harness) and unpublished on Disable, Remove
and the daemon's stop; the Mountpoints a hostile volume plugin answers, mapped to the host or
refused; a plugin that is down or never answers; and nobody at the sockets. The plugin is the
runner's test plugin (tests/runner-plugin.c) in its scripted mode, whose answers the test
writes into its rootfs."""

import hashlib
import os
import signal
import socket
import stat
import subprocess

from pd_testcase import GLib, main, plugin_call
from test_run import RunnerPluginTestCase, faulty_plugin

PROPAGATED_MOUNT = '/pm'


class ConsumerTestCase(RunnerPluginTestCase):

    def install(self, name='scripted', **config):
        """The scripted test plugin, a volume driver with a PropagatedMount; returns its path
        and id."""
        config.setdefault('PropagatedMount', PROPAGATED_MOUNT)
        path = faulty_plugin(self, 'scripted', name, **config)
        return path, self.plugin_prop(path, 'Id')

    def consumer_socket(self, pid):
        return os.path.join(self.runtime_dir, 'consumers', pid[:12] + '.sock')

    def dockerd_socket(self, name):
        return os.path.join(self.dockerd_plugin_dir, name, name + '.sock')

    def plugin_dir(self, pid):
        return os.path.join(self.state_dir, 'plugins', pid)

    def host_dir(self, pid, *rest):
        """The plugin's propagated-mount dir on the host."""
        return os.path.join(self.plugin_dir(pid), 'propagated-mount', *rest)

    def script(self, pid, endpoint, answer):
        """What the plugin answers to POST /endpoint: bytes of a whole HTTP answer, a JSON
        text (a 200 with it), or SILENT."""
        if isinstance(answer, str) and answer != 'SILENT':
            body = answer.encode()
            answer = b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s' % (len(body), body)
        elif isinstance(answer, str):
            answer = answer.encode()
        d = os.path.join(self.plugin_dir(pid), 'rootfs', 'answers')
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, endpoint), 'wb') as f:
            f.write(answer)

    def pin(self, pid, volume):
        """Where the consumer pins the volume's dir."""
        return os.path.join(self.runtime_dir, 'consumers', 'pins', pid,
                            hashlib.sha256(volume.encode()).hexdigest())

    def host_mountinfo(self):
        with open('/proc/self/mountinfo') as f:
            return f.read()

    def setUp(self):
        super().setUp()
        self.addCleanup(self.unmount_pins)

    def unmount_pins(self):
        """Whatever a failed test left pinned (the daemon unpins at its stop)."""
        pins = os.path.join(self.runtime_dir, 'consumers', 'pins')
        for line in self.host_mountinfo().splitlines():
            point = line.split(' ')[4]
            if point.startswith(pins + '/'):
                subprocess.run(['umount', '-l', point], check=False)

    def assertSocket(self, path, mode=0o600):
        st = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), mode, path)
        self.assertEqual(st.st_uid, 0)

    def assertUnpublished(self, pid, name='scripted'):
        self.assertFalse(os.path.exists(self.consumer_socket(pid)))
        self.assertFalse(os.path.exists(os.path.join(self.dockerd_plugin_dir, name)))
        self.assertFalse(os.path.exists(self.podman_drop_in))

    def drop_in(self):
        with open(self.podman_drop_in) as f:
            return f.read()

    def daemon_log(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()


class PublishingTests(ConsumerTestCase):

    def test_follows_enable_disable_remove(self):
        path, pid = self.install()
        self.assertUnpublished(pid)

        self.enable(path)
        sock = self.consumer_socket(pid)
        self.assertSocket(sock)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode), 0o700)
        # dockerd: a real socket in the NAME/NAME.sock form, in a dir of root's alone
        docker = self.dockerd_socket('scripted')
        self.assertSocket(docker)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(docker)).st_mode), 0o700)
        # podman: the drop-in plugind owns names the consumer socket
        self.assertIn('[engine.volume_plugins]\n"scripted" = "%s"\n' % sock, self.drop_in())
        self.assertEqual(stat.S_IMODE(os.stat(self.podman_drop_in).st_mode), 0o644)
        # both answer the handshake engines make, for the plugin
        for s in (sock, docker):
            self.assertEqual(plugin_call(s, 'Plugin.Activate'),
                             (200, {'Implements': ['VolumeDriver']}))
            self.assertEqual(plugin_call(s, 'VolumeDriver.Create', {'Name': 'v1'}),
                             (200, {'Err': ''}))

        self.disable(path)
        self.assertUnpublished(pid)
        # again, as often as it is enabled
        self.enable(path)
        self.assertSocket(self.dockerd_socket('scripted'))
        self.remove(path, {'force': GLib.Variant('b', True)})
        self.assertUnpublished(pid)

    def test_daemon_stop_and_start(self):
        path, pid = self.install()
        self.enable(path)
        self.stop_daemon()
        # nothing of plugind is left where engines look while it is not running
        self.assertUnpublished(pid)
        self.start_daemon()
        self.wait_until(lambda: self.plugin_prop(path, 'State') == 'running', msg='restored')
        self.assertSocket(self.consumer_socket(pid))
        self.assertSocket(self.dockerd_socket('scripted'))
        self.assertIn('"scripted" = ', self.drop_in())

    def test_two_plugins_one_drop_in(self):
        p1, id1 = self.install('vol-a')
        p2, id2 = self.install('vol-b:2.0')
        self.enable(p1)
        self.enable(p2)
        # a tag other than latest stays in the name engines use
        self.assertEqual(self.drop_in().split('[engine.volume_plugins]\n')[1],
                         '"vol-a" = "%s"\n"vol-b:2.0" = "%s"\n' %
                         (self.consumer_socket(id1), self.consumer_socket(id2)))
        self.assertSocket(self.dockerd_socket('vol-b:2.0'))
        self.disable(p1)
        self.assertEqual(self.drop_in().split('[engine.volume_plugins]\n')[1],
                         '"vol-b:2.0" = "%s"\n' % self.consumer_socket(id2))
        self.disable(p2)
        self.assertFalse(os.path.exists(self.podman_drop_in))

    def test_name_with_slash_not_published(self):
        path, pid = self.install('vendor/thing')
        self.enable(path)
        # served, but engines take no '/' in a plugin name
        self.assertSocket(self.consumer_socket(pid))
        self.assertFalse(os.path.exists(self.podman_drop_in))
        self.assertFalse(os.path.exists(self.dockerd_plugin_dir) and
                         os.listdir(self.dockerd_plugin_dir))
        self.assertIn('plugin vendor/thing:latest is not published for container engines',
                      self.daemon_log())

    def test_stale_socket_taken_over_live_one_left_alone(self):
        path, pid = self.install()
        d = os.path.join(self.dockerd_plugin_dir, 'scripted')
        os.makedirs(d, mode=0o700)
        # a socket nobody listens on, as a killed plugind leaves it
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.dockerd_socket('scripted'))
        stale.close()
        self.enable(path)
        self.assertEqual(plugin_call(self.dockerd_socket('scripted'), 'Plugin.Activate')[0], 200)
        self.disable(path)

        # another program's live socket stays its own
        os.makedirs(d, mode=0o700)
        live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(live.close)
        live.bind(self.dockerd_socket('scripted'))
        live.listen(1)
        ino = os.lstat(self.dockerd_socket('scripted')).st_ino
        self.enable(path)
        self.assertEqual(os.lstat(self.dockerd_socket('scripted')).st_ino, ino)
        self.assertIn('another program has %s' % self.dockerd_socket('scripted'),
                      self.daemon_log())
        # podman gets it all the same
        self.assertIn('"scripted" = ', self.drop_in())
        self.disable(path)
        self.assertEqual(os.lstat(self.dockerd_socket('scripted')).st_ino, ino)

    def test_name_dockerd_knows_from_elsewhere(self):
        # a plugin of another program's that dockerd takes before NAME/NAME.sock: publishing
        # would not take it over, and is not tried
        path, pid = self.install()
        os.makedirs(self.dockerd_plugin_dir)
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(other.close)
        other.bind(os.path.join(self.dockerd_plugin_dir, 'scripted.sock'))
        other.listen(1)
        self.enable(path)
        self.assertFalse(os.path.exists(os.path.join(self.dockerd_plugin_dir, 'scripted')))
        self.assertIn('dockerd knows a plugin scripted from %s/scripted.sock' %
                      self.dockerd_plugin_dir, self.daemon_log())
        self.assertIn('"scripted" = ', self.drop_in())

    def test_nobody_cannot_connect(self):
        path, pid = self.install()
        self.enable(path)
        # through the dir's fd, as the paths may pass sun_path's 108 bytes
        script = ('import os, socket, sys\n'
                  'for p in sys.argv[1:]:\n'
                  '    d = os.open(os.path.dirname(p), os.O_PATH)\n'
                  '    s = socket.socket(socket.AF_UNIX)\n'
                  '    try:\n'
                  '        s.connect("/proc/self/fd/%d/%s" % (d, os.path.basename(p)))\n'
                  '        print("connected", p)\n'
                  '    except PermissionError:\n'
                  '        print("denied")\n')
        # the dirs on the way are closed to nobody: open them for a moment, so that what
        # refuses is the sockets' own mode
        docker_dir = os.path.join(self.dockerd_plugin_dir, 'scripted')
        dirs = (self.tmpdir, self.runtime_dir, os.path.dirname(self.consumer_socket(pid)),
                self.dockerd_plugin_dir, docker_dir)
        modes = [stat.S_IMODE(os.stat(d).st_mode) for d in dirs]
        try:
            for d in dirs:
                os.chmod(d, 0o755)
            p = self.run_as_nobody(['/usr/bin/python3', '-c', script,
                                    self.consumer_socket(pid), self.dockerd_socket('scripted')])
        finally:
            for d, mode in zip(dirs, modes):
                os.chmod(d, mode)
        self.assertEqual(p.stdout.decode().split(), ['denied', 'denied'], p.stderr)


class AnswerTests(ConsumerTestCase):
    """A hostile volume plugin's answers, through the consumer socket."""

    def setUp(self):
        super().setUp()
        self.path, self.pid = self.install()
        self.enable(self.path)
        self.sock = self.consumer_socket(self.pid)

    def test_mountpoints_mapped_to_the_host(self):
        os.makedirs(self.host_dir(self.pid, 'volumes', 'v1'))
        self.script(self.pid, 'VolumeDriver.Mount', '{"Mountpoint": "/pm/volumes/v1", "Err": ""}')
        self.script(self.pid, 'VolumeDriver.List',
                    '{"Volumes": [{"Name": "v1", "Mountpoint": "/pm/volumes/v1"}, '
                    '{"Name": "v2"}]}')
        self.script(self.pid, 'VolumeDriver.Path', '{"Mountpoint": "/pm/volumes/v2"}')
        # a volume that is not mounted: the host path; a mounted one: its pin
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Path', {'Name': 'v2'}),
                         (200, {'Mountpoint': self.host_dir(self.pid, 'volumes', 'v2'),
                                'Err': ''}))
        pin = self.pin(self.pid, 'v1')
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Mount', {'Name': 'v1', 'ID': 'x'}),
                         (200, {'Mountpoint': pin, 'Err': ''}))
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.List', {}),
                         (200, {'Volumes': [{'Name': 'v1', 'Mountpoint': pin},
                                            {'Name': 'v2', 'Mountpoint': ''}], 'Err': ''}))
        # the plugin itself got the engine's call
        self.wait_until(lambda: 'runner-plugin: call VolumeDriver.Mount {"Name": "v1", '
                        '"ID": "x"}' in self.plugin_log(self.path),
                        msg='the call in the log')

    def test_swap_after_mount(self):
        """The attack: after its Mount answer passed the checks, the plugin swaps the
        volume's dir for a symlink to a host dir. The engine was given the pin, which still
        shows the volume's own dir, until the last Unmount."""
        os.makedirs(self.host_dir(self.pid, 'v1'))
        open(self.host_dir(self.pid, 'v1', 'original'), 'w').close()
        secret = os.path.join(self.tmpdir, 'host-secret')
        os.makedirs(secret)
        open(os.path.join(secret, 'secret'), 'w').close()
        pin = self.pin(self.pid, 'v1')
        self.script(self.pid, 'VolumeDriver.Mount', '{"Mountpoint": "/pm/v1", "Err": ""}')
        self.script(self.pid, 'VolumeDriver.Path', '{"Mountpoint": "/pm/v1"}')
        self.script(self.pid, 'VolumeDriver.Capabilities.swap',
                    ('/pm/v1\n%s\n' % secret).encode())
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Mount', {'Name': 'v1', 'ID': 'a'}),
                         (200, {'Mountpoint': pin, 'Err': ''}))
        self.assertEqual(os.listdir(pin), ['original'])
        self.assertIn(' %s ' % pin, self.host_mountinfo())

        # the plugin swaps its dir (it does when asked for its capabilities)
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Capabilities', {})[0], 200)
        self.wait_until(lambda: 'runner-plugin: swapped /pm/v1 for a symlink to %s' % secret
                        in self.plugin_log(self.path), msg='the swap in the log')
        self.assertEqual(os.readlink(self.host_dir(self.pid, 'v1')), secret)
        self.assertEqual(os.listdir(pin), ['original'])
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Path', {'Name': 'v1'}),
                         (200, {'Mountpoint': pin, 'Err': ''}))
        # a second Mount is checked anew, and refused
        status, reply = plugin_call(self.sock, 'VolumeDriver.Mount', {'Name': 'v1', 'ID': 'b'})
        self.assertEqual(status, 502)
        self.assertIn('symlink', reply['Err'])

        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Unmount',
                                     {'Name': 'v1', 'ID': 'a'})[0], 200)
        self.assertFalse(os.path.exists(pin))
        self.assertNotIn(' %s ' % pin, self.host_mountinfo())
        self.assertEqual(os.listdir(secret), ['secret'])

    def test_pins_released_on_disable(self):
        os.makedirs(self.host_dir(self.pid, 'v1'))
        self.script(self.pid, 'VolumeDriver.Mount', '{"Mountpoint": "/pm/v1"}')
        pin = self.pin(self.pid, 'v1')
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Mount', {'Name': 'v1', 'ID': 'a'}),
                         (200, {'Mountpoint': pin, 'Err': ''}))
        self.assertIn(' %s ' % pin, self.host_mountinfo())
        self.disable(self.path)
        self.assertNotIn(' %s ' % pin, self.host_mountinfo())
        self.assertFalse(os.path.exists(os.path.dirname(pin)))

    def test_killed_daemon_leaves_pins_the_next_one_releases(self):
        os.makedirs(self.host_dir(self.pid, 'v1'))
        self.script(self.pid, 'VolumeDriver.Mount', '{"Mountpoint": "/pm/v1"}')
        pin = self.pin(self.pid, 'v1')
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Mount', {'Name': 'v1', 'ID': 'a'}),
                         (200, {'Mountpoint': pin, 'Err': ''}))
        self.daemon.send_signal(signal.SIGKILL)
        self.wait_daemon_death()
        self.assertIn(' %s ' % pin, self.host_mountinfo())
        self.start_daemon()
        self.assertNotIn(' %s ' % pin, self.host_mountinfo())
        self.assertFalse(os.path.exists(pin))

    def test_mountpoints_refused(self):
        os.makedirs(self.host_dir(self.pid, 'v1'))
        os.symlink('/etc', self.host_dir(self.pid, 'evil'))
        cases = [
            ('{"Mountpoint": "/etc"}', "outside the plugin's PropagatedMount"),
            ('{"Mountpoint": "/pm/../etc"}', '".." component'),
            ('{"Mountpoint": "/pm/evil"}', 'symlink'),
            ('{"Mountpoint": "/pm/v1", "MountPoint": "/"}', 'two keys'),
            ('{"Mountpoint": "/pm/missing"}', 'does not exist'),
        ]
        for answer, needle in cases:
            with self.subTest(answer=answer):
                self.script(self.pid, 'VolumeDriver.Mount', answer)
                status, reply = plugin_call(self.sock, 'VolumeDriver.Mount', {'Name': 'v1'})
                self.assertEqual(status, 502)
                self.assertIn('plugind refused the answer of plugin scripted:latest to '
                              '/VolumeDriver.Mount', reply['Err'])
                self.assertIn(needle, reply['Err'])
        self.assertIn('refused its answer to /VolumeDriver.Mount', self.daemon_log())

    def test_huge_and_deep_answers(self):
        self.script(self.pid, 'VolumeDriver.Get',
                    b'HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n' + b' ' * 5000000)
        status, reply = plugin_call(self.sock, 'VolumeDriver.Get', {'Name': 'v'})
        self.assertEqual(status, 502)
        self.assertIn('larger than 4194304 bytes', reply['Err'])
        self.script(self.pid, 'VolumeDriver.Get', '{"Volume": {"Status": %s}}' %
                    ('[' * 10000 + ']' * 10000))
        status, reply = plugin_call(self.sock, 'VolumeDriver.Get', {'Name': 'v'})
        self.assertEqual(status, 502)
        self.assertIn('nested deeper than 128 levels', reply['Err'])
        # the daemon is fine, and so is the socket
        self.script(self.pid, 'VolumeDriver.Get', '{"Volume": null}')
        self.assertEqual(plugin_call(self.sock, 'VolumeDriver.Get', {'Name': 'v'}),
                         (200, {'Volume': None, 'Err': ''}))

    def test_plugin_down_answers_at_once(self):
        # the plugin crashes and cannot start again: the socket stays, and says why
        os.rename(os.path.join(self.plugin_dir(self.pid), 'rootfs', self.plugin_binary),
                  os.path.join(self.plugin_dir(self.pid), 'rootfs', self.plugin_binary + '.gone'))
        os.kill(self.plugin_prop(self.path, 'MainPID'), signal.SIGKILL)
        self.wait_until(lambda: self.plugin_prop(self.path, 'State') != 'running',
                        msg='the crash')
        status, reply = plugin_call(self.sock, 'VolumeDriver.List', {})
        self.assertEqual(status, 503)
        self.assertRegex(reply['Err'], r'^plugind: plugin scripted:latest is not running '
                                       r'\(it is (restarting|starting|failed)\)$')
        # the handshake is still answered, from the plugin's config
        self.assertEqual(plugin_call(self.sock, 'Plugin.Activate'),
                         (200, {'Implements': ['VolumeDriver']}))
        self.assertSocket(self.dockerd_socket('scripted'))
        self.disable(self.path)
        self.assertUnpublished(self.pid)


class HostNamespaceTests(ConsumerTestCase):
    """plugind in a mount namespace of its own, a slave of the host's (as the shipped unit
    runs it), with --host-mount-namespace naming the host's (here the test's)."""

    autostart_daemon = False

    def test_pin_in_host_namespace(self):
        self.daemon_wrapper = ['unshare', '--mount', '--propagation', 'slave', '--']
        self.daemon_args = ['--host-mount-namespace=/proc/%d/ns/mnt' % os.getpid()]
        self.start_daemon()
        path, pid = self.install()
        self.enable(path)
        os.makedirs(self.host_dir(pid, 'v1'))
        open(self.host_dir(pid, 'v1', 'original'), 'w').close()
        self.script(pid, 'VolumeDriver.Mount', '{"Mountpoint": "/pm/v1"}')
        pin = self.pin(pid, 'v1')
        sock = self.consumer_socket(pid)
        self.assertEqual(plugin_call(sock, 'VolumeDriver.Mount', {'Name': 'v1', 'ID': 'a'}),
                         (200, {'Mountpoint': pin, 'Err': ''}))
        # made in the host's namespace, where the engines are
        self.assertIn(' %s ' % pin, self.host_mountinfo())
        self.assertEqual(os.listdir(pin), ['original'])
        self.assertEqual(plugin_call(sock, 'VolumeDriver.Unmount', {'Name': 'v1', 'ID': 'a'})[0],
                         200)
        self.assertNotIn(' %s ' % pin, self.host_mountinfo())
        with open('/proc/%d/mountinfo' % self.daemon.pid) as f:
            self.assertNotIn(' %s ' % pin, f.read())
        self.disable(path)


class SlowPluginTests(ConsumerTestCase):
    autostart_daemon = False

    def setUp(self):
        super().setUp()
        conf = os.path.join(self.tmpdir, 'etc')
        os.makedirs(conf)
        with open(os.path.join(conf, 'plugind.conf'), 'w') as f:
            f.write('[ContainerEngines]\nAnswerTimeout=2\nDockerdPluginDir=%s\n'
                    'PodmanDropIn=%s\n' % (self.dockerd_plugin_dir, self.podman_drop_in))
        self.daemon_env = {'CONFIGURATION_DIRECTORY': conf}
        self.start_daemon()

    def test_never_answers(self):
        path, pid = self.install()
        self.enable(path)
        self.script(pid, 'VolumeDriver.Mount', 'SILENT')
        status, reply = plugin_call(self.consumer_socket(pid), 'VolumeDriver.Mount',
                                    {'Name': 'v1'})
        self.assertEqual((status, reply), (504, {
            'Err': 'plugind: plugin scripted:latest did not answer /VolumeDriver.Mount '
                   'within 2 s'}))
        # a stopped plugin, the same
        main_pid = self.plugin_prop(path, 'MainPID')
        os.kill(main_pid, signal.SIGSTOP)
        try:
            status, reply = plugin_call(self.consumer_socket(pid), 'VolumeDriver.List', {})
        finally:
            os.kill(main_pid, signal.SIGCONT)
        self.assertEqual(status, 504)


if __name__ == '__main__':
    main()
