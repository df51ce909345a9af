#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Running plugins over the bus: Enable, Disable, OpenLog, Hold, restore at daemon start, with
the real example VolumeDriver plugin in real bubblewrap sandboxes."""

import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid

from pd_testcase import (BUILDDIR, BUS_NAME, DBUS_ERR, ERR, EXAMPLE_CONTEXT, PLUGIN_IFACE,
                         TIMEOUT_MULT, Gio, GLib, PlugindTestCase, _convert_error, main,
                         make_context, opts, plugin_call, plugin_config)


def read_all(fd, timeout=10.0):
    """Reads an fd until end of file."""
    out = b''
    deadline = time.monotonic() + timeout * TIMEOUT_MULT
    os.set_blocking(fd, False)
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not chunk:
            return out
        out += chunk
    raise AssertionError('no end of file on the log fd')


def call_returning_fd(test, path, method, args):
    """Calls a Plugin method whose reply is (h); returns the fd (the caller closes it)."""
    try:
        res, fdl = test.conn.call_with_unix_fd_list_sync(
            BUS_NAME, path, PLUGIN_IFACE, method, args, GLib.VariantType('(h)'),
            Gio.DBusCallFlags.NONE, 30000 * TIMEOUT_MULT, None, None)
    except GLib.Error as e:
        raise _convert_error(e) from None
    fds = fdl.steal_fds()
    index = res.unpack()[0]
    for i, fd in enumerate(fds):
        if i != index:
            os.close(fd)
    return fds[index]


class RunTestCase(PlugindTestCase):

    def setUp(self):
        super().setUp()
        with open(EXAMPLE_CONTEXT, 'rb') as f:
            context = f.read()
        self.path, res = self.create_ok('plugind/example', context,
                                        options=opts(grant_all_privileges=True))
        self.pid = res['plugin-id']
        # the example keeps its volumes under a host dir it declares as a mount
        self.data_dir = tempfile.mkdtemp(prefix='example-data-', dir=self.tmpdir)
        self.set_settings(self.path, {'data': self.data_dir, 'DEBUG': '1'})

    def enable(self, options=None, **kw):
        return self.call(self.path, PLUGIN_IFACE, 'Enable',
                         GLib.Variant('(a{sv})', (opts(**(options or {})),)),
                         timeout_ms=60000 * TIMEOUT_MULT, **kw)

    def disable(self, options=None, **kw):
        return self.call(self.path, PLUGIN_IFACE, 'Disable',
                         GLib.Variant('(a{sv})', (opts(**(options or {})),)),
                         timeout_ms=60000 * TIMEOUT_MULT, **kw)

    def call_returning_fd(self, method, args):
        return call_returning_fd(self, self.path, method, args)

    def assertNoPluginProcess(self):
        """No process runs the example binary (a crash-restart or a leak would show here)."""
        left = []
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                exe = os.readlink('/proc/%s/exe' % pid)
            except OSError:
                continue
            if exe.startswith(os.path.join(self.state_dir, 'plugins')):
                left.append((pid, exe))
        self.assertEqual(left, [], 'plugin processes left behind')


class EnableTests(RunTestCase):

    def test_enable_call_disable(self):
        self.enable()
        props = self.get_all(self.path, PLUGIN_IFACE)
        self.assertEqual(props['State'], 'running')
        self.assertTrue(props['Enabled'])
        self.assertEqual(props['Implements'], ['VolumeDriver'])
        self.assertGreater(props['MainPID'], 0)
        self.assertEqual(props['LastErrorName'], '')
        sock = props['Socket']
        self.assertTrue(sock.endswith('/example.sock'), sock)
        # the plugin answers through its socket, and its volumes land in the declared mount
        status, reply = plugin_call(sock, 'VolumeDriver.Create', {'Name': 'vol1', 'Opts': {}})
        self.assertEqual((status, reply.get('Err', '')), (200, ''))
        status, reply = plugin_call(sock, 'VolumeDriver.List')
        self.assertEqual([v['Name'] for v in reply['Volumes']], ['vol1'])
        self.assertTrue(os.path.isdir(os.path.join(self.data_dir, 'volumes', 'vol1')))
        self.assertTrue(self.inspect(self.path)['Enabled'])
        self.wait_signal('PluginEvent', lambda a: a[0] == 'enable' and a[1] == self.pid)

        self.disable()
        props = self.get_all(self.path, PLUGIN_IFACE)
        self.assertEqual(props['State'], 'disabled')
        self.assertFalse(props['Enabled'])
        self.assertEqual(props['MainPID'], 0)
        self.assertEqual(props['Socket'], '')
        self.assertEqual(props['Implements'], [])
        self.wait_signal('PluginEvent', lambda a: a[0] == 'disable' and a[1] == self.pid)
        self.assertNoPluginProcess()
        self.assertFalse(os.path.exists(sock))

    def test_state_errors(self):
        self.assertDBusError(ERR + 'PluginDisabled', self.disable)
        self.enable()
        self.assertDBusError(ERR + 'PluginEnabled', self.enable)
        # a running plugin cannot be changed or removed without force (Docker)
        self.assertDBusError(ERR + 'PluginEnabled', self.set_settings, self.path, {'DEBUG': '0'})
        self.assertDBusError(ERR + 'PluginEnabled', self.remove, self.path)
        self.disable()

    def test_bad_options(self):
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.enable, {'bogus': True})
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.enable,
                             {'activation_timeout': 'soon'})
        # no call may keep a plugin starting or stopping for days
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.enable,
                             {'activation_timeout': 300001})
        self.assertEqual(self.plugin_prop(self.path, 'State'), 'disabled')

    def test_remove_force_stops(self):
        self.enable()
        main_pid = self.plugin_prop(self.path, 'MainPID')
        self.remove(self.path, opts(force=True))
        self.assertEqual(self.list_plugins(), [])
        self.assertFalse(os.path.exists('/proc/%d' % main_pid) and
                         os.readlink('/proc/%d/exe' % main_pid).startswith(self.state_dir))
        self.assertNoPluginProcess()

    def test_remove_deletes_runtime_files(self):
        self.enable()
        self.disable()
        runtime = os.path.join(self.runtime_dir, 'plugins', self.pid)
        log = os.path.join(self.state_dir, 'logs', self.pid + '.log')
        self.assertTrue(os.path.exists(log))
        # every generation goes with it
        with open(log + '.4', 'w'):
            pass
        self.remove(self.path)
        self.assertFalse(os.path.exists(runtime))
        self.assertEqual(os.listdir(os.path.join(self.state_dir, 'logs')), [])

    def test_activation_fails_without_mount_source(self):
        # a bind mount whose host dir does not exist cannot be set up: the plugin never runs
        self.set_settings(self.path, {'data': os.path.join(self.tmpdir, 'missing')})
        self.assertDBusError((ERR + 'SandboxFailed', ERR + 'ActivationFailed'), self.enable)
        props = self.get_all(self.path, PLUGIN_IFACE)
        self.assertEqual(props['State'], 'failed')
        self.assertFalse(props['Enabled'])
        self.assertNotEqual(props['LastErrorName'], '')
        self.assertNotEqual(props['LastErrorMessage'], '')
        self.assertNoPluginProcess()


# the time stamp a log line begins with (docs/plugind.8.rst, FILES)
TIMESTAMP = re.compile(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z ')


def timestamp_seconds(line):
    m = TIMESTAMP.match(line)
    assert m is not None, line
    return datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%f').replace(
        tzinfo=datetime.timezone.utc).timestamp()


def read_log(test, path, **options):
    return test.call(path, PLUGIN_IFACE, 'ReadLog', GLib.Variant('(a{sv})', (opts(**options),)),
                     reply='(s)')[0]


class LogTests(RunTestCase):

    def open_log(self, **options):
        return self.call_returning_fd('OpenLog', GLib.Variant('(a{sv})', (opts(**options),)))

    def read_log(self, **options):
        return read_log(self, self.path, **options)

    def test_logs_outlast_restart_and_reboot(self):
        start = time.time()
        self.enable()
        sock = self.plugin_prop(self.path, 'Socket')
        plugin_call(sock, 'VolumeDriver.Create', {'Name': 'kept', 'Opts': {}})
        self.disable()
        self.stop_daemon()
        # a reboot empties /run
        shutil.rmtree(self.runtime_dir)
        # the log of a plugin whose removal was cut short goes at the start
        logs = os.path.join(self.state_dir, 'logs')
        orphan = os.path.join(logs, 'a' * 64 + '.log')
        for name in (orphan, orphan + '.2'):
            with open(name, 'w') as f:
                f.write('2026-12-07T09:50:17.000000Z F gone\n')
        self.start_daemon()
        self.assertEqual(os.listdir(logs), [self.pid + '.log'])
        self.assertMode(logs, 0o700)
        self.assertMode(os.path.join(logs, self.pid + '.log'), 0o600)
        text = self.read_log(lines=10000, timestamps=True)
        created = [line for line in text.splitlines() if 'POST /VolumeDriver.Create' in line]
        self.assertEqual(len(created), 1, text)
        self.assertGreaterEqual(timestamp_seconds(created[0]), start - 1)
        self.assertLessEqual(timestamp_seconds(created[0]), time.time() + 1)
        # OpenLog: the plugin's bytes as it wrote them, no time stamps unless asked for
        fd = self.open_log(lines=0xffffffff)
        try:
            raw = read_all(fd).decode(errors='replace')
        finally:
            os.close(fd)
        self.assertIn('VolumeDriver.Create', raw)
        self.assertIsNone(TIMESTAMP.search(raw))
        self.assertEqual(raw, self.read_log(lines=10000))
        fd = self.open_log(lines=3, timestamps=True)
        try:
            tail = read_all(fd).decode(errors='replace')
        finally:
            os.close(fd)
        self.assertEqual(tail, '\n'.join(text.splitlines()[-3:]) + '\n')
        # the next run appends; since selects it
        restarted = int(time.time() * 1e6)
        self.enable()
        self.disable()
        later = self.read_log(lines=10000, since=GLib.Variant('t', restarted))
        self.assertNotEqual(later, '')
        self.assertNotIn('VolumeDriver.Create', later)
        self.assertTrue(self.read_log(lines=10000).endswith(later))

    def test_read_log(self):
        self.enable()
        sock = self.plugin_prop(self.path, 'Socket')
        for i in range(3):
            plugin_call(sock, 'VolumeDriver.Get', {'Name': 'v%d' % i})
        self.disable()
        everything = self.read_log(lines=10000)
        self.assertIn('VolumeDriver.Get', everything)
        self.assertEqual(self.read_log(), ''.join(everything.splitlines(True)[-100:]))
        one = self.read_log(lines=1)
        self.assertEqual(one.count('\n'), 1)
        self.assertTrue(everything.endswith(one))
        self.assertEqual(self.read_log(lines=0), '')
        future = int((time.time() + 3600) * 1e6)
        self.assertEqual(self.read_log(since=GLib.Variant('t', future)), '')
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.read_log, lines=10001)
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.read_log, since=5)
        self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.read_log, follow=True)
        # busctl, which cannot receive a file descriptor
        p = subprocess.run(['busctl', '--address=' + self.bus.address, 'call', BUS_NAME,
                            self.path, PLUGIN_IFACE, 'ReadLog', 'a{sv}', '2', 'lines', 'u', '2',
                            'timestamps', 'b', 'true'],
                           capture_output=True, text=True, timeout=30 * TIMEOUT_MULT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith('s "'), p.stdout)
        self.assertIsNotNone(TIMESTAMP.match(p.stdout[3:]), p.stdout)
        self.assertIn(everything.splitlines()[-1], p.stdout)

    def test_open_log(self):
        self.enable()
        sock = self.plugin_prop(self.path, 'Socket')
        plugin_call(sock, 'VolumeDriver.Create', {'Name': 'logged', 'Opts': {}})
        follow = self.open_log(lines=1000, follow=True)
        try:
            os.set_blocking(follow, False)
            plugin_call(sock, 'VolumeDriver.Get', {'Name': 'logged'})
            self.disable()
            text = read_all(follow).decode(errors='replace')
        finally:
            os.close(follow)
        # DEBUG=1 makes the example log every request
        self.assertIn('VolumeDriver.Create', text)
        self.assertIn('VolumeDriver.Get', text)
        tail = self.open_log(lines=1)
        try:
            self.assertLessEqual(read_all(tail).count(b'\n'), 1)
        finally:
            os.close(tail)


class HoldTests(RunTestCase):

    def hold(self, who='test', why='testing'):
        return self.call_returning_fd('Hold', GLib.Variant('(ss)', (who, why)))

    def test_hold_blocks_disable(self):
        self.assertDBusError(ERR + 'PluginDisabled', self.hold)
        self.enable()
        fd = self.hold('volume vol1', 'mounted by a test')
        holders = self.plugin_prop(self.path, 'Holders')
        self.assertEqual([(h[0], h[1]) for h in holders], [('volume vol1', 'mounted by a test')])
        self.assertEqual(holders[0][2], 0)
        # the error names who holds it: escaped as Holders shows it, at most 4, then a count
        hostile = '\x1b[2Jvol\\2'
        more = [self.hold(hostile, 'w%d' % i) for i in range(4)]
        try:
            for call in (self.disable, lambda: self.remove(self.path)):
                e = self.assertDBusError(ERR + 'PluginInUse', call)
                self.assertIn('held by volume vol1 (mounted by a test, uid 0), '
                              '\\x1b[2Jvol\\\\2 (w0, uid 0)', e.message)
                self.assertTrue(e.message.endswith(', and 1 more'), e.message)
                self.assertNotIn('\x1b', e.message)
        finally:
            for other in more:
                os.close(other)
        os.close(fd)
        self.wait_until(lambda: self.plugin_prop(self.path, 'Holders') == [], msg='released')
        self.disable()

    def test_force_disable_drops_holds(self):
        self.enable()
        fd = self.hold()
        try:
            self.disable({'force': True})
            self.assertEqual(self.plugin_prop(self.path, 'Holders'), [])
            # the holder sees its end closed
            self.assertEqual(read_all(fd), b'')
        finally:
            os.close(fd)


def faulty_plugin(test, mode, name, **config):
    """Installs the runner's test plugin (tests/runner-plugin.c) in the given fault mode, under
    a file name of this test's own (test.plugin_binary), so that processes of other tests
    running at the same time are never counted. config: top-level config keys besides."""
    with open(os.path.join(BUILDDIR, 'tests', 'runner-plugin'), 'rb') as f:
        binary = f.read()
    if not hasattr(test, 'plugin_binary'):
        test.plugin_binary = 'runner-plugin-' + uuid.uuid4().hex[:12]
    config = plugin_config(Entrypoint=['/' + test.plugin_binary, mode, 'runner.sock'],
                           Interface={'Types': ['docker.volumedriver/1.0'],
                                      'Socket': 'runner.sock'}, **config)
    path, _ = test.create_ok(name, make_context(
        config, files={test.plugin_binary: (binary, 0o755)}),
        options=opts(grant_all_privileges=True))
    return path


def runner_plugin_processes(test):
    """The test plugin's processes, and any bwrap that was to start one: a sandbox left waiting
    in bwrap's set-up counts as left behind too."""
    out = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                if os.path.basename(os.readlink('/proc/%s/exe' % pid)) == test.plugin_binary:
                    out.append(pid)
                    continue
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    if ('/' + test.plugin_binary).encode() in f.read().split(b'\0'):
                        out.append(pid)
            except OSError:
                pass
    return out


class RunnerPluginTestCase(PlugindTestCase):

    def enable(self, path, **options):
        return self.call(path, PLUGIN_IFACE, 'Enable', GLib.Variant('(a{sv})', (opts(**options),)),
                         timeout_ms=60000 * TIMEOUT_MULT)

    def disable(self, path, **options):
        return self.call(path, PLUGIN_IFACE, 'Disable',
                         GLib.Variant('(a{sv})', (opts(**options),)),
                         timeout_ms=60000 * TIMEOUT_MULT)

    def plugin_log(self, path):
        """What the plugin wrote, from the daemon's log file of it."""
        name = os.path.basename(path) + '.log'
        with open(os.path.join(self.state_dir, 'logs', name), encoding='utf-8',
                  errors='replace') as f:
            return f.read()


class SandboxTests(RunnerPluginTestCase):
    """What a plugin can reach, seen from inside and from the host."""

    def test_proc_sys_is_read_only(self):
        # a uid-0 plugin that could write kernel.core_pattern would be root on the host
        path = faulty_plugin(self, 'status', 'test/status')
        self.enable(path)
        self.assertIn('runner-plugin: core_pattern open for writing: Read-only file system',
                      self.plugin_log(path))
        self.disable(path)

    def test_config_user(self):
        # Config.User, seen from the host: uid and gid switched, no supplementary groups, none
        # of Docker's default capabilities; its socket dir is its own, so it activates
        path = faulty_plugin(self, 'status', 'test/user', User={'UID': 1000, 'GID': 1000})
        self.enable(path)
        pid = self.plugin_prop(path, 'MainPID')
        with open('/proc/%d/status' % pid) as f:
            status = dict(line.rstrip('\n').split(':\t', 1) for line in f if ':\t' in line)
        self.assertEqual(status['Uid'].split(), ['1000'] * 4)
        self.assertEqual(status['Gid'].split(), ['1000'] * 4)
        self.assertEqual(status.get('Groups', '').split(), [])
        self.assertEqual(int(status['CapEff'], 16), 0)
        self.assertEqual(int(status['CapPrm'], 16), 0)
        self.assertEqual(self.plugin_prop(path, 'State'), 'running')
        self.disable(path)

    def test_docker_default_capabilities(self):
        # the example VolumeDriver makes its volumes in a dir owned by uid 1000, as a plugin
        # made for Docker may: root needs Docker's CAP_DAC_OVERRIDE for that
        with open(EXAMPLE_CONTEXT, 'rb') as f:
            path, _ = self.create_ok('plugind/example', f.read(),
                                     options=opts(grant_all_privileges=True))
        data_dir = tempfile.mkdtemp(prefix='example-data-', dir=self.tmpdir)
        os.chown(data_dir, 1000, 1000)
        os.chmod(data_dir, 0o700)
        self.set_settings(path, {'data': data_dir})
        self.enable(path)
        status, reply = plugin_call(self.plugin_prop(path, 'Socket'), 'VolumeDriver.Create',
                                    {'Name': 'vol1', 'Opts': {}})
        self.assertEqual((status, reply.get('Err', '')), (200, ''))
        self.assertTrue(os.path.isdir(os.path.join(data_dir, 'volumes', 'vol1')))
        self.disable(path)
        shutil.rmtree(os.path.join(data_dir, 'volumes'))

        # configured to give plugins only what they ask for, the same plugin cannot
        config_dir = os.path.join(self.tmpdir, 'etc')
        os.makedirs(config_dir, exist_ok=True)
        with open(os.path.join(config_dir, 'plugind.conf'), 'w') as f:
            f.write('[Sandbox]\nCapabilities=requested\n')
        self.restart_daemon(env={'CONFIGURATION_DIRECTORY': config_dir})
        self.enable(path)
        status, reply = plugin_call(self.plugin_prop(path, 'Socket'), 'VolumeDriver.Create',
                                    {'Name': 'vol1', 'Opts': {}})
        # the volume protocol answers errors in Err
        self.assertIn('Permission denied', reply.get('Err', ''))
        self.assertEqual(os.listdir(data_dir), [])
        self.disable(path)

    def test_nested_mount_destinations_refused(self):
        # a mount under the PropagatedMount would be created, at each start, in the host dir
        # behind it, through any symlink the plugin planted there
        config = plugin_config(PropagatedMount='/data', Mounts=[
            {'Name': 'sub', 'Source': self.tmpdir, 'Destination': '/data/sub', 'Type': 'bind',
             'Options': ['rbind'], 'Settable': [], 'Description': ''}])
        err, _ = self.create_expect_error(ERR + 'InvalidConfig', 'test/nested',
                                          make_context(config),
                                          options=opts(grant_all_privileges=True))
        self.assertIn('cannot be nested', err.message)


class FaultTests(RunnerPluginTestCase):
    """Plugin faults over the bus: each ends as specified, no process is left, and the daemon
    keeps answering."""

    def assertAnswering(self):
        started = time.monotonic()
        self.list_plugins()
        self.assertLess(time.monotonic() - started, 1.0 * TIMEOUT_MULT)

    def assertFailedActivation(self, mode, needle, **options):
        path = faulty_plugin(self, mode, 'test/' + mode)
        err = self.assertDBusError((ERR + 'ActivationFailed', ERR + 'ActivationTimeout'),
                                   self.enable, path, **options)
        self.assertIn(needle, err.message)
        props = self.get_all(path, PLUGIN_IFACE)
        self.assertEqual(props['State'], 'failed')
        self.assertFalse(props['Enabled'])
        self.assertEqual(props['MainPID'], 0)
        self.assertNotEqual(props['LastErrorMessage'], '')
        self.assertEqual(runner_plugin_processes(self), [])
        self.assertAnswering()
        return err

    def test_exits_at_once(self):
        # what the plugin printed is in its log; the error only says where to look
        err = self.assertFailedActivation('exit', "before it was ready; see the plugin's log")
        self.assertNotIn('exiting at once', err.message)

    def test_never_makes_its_socket(self):
        self.assertFailedActivation('nosocket', 'did not create its socket',
                                    activation_timeout=500)

    def test_symlink_instead_of_socket(self):
        self.assertFailedActivation('symlink', 'is not a socket')

    def test_garbage_answer(self):
        self.assertFailedActivation('garbage', 'Plugin.Activate')

    def test_deeply_nested_answer(self):
        # 100,000 nested '[': a recursive JSON parser on the daemon's stack would overflow it
        self.assertFailedActivation('deepjson', 'Plugin.Activate')
        self.assertIsNone(self.daemon.poll(), 'plugind died')

    def test_deeply_nested_answer_at_restore(self):
        # answers well once, so it is enabled; then attacks at every daemon start
        path = faulty_plugin(self, 'deeplater', 'test/deeplater')
        self.enable(path)
        self.assertEqual(self.plugin_prop(path, 'State'), 'running')
        self.restart_daemon()
        self.wait_until(lambda: self.plugin_prop(path, 'State') == 'failed', timeout=30,
                        msg='the restored plugin to fail its activation')
        self.assertEqual(self.plugin_prop(path, 'LastErrorName'), ERR + 'ActivationFailed')
        self.assertIn('Plugin.Activate', self.plugin_prop(path, 'LastErrorMessage'))
        self.assertAnswering()
        self.assertIsNone(self.daemon.poll(), 'plugind died')
        self.disable(path, force=True)
        self.assertEqual(runner_plugin_processes(self), [])

    def test_ignores_sigterm(self):
        path = faulty_plugin(self, 'ignoreterm', 'test/stubborn')
        self.enable(path)
        started = time.monotonic()
        self.disable(path, stop_timeout=500)
        self.assertLess(time.monotonic() - started, 5 * TIMEOUT_MULT)
        self.assertEqual(self.plugin_prop(path, 'State'), 'disabled')
        self.assertEqual(runner_plugin_processes(self), [])

    def test_daemonized_child_goes_too(self):
        path = faulty_plugin(self, 'daemonize', 'test/forks')
        self.enable(path)
        self.assertGreaterEqual(len(runner_plugin_processes(self)), 2)
        self.disable(path)
        self.assertEqual(runner_plugin_processes(self), [])

    def test_flood(self):
        path = faulty_plugin(self, 'flood', 'test/flood')
        self.enable(path)
        time.sleep(1)
        self.assertAnswering()
        # the rotation bound: at most 5 files of at most 1 MiB (docs/plugind.8.rst, FILES)
        logs = os.path.join(self.state_dir, 'logs')
        self.wait_until(lambda: os.path.exists(os.path.join(logs, path.rsplit('/', 1)[1] +
                                                            '.log.4')), 20, 'four rotations')
        names = os.listdir(logs)
        self.assertLessEqual(len(names), 5, names)
        for name in names:
            try:
                size = os.path.getsize(os.path.join(logs, name))
            except FileNotFoundError:
                continue  # rotated away between the listing and the stat
            self.assertLessEqual(size, 1024 * 1024)
        self.disable(path)
        self.assertEqual(runner_plugin_processes(self), [])

    def test_hostile_output(self):
        # bytes that are not UTF-8, a line of 2 MiB (longer than a log file), one left open
        path = faulty_plugin(self, 'binary', 'test/binary')
        self.enable(path)
        self.assertAnswering()
        self.disable(path)
        self.assertEqual(runner_plugin_processes(self), [])
        fd = call_returning_fd(self, path, 'OpenLog',
                               GLib.Variant('(a{sv})', (opts(lines=0xffffffff),)))
        try:
            raw = read_all(fd)
        finally:
            os.close(fd)
        self.assertIn(b'z' * (2 * 1024 * 1024) + b'\nbin\x00\xff\x1b[31mred\nno newline', raw)
        # ReadLog: valid UTF-8 with U+FFFD for what is not, at most 1 MiB
        text = read_log(self, path, lines=10000)
        self.assertLessEqual(len(text.encode()), 1024 * 1024)
        self.assertTrue(text.startswith('bin\ufffd\ufffd\x1b[31mred\nno newline'), text[:100])
        last = read_log(self, path, lines=2)
        self.assertEqual(last.count('\n'), 2)
        self.assertTrue(text.endswith(last))

    def test_crash_is_restarted(self):
        path = faulty_plugin(self, 'crashloop', 'test/crashes')
        self.enable(path)
        # it exits after its first request, the activation: restarted after 1 s
        self.wait_signal('PluginEvent', lambda a: a[0] == 'crash' and a[3] == path,
                         timeout=20)
        self.wait_signal('PluginEvent', lambda a: a[0] == 'restart' and a[3] == path,
                         timeout=20)
        self.assertGreaterEqual(self.plugin_prop(path, 'RestartCount'), 1)
        self.assertTrue(self.plugin_prop(path, 'Enabled'))
        self.assertAnswering()
        self.disable(path)
        # diagnostics if a process stays: which one, and in which state
        left = runner_plugin_processes(self)
        for pid in left:
            try:
                with open('/proc/%s/status' % pid) as f:
                    print('left behind:', pid, f.read()[:400])
            except OSError:
                pass
        self.assertEqual(left, [])


class StartingTests(PlugindTestCase):
    """A plugin that never makes its socket stays starting until its activation timeout."""

    def test_daemon_stop_ends_a_start(self):
        path = faulty_plugin(self, 'nosocket', 'test/slow')
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        caller = subprocess.Popen(
            ['gdbus', 'call', '--system', '--dest', BUS_NAME, '--object-path', path,
             '--method', PLUGIN_IFACE + '.Enable', "{'activation-timeout': <uint32 120000>}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.wait_until(lambda: self.plugin_prop(path, 'State') == 'starting',
                            msg='starting')
            # the daemon stops at once: the start is ended, the plugin process is gone
            started = time.monotonic()
            self.stop_daemon()
            self.assertLess(time.monotonic() - started, 10 * TIMEOUT_MULT)
            _, err = caller.communicate(timeout=30)
            self.assertNotEqual(caller.returncode, 0)
            self.assertIn(b'plugind is stopping', err)
        finally:
            if caller.poll() is None:
                caller.kill()
                caller.wait()
        # a plugin whose pid bwrap had not reported yet dies by bwrap's --die-with-parent
        # signal, which the kernel may deliver a moment after the daemon is gone
        self.wait_until(lambda: runner_plugin_processes(self) == [], timeout=10,
                        msg='the plugin process to be gone')
        self.start_daemon()
        self.assertEqual(self.plugin_prop(path, 'State'), 'disabled')
        self.assertFalse(self.plugin_prop(path, 'Enabled'))


class RestoreTests(RunTestCase):

    def test_enabled_plugin_starts_with_the_daemon(self):
        self.enable()
        first_pid = self.plugin_prop(self.path, 'MainPID')
        self.restart_daemon()
        self.wait_until(lambda: self.plugin_prop(self.path, 'State') == 'running',
                        timeout=30, msg='restored')
        self.assertTrue(self.plugin_prop(self.path, 'Enabled'))
        self.assertNotEqual(self.plugin_prop(self.path, 'MainPID'), first_pid)
        self.disable()

    def test_daemon_stop_stops_plugins(self):
        self.enable()
        self.stop_daemon()
        self.assertNoPluginProcess()
        self.start_daemon()
        self.wait_until(lambda: self.plugin_prop(self.path, 'State') == 'running',
                        timeout=30, msg='restored')
        self.disable()


if __name__ == '__main__':
    main()
