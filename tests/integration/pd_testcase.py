# SPDX-License-Identifier: LGPL-2.1-or-later
"""Base class for plugind's integration tests, against real components.

Per test class: a private dbus-daemon configured like the system bus with the project's own
policy file (data/org.plugind.Plugind1.conf) and polkit's, and the real polkitd on it, reading
the project's merged polkit policy: polkitd reads actions only from /usr/share/polkit-1/actions,
so it runs in a mount namespace of its own where a copy of that dir with this build's policy is
mounted over it; nothing machine-wide changes.

Per test: the built daemon with temp STATE_DIRECTORY/RUNTIME_DIRECTORY, stopped with SIGTERM in
tearDown (it must exit 0), after the invariants were checked (docs/design.md, section Tests).
The daemon log is printed only when the test fails.

Environment:
  PLUGIND_BUILDDIR / PLUGIND_SRCDIR   set by meson; default: ../../build-it and ../..
  VALGRIND=1                          run the daemon under valgrind (timeouts x10)
  PLUGIND_TEST_KEEP=1                 keep the temp dirs

Always run with /usr/bin/python3 (it has python3-gi).
"""

import contextlib
import hashlib
import io
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest

import gi

gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

import memory_reports  # noqa: E402

BUS_NAME = 'org.plugind.Plugind1'
ROOT_PATH = '/org/plugind/Plugind1'
MANAGER_PATH = ROOT_PATH + '/Manager'
MANAGER_IFACE = 'org.plugind.Plugind1.Manager'
PLUGIN_IFACE = 'org.plugind.Plugind1.Plugin'
JOB_IFACE = 'org.plugind.Plugind1.Job'
PROPS_IFACE = 'org.freedesktop.DBus.Properties'
OM_IFACE = 'org.freedesktop.DBus.ObjectManager'
ERR = 'org.plugind.Plugind1.Error.'
DBUS_ERR = 'org.freedesktop.DBus.Error.'
DENIED = (DBUS_ERR + 'AccessDenied', DBUS_ERR + 'InteractiveAuthorizationRequired')

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get('PLUGIND_SRCDIR') or os.path.normpath(os.path.join(HERE, '..', '..'))
BUILDDIR = os.environ.get('PLUGIND_BUILDDIR') or os.path.join(SRCDIR, 'build-it')
VALGRIND = os.environ.get('VALGRIND', '') not in ('', '0')
TIMEOUT_MULT = 10 if VALGRIND else 1
POLKIT_ACTION_DIR = '/usr/share/polkit-1/actions'
POLICY_NAME = 'org.plugind.plugind1.policy'
HEX64 = re.compile(r'^[0-9a-f]{64}$')

# a plain, unprivileged config in Docker's documented spelling
DEFAULT_CONFIG = {
    'Description': 'A test plugin',
    'Documentation': 'https://example.com/plugind-test',
    'Entrypoint': ['/bin/hello'],
    'WorkDir': '/',
    'Interface': {'Types': ['docker.volumedriver/1.0'], 'Socket': 'test.sock'},
    'Network': {'Type': ''},
    'Env': [
        {'Name': 'DEBUG', 'Description': 'debug level', 'Settable': ['value'], 'Value': '0'},
    ],
    'Args': {'Name': 'args', 'Description': 'extra arguments', 'Settable': ['value'],
             'Value': ['--foo']},
    'Mounts': [],
    'Linux': {'Capabilities': [], 'AllowAllDevices': False, 'Devices': []},
    'PropagatedMount': '',
    'IpcHost': False,
    'PidHost': False,
}

DEFAULT_FILES = {
    'bin/hello': (b'#!/bin/sh\necho hello\n', 0o755),
    'etc/motd': (b'plugind test rootfs\n', 0o644),
}


def plugin_config(**overrides):
    """DEFAULT_CONFIG (deep-copied) with top-level keys replaced."""
    cfg = json.loads(json.dumps(DEFAULT_CONFIG))
    cfg.update(json.loads(json.dumps(overrides)))
    return cfg


# a config asking for privileges that pluginctl prompts for
PRIV_CONFIG = plugin_config(
    Network={'Type': 'host'},
    Linux={'Capabilities': ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'], 'AllowAllDevices': False,
           'Devices': []},
)

# the built CLI and the example plugin's context (example/meson.build)
PLUGINCTL = os.path.join(BUILDDIR, 'src', 'cli', 'pluginctl')
EXAMPLE_CONTEXT = os.path.join(BUILDDIR, 'example', 'plugind-example-context.tar.gz')

# pluginctl's exit statuses, as its --help documents them
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_AUTHORIZED = 3
EXIT_NO_SUCH_PLUGIN = 4


def make_context(config=None, files=None, compression='', config_bytes=None, omit_config=False,
                 omit_rootfs=False, extra=None):
    """A Docker plugin create context: a tar with config.json and rootfs/.

    files maps a path under rootfs/ to (bytes, mode); extra is a list of (TarInfo, bytes or
    None) appended as they are (for hostile entries). compression: '', 'gz', 'xz', 'bz2'.
    """
    if config is None:
        config = DEFAULT_CONFIG
    if files is None:
        files = DEFAULT_FILES
    buf = io.BytesIO()
    mode = 'w:' + compression if compression else 'w'
    mtime = 1700000000
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        def add(name, data=None, mode=0o644, kind=tarfile.REGTYPE):
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.mode = mode
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)

        if not omit_config:
            data = config_bytes if config_bytes is not None else json.dumps(config).encode()
            add('config.json', data, 0o644)
        if not omit_rootfs:
            add('rootfs', mode=0o755, kind=tarfile.DIRTYPE)
            dirs = set()
            for path in sorted(files):
                parts = path.split('/')[:-1]
                for i in range(1, len(parts) + 1):
                    d = '/'.join(parts[:i])
                    if d not in dirs:
                        dirs.add(d)
                        add('rootfs/' + d, mode=0o755, kind=tarfile.DIRTYPE)
                data, fmode = files[path]
                add('rootfs/' + path, data, fmode)
        for info, data in (extra or []):
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def privileges_variant(privs):
    return [(p[0], p[1], list(p[2])) for p in privs]


def settings_pairs(settings):
    """Set's a(ss) from a dict (its order) or a list of (key, value) pairs (duplicates kept)."""
    return list(settings.items()) if isinstance(settings, dict) else list(settings)


def opts(**kw):
    """a{sv} from Python values: bool → b, str → s, int → u, dict or list of pairs → a(ss)."""
    out = {}
    for k, v in kw.items():
        k = k.replace('_', '-')
        if isinstance(v, GLib.Variant):
            out[k] = v
        elif isinstance(v, bool):
            out[k] = GLib.Variant('b', v)
        elif isinstance(v, int):
            out[k] = GLib.Variant('u', v)
        elif isinstance(v, str):
            out[k] = GLib.Variant('s', v)
        elif isinstance(v, (dict, list)):
            out[k] = GLib.Variant('a(ss)', settings_pairs(v))
        else:
            raise TypeError(k)
    return out


class PluginHTTPConnection(http.client.HTTPConnection):
    """HTTP on a plugin's socket, as Docker talks to it. The host path may pass sun_path's 108
    bytes, so it connects through /proc/self/fd/<dirfd>/<name>."""

    def __init__(self, path, timeout=10):
        super().__init__('plugin.moby.localhost', timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        dirfd = os.open(os.path.dirname(self.unix_path), os.O_PATH | os.O_DIRECTORY)
        try:
            self.sock.connect('/proc/self/fd/%d/%s' % (dirfd, os.path.basename(self.unix_path)))
        finally:
            os.close(dirfd)


def plugin_call(sock_path, method, body=None):
    """POST /<method> with a JSON body to a plugin; returns (status, decoded reply)."""
    conn = PluginHTTPConnection(sock_path)
    try:
        data = json.dumps(body).encode() if body is not None else b''
        conn.request('POST', '/' + method, body=data,
                     headers={'Accept': 'application/vnd.docker.plugins.v1.2+json'})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read().decode() or 'null')
    finally:
        conn.close()


class DBusError(Exception):
    """A D-Bus error reply, with the remote error name."""

    def __init__(self, name, message):
        super().__init__('%s: %s' % (name, message))
        self.name = name
        self.message = message


def _convert_error(e):
    name = Gio.DBusError.get_remote_error(e)
    if name:
        # strip_remote_error() would work on a copy: strip the prefix here
        message = e.message
        prefix = 'GDBus.Error:%s: ' % name
        if message.startswith(prefix):
            message = message[len(prefix):]
        return DBusError(name, message)
    return DBusError('(local) %s:%d' % (GLib.quark_to_string(e.domain) if isinstance(e.domain, int)
                                        else e.domain, e.code), e.message)


def stop_process(p, timeout=10):
    """SIGTERM to a child, SIGKILL after timeout seconds; waits for it either way."""
    if p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class _Bus:
    """A private system-style dbus-daemon plus the real polkitd on it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='plugind-bus-')
        self.dbus = None
        self.polkitd = None
        self.polkit_log = os.path.join(self.dir, 'polkitd.log')
        try:
            self._start_bus()
        except BaseException:
            # nothing of a bus that did not start stays behind (setUpClass never got it)
            self.stop()
            raise

    def _start_bus(self):
        os.chmod(self.dir, 0o755)  # nobody must reach the socket
        sysd = os.path.join(self.dir, 'system.d')
        os.mkdir(sysd)
        os.chmod(sysd, 0o755)
        conf_src = os.path.join(SRCDIR, 'data', 'org.plugind.Plugind1.conf')
        if not os.path.isfile(conf_src):
            raise RuntimeError('the bus policy %s is missing' % conf_src)
        shutil.copy(conf_src, sysd)
        shutil.copy('/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf', sysd)
        self.socket = os.path.join(self.dir, 'system_bus_socket')
        conf = os.path.join(self.dir, 'bus.conf')
        # the same private system bus as the README commands (scripts/plugind-env.sh)
        subprocess.run(['bash', '-c', '. "$1" && _pd_write_bus_config "$2" "$3" "$4"', 'bash',
                        os.path.join(SRCDIR, 'scripts', 'plugind-env.sh'), conf, self.socket,
                        sysd], env=dict(os.environ, PD_RUN_DIR=self.dir, PD_QUIET='1'),
                       check=True)
        self.dbus_log = os.path.join(self.dir, 'dbus-daemon.log')
        with open(self.dbus_log, 'ab') as log:
            self.dbus = subprocess.Popen(
                ['dbus-daemon', '--config-file=' + conf, '--nofork', '--nopidfile',
                 '--nosyslog', '--print-address=1'],
                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, stderr=log)
        self.address = self.dbus.stdout.readline().decode().strip()
        if not self.address:
            raise RuntimeError('dbus-daemon did not start')

    def start_polkitd(self):
        # polkitd reads actions only from POLKIT_ACTION_DIR: it sees the machine's actions
        # (other checkouts' copies of ours and files half-written by others skipped) plus this
        # build's, mounted over that dir in a mount namespace of polkitd's own (gone with it)
        policy = merged_policy_path()
        if not os.path.isfile(policy):
            raise RuntimeError('the merged polkit policy %s is not built' % policy)
        actions = os.path.join(self.dir, 'actions')
        os.mkdir(actions)
        for name in os.listdir(POLKIT_ACTION_DIR):
            if name.endswith('.policy') and name != POLICY_NAME:
                try:
                    shutil.copy(os.path.join(POLKIT_ACTION_DIR, name), actions)
                except FileNotFoundError:
                    pass
        shutil.copy(policy, os.path.join(actions, POLICY_NAME))
        os.chmod(actions, 0o755)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        # started as root, polkitd switches to its own user "polkitd", which polkit's bus
        # policy lets own org.freedesktop.PolicyKit1
        with open(self.polkit_log, 'ab') as log:
            self.polkitd = subprocess.Popen(
                ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
                 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', actions,
                 POLKIT_ACTION_DIR, '/usr/lib/polkit-1/polkitd', '--no-debug'], env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self._wait_polkit()

    def start_polkit_mock(self):
        """python-dbusmock's polkitd template in place of polkitd: it grants the actions a
        test names (SetAllowed) to every caller, ignores details, and logs every check."""
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address, PYTHONDONTWRITEBYTECODE='1')
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        # as the user polkit's bus policy lets own org.freedesktop.PolicyKit1
        with open(self.polkit_log, 'ab') as log:
            self.polkitd = subprocess.Popen(
                ['setpriv', '--reuid=polkitd', '--regid=polkitd', '--clear-groups',
                 '/usr/bin/python3', '-m', 'dbusmock', '--system', '--template', 'polkitd'],
                env=env, cwd='/', stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self._wait_polkit()

    def _wait_polkit(self):
        conn = self.connect()
        deadline = time.monotonic() + 20 * TIMEOUT_MULT
        while True:
            has = conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                 'org.freedesktop.DBus', 'NameHasOwner',
                                 GLib.Variant('(s)', ('org.freedesktop.PolicyKit1',)),
                                 GLib.VariantType('(b)'), 0, -1, None).unpack()[0]
            if has:
                break
            if self.polkitd.poll() is not None or time.monotonic() > deadline:
                with open(self.polkit_log) as f:
                    sys.stderr.write(f.read())
                raise RuntimeError('polkitd did not come up')
            time.sleep(0.02)
        conn.close_sync(None)

    def connect(self):
        return Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)

    def stop(self):
        for p in (self.polkitd, self.dbus):
            if p is not None:
                stop_process(p)
        if self.dbus is not None and self.dbus.stdout:
            self.dbus.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def merged_policy_path():
    return os.path.join(BUILDDIR, 'data', POLICY_NAME)


class PlugindTestCase(unittest.TestCase):
    """One private bus + polkitd per class, one fresh daemon per test."""

    # per-test knobs, set by subclasses or in the test before start_daemon()
    job_linger_ms = None
    autostart_daemon = True
    # python-dbusmock's polkitd template instead of the real polkitd, for the whole class
    polkit_mock = False

    @classmethod
    def setUpClass(cls):
        cls.daemon_path = os.path.join(BUILDDIR, 'src', 'daemon', 'plugind')
        cls.extract_helper = os.path.join(BUILDDIR, 'src', 'helpers', 'plugind-extract')
        cls.transfer_helper = os.path.join(BUILDDIR, 'src', 'helpers', 'plugind-transfer')
        cls.sandbox_init = os.path.join(BUILDDIR, 'src', 'helpers', 'plugind-sandbox-init')
        for p in (cls.daemon_path, cls.extract_helper, cls.transfer_helper, cls.sandbox_init):
            if not os.access(p, os.X_OK):
                raise RuntimeError('%s is not built' % p)
        if os.geteuid() != 0:
            raise RuntimeError('the integration tests run as root (polkitd, setpriv, state dirs)')
        cls.bus = _Bus()
        try:
            if cls.polkit_mock:
                cls.bus.start_polkit_mock()
            else:
                cls.bus.start_polkitd()
        except Exception:
            cls.bus.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.bus.stop()

    # -- per test -----------------------------------------------------------------------

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > before:
                self.dump_logs()
            if getattr(self, 'tmpdir', None) and not os.environ.get('PLUGIND_TEST_KEEP'):
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp(prefix='plugind-test-')
        self.state_dir = os.path.join(self.tmpdir, 'state')
        self.runtime_dir = os.path.join(self.tmpdir, 'runtime')
        self.log_path = os.path.join(self.tmpdir, 'plugind.log')
        # the first cleanup runs last: after every daemon, registry and engine has stopped
        self.addCleanup(self.check_no_memory_reports)
        self.daemon = None
        self.daemon_env = {}
        # a command the daemon runs under (e.g. unshare) and options after --verbose
        self.daemon_wrapper = []
        self.daemon_args = []
        self.daemon_starts = 0
        self.conn = self.bus.connect()
        self.signals = []      # (path, interface, member, unpacked params), dispatch order
        self.wire = []         # incoming messages in wire order: (type, member, path, reply_serial, body)
        self._wire_lock = threading.Lock()
        self._sub = self.conn.signal_subscribe(None, None, None, None, None,
                                               Gio.DBusSignalFlags.NONE, self._on_signal)
        self._filter = self.conn.add_filter(self._on_message)
        self.addCleanup(self._cleanup_conn)
        if self.polkit_mock:
            self.polkit_allow()
            self.polkit_clear()
        if self.autostart_daemon:
            self.start_daemon()

    def _cleanup_conn(self):
        self.conn.remove_filter(self._filter)
        self.conn.signal_unsubscribe(self._sub)
        try:
            self.conn.close_sync(None)
        except GLib.Error:
            pass

    def tearDown(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.wait_all_jobs()
            self.check_invariants()
            self.stop_daemon()
        elif self.daemon is not None:
            rc = self.daemon.returncode
            self.daemon = None
            self.fail('plugind died during the test (exit status %d)' % rc)

    def check_no_memory_reports(self):
        """Fails the test when the daemon's log (every plugind the test started, the set-up
        processes they forked, the helpers they ran) holds a sanitizer or valgrind report. A
        daemon's exit status tells of its own; a forked child's report would go unread."""
        if not os.path.exists(self.log_path):
            return
        with open(self.log_path, errors='replace') as f:
            reports = memory_reports.find(f.read())
        if reports:
            self.fail('memory reports in the daemon log (see the plugind log below): %r' %
                      reports[:5])

    def dump_logs(self):
        for title, path in (('plugind log', getattr(self, 'log_path', None)),
                            ('polkitd log', self.bus.polkit_log)):
            if path and os.path.exists(path):
                with open(path, errors='replace') as f:
                    text = f.read()
                if text:
                    sys.stderr.write('\n----- %s (%s) -----\n%s----- end -----\n' %
                                     (title, path, text))

    # -- message plumbing ---------------------------------------------------------------

    def _on_signal(self, conn, sender, path, iface, member, params):
        self.signals.append((path, iface, member, params.unpack()))

    def _on_message(self, conn, message, incoming):
        if incoming:
            body = message.get_body()
            with self._wire_lock:
                self.wire.append((message.get_message_type(), message.get_member(),
                                  message.get_path(), message.get_reply_serial(),
                                  body.unpack() if body is not None else None))
        return message

    def iterate(self, timeout=0.0):
        """Dispatches pending main-context events; waits up to timeout for the first."""
        ctx = GLib.MainContext.default()
        if timeout > 0:
            fired = []
            src = GLib.timeout_source_new(int(timeout * 1000))
            src.set_callback(lambda *a: fired.append(1) or False)
            src.attach(ctx)
            ctx.iteration(True)
            if not fired:
                src.destroy()
        while ctx.pending():
            ctx.iteration(False)

    def wait_until(self, cond, timeout=20.0, msg='condition'):
        deadline = time.monotonic() + timeout * TIMEOUT_MULT
        self.iterate()
        while not cond():
            if time.monotonic() > deadline:
                self.fail('timed out waiting for %s' % msg)
            if self.daemon is not None and self.daemon.poll() is not None and \
                    not getattr(self, '_expect_death', False):
                self.fail('plugind died (status %d) while waiting for %s' %
                          (self.daemon.returncode, msg))
            self.iterate(0.05)

    def signals_named(self, member, path=None):
        self.iterate()
        return [s for s in self.signals if s[2] == member and (path is None or s[0] == path)]

    def wait_signal(self, member, pred=lambda args: True, path=None, timeout=20.0):
        def find():
            for s in self.signals:
                if s[2] == member and (path is None or s[0] == path) and pred(s[3]):
                    return s
            return None
        self.wait_until(lambda: find() is not None, timeout, 'signal %s' % member)
        return find()

    def wire_summary(self):
        """The incoming messages so far, compactly, for assertion messages."""
        names = {Gio.DBusMessageType.SIGNAL: 'signal', Gio.DBusMessageType.METHOD_RETURN: 'return',
                 Gio.DBusMessageType.ERROR: 'error'}
        with self._wire_lock:
            return ', '.join('%d:%s %s%s' % (i, names.get(m[0], '?'), m[1] or '',
                                              '' if m[3] is None or m[1] else '#%d' % m[3])
                             for i, m in enumerate(self.wire))

    def wire_index(self, pred):
        with self._wire_lock:
            for i, m in enumerate(self.wire):
                if pred(m):
                    return i
        return -1

    # -- calls ----------------------------------------------------------------------------

    def call(self, path, iface, method, args=None, reply=None, timeout_ms=None, fd=None,
             flags=Gio.DBusCallFlags.NONE, conn=None):
        conn = conn or self.conn
        if timeout_ms is None:
            timeout_ms = 30000 * TIMEOUT_MULT
        rtype = GLib.VariantType(reply) if reply else None
        try:
            if fd is not None:
                fdl = Gio.UnixFDList.new()
                fdl.append(fd)
                res, _ = conn.call_with_unix_fd_list_sync(BUS_NAME, path, iface, method, args,
                                                          rtype, flags, timeout_ms, fdl, None)
            else:
                res = conn.call_sync(BUS_NAME, path, iface, method, args, rtype, flags,
                                     timeout_ms, None)
        except GLib.Error as e:
            raise _convert_error(e) from None
        self.last_serial = conn.get_last_serial()
        return res.unpack() if res is not None else None

    def assertDBusError(self, names, func, *args, **kwargs):
        """Calls func and asserts a DBusError named names (a str or a tuple); returns it."""
        if isinstance(names, str):
            names = (names,)
        try:
            func(*args, **kwargs)
        except DBusError as e:
            self.assertIn(e.name, names, 'wrong error: %s' % e)
            return e
        self.fail('expected %s, the call succeeded' % ' or '.join(names))

    def manager(self, method, args=None, reply=None, **kw):
        return self.call(MANAGER_PATH, MANAGER_IFACE, method, args, reply, **kw)

    def get_prop(self, path, iface, name):
        return self.call(path, PROPS_IFACE, 'Get', GLib.Variant('(ss)', (iface, name)),
                         '(v)')[0]

    def get_all(self, path, iface):
        return self.call(path, PROPS_IFACE, 'GetAll', GLib.Variant('(s)', (iface,)),
                         '(a{sv})')[0]

    def plugin_prop(self, path, name):
        return self.get_prop(path, PLUGIN_IFACE, name)

    def job_prop(self, path, name):
        return self.get_prop(path, JOB_IFACE, name)

    def list_plugins(self, filters=None):
        return self.manager('ListPlugins', GLib.Variant('(a{sv})', (filters or {},)),
                            '(a(ssssbo))')[0]

    def list_jobs(self):
        return self.manager('ListJobs', None, '(a(usssdo))')[0]

    def get_plugin(self, name):
        return self.manager('GetPlugin', GLib.Variant('(s)', (name,)), '(o)')[0]

    def inspect(self, path):
        return json.loads(self.call(path, PLUGIN_IFACE, 'Inspect', None, '(s)')[0])

    def set_settings(self, path, settings, options=None, **kw):
        """Set: @settings a dict or a list of (key, value) pairs, sent in that order."""
        return self.call(path, PLUGIN_IFACE, 'Set',
                         GLib.Variant('(a(ss)a{sv})', (settings_pairs(settings), options or {})),
                         **kw)

    def remove(self, path, options=None, **kw):
        return self.call(path, PLUGIN_IFACE, 'Remove', GLib.Variant('(a{sv})', (options or {},)),
                         **kw)

    def managed_objects(self):
        return self.call(ROOT_PATH, OM_IFACE, 'GetManagedObjects', None, '(a{oa{sa{sv}}})')[0]

    def setting_values(self, path):
        """(env as "NAME=value", args) of a plugin: GetSettingValues, as root."""
        env, args = self.call(path, PLUGIN_IFACE, 'GetSettingValues',
                              GLib.Variant('(a{sv})', ({},)), '(asas)')
        return list(env), list(args)

    def plugin_env(self, path):
        return self.setting_values(path)[0]

    def plugin_args(self, path):
        return self.setting_values(path)[1]

    # -- the polkit mock (polkit_mock = True) ---------------------------------------------

    def polkit_mock_call(self, method, args=None, reply=None):
        try:
            res = self.conn.call_sync('org.freedesktop.PolicyKit1',
                                      '/org/freedesktop/PolicyKit1/Authority',
                                      'org.freedesktop.DBus.Mock', method, args,
                                      GLib.VariantType(reply) if reply else None,
                                      Gio.DBusCallFlags.NONE, -1, None)
        except GLib.Error as e:
            raise _convert_error(e) from None
        return res.unpack() if res is not None else None

    def polkit_allow(self, *actions):
        """The actions the mock grants to every caller from now on (none: deny all)."""
        self.polkit_mock_call('SetAllowed', GLib.Variant('(as)', (list(actions),)))

    def polkit_checks(self):
        """(action, flags) of every CheckAuthorization since the last polkit_clear()."""
        calls = self.polkit_mock_call('GetMethodCalls', GLib.Variant('(s)', ('CheckAuthorization',)),
                                      '(a(tav))')[0]
        return [(args[1], args[3]) for _, args in calls]

    def polkit_clear(self):
        self.polkit_mock_call('ClearCalls')

    # -- Create ---------------------------------------------------------------------------

    def context_file(self, data, name='context.tar'):
        path = os.path.join(self.tmpdir, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def create(self, name, data=None, privileges=(), options=None, how='file', flags=None,
               fd=None):
        """Calls Manager.Create and returns the job path.

        how: 'file' (a regular file fd) or 'pipe' (the read end of a pipe, fed by a thread)."""
        if data is None:
            data = make_context()
        args = GLib.Variant('(sha(ssas)a{sv})',
                            (name, 0, privileges_variant(privileges), options or {}))
        kw = {}
        if flags is not None:
            kw['flags'] = flags
        if fd is not None:
            return self.manager('Create', args, '(o)', fd=fd, **kw)[0]
        if how == 'file':
            path = self.context_file(data)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                return self.manager('Create', args, '(o)', fd=fd, **kw)[0]
            finally:
                os.close(fd)
        if how == 'pipe':
            r, w = os.pipe2(os.O_CLOEXEC)

            def feed():
                try:
                    os.write(w, data)  # blocks until the daemon reads
                except OSError:
                    pass
                finally:
                    os.close(w)
            t = threading.Thread(target=feed, daemon=True)
            t.start()
            try:
                return self.manager('Create', args, '(o)', fd=r, **kw)[0]
            finally:
                os.close(r)
        raise ValueError(how)

    def wait_job(self, job):
        """Job.Wait with a long timeout; returns the results or raises DBusError."""
        return self.call(job, JOB_IFACE, 'Wait', None, '(a{sv})',
                         timeout_ms=300000 * TIMEOUT_MULT)[0]

    def create_ok(self, name, data=None, **kw):
        """Creates a plugin, waits for the job, returns (plugin path, results)."""
        job = self.create(name, data, **kw)
        try:
            results = self.wait_job(job)
        except DBusError as e:
            self.fail('creating %s failed: %s' % (name, e))
        return results['plugin'], results

    def create_expect_error(self, names, name, data=None, **kw):
        """Create that must fail with an error in names, either as the method's error or as the
        job's error. Returns (DBusError, job path or None)."""
        if isinstance(names, str):
            names = (names,)
        # bad input changes nothing (files compared; empty dirs may appear)
        before = self.snapshot_files()
        try:
            job = self.create(name, data, **kw)
        except DBusError as e:
            self.assertIn(e.name, names, 'wrong error from Create: %s' % e)
            self.assertEqual(self.snapshot_files(), before, 'a refused Create changed the state')
            return e, None
        try:
            results = self.wait_job(job)
        except DBusError as e:
            self.assertIn(e.name, names, 'wrong job error: %s' % e)
            self.assertEqual(self.job_prop(job, 'Result'), 'failed')
            self.assertEqual(self.job_prop(job, 'ErrorName'), e.name)
            self.assertEqual(self.snapshot_files(), before,
                             'a failed create job left files behind')
            return e, job
        self.fail('expected %s, the create job succeeded: %r' % (names, results))

    # -- daemon -------------------------------------------------------------------------

    def start_daemon(self, env=None):
        """Starts the built daemon and waits until it owns its name."""
        self.assertTrue(self.daemon is None or self.daemon.poll() is not None)
        self._expect_death = False
        return self.spawn_daemon(env=env, track=True)

    def spawn_daemon(self, env=None, bus=None, track=False):
        """Starts the built daemon (with --replace) on bus (default: the class's), waits until
        it owns its name there and returns the process. With track, it is self.daemon from the
        moment it runs (tearDown stops it, and a test sees how a failed start ended); without,
        the caller stops it."""
        bus = bus or self.bus
        os.makedirs(self.state_dir, exist_ok=True)
        os.makedirs(self.runtime_dir, exist_ok=True)
        e = dict(os.environ)
        for k in ('PLUGIND_CRASH_POINT', 'PLUGIND_JOB_LINGER_MS', 'PLUGIND_RESTART_BACKOFF_MS',
                  'DBUS_SESSION_BUS_ADDRESS'):
            e.pop(k, None)
        e.update({
            'DBUS_SYSTEM_BUS_ADDRESS': bus.address,
            'STATE_DIRECTORY': self.state_dir,
            'RUNTIME_DIRECTORY': self.runtime_dir,
            'PLUGIND_EXTRACT_HELPER': self.extract_helper,
            'PLUGIND_TRANSFER_HELPER': self.transfer_helper,
            'PLUGIND_SANDBOX_INIT': self.sandbox_init,
            'G_DEBUG': 'fatal-criticals',
            'LC_ALL': 'C.UTF-8',
        })
        if self.job_linger_ms is not None:
            e['PLUGIND_JOB_LINGER_MS'] = str(self.job_linger_ms)
        e.update(self.daemon_env)
        e.update(env or {})
        self._engines_config(e)
        argv = list(self.daemon_wrapper) + [self.daemon_path, '--replace', '--verbose'] + \
            list(self.daemon_args)
        if VALGRIND:
            supp = os.path.join(SRCDIR, 'tests', 'valgrind.supp')
            argv = ['valgrind', '--error-exitcode=66', '--leak-check=full', '--vgdb=no',
                    '--errors-for-leak-kinds=definite', '--track-fds=no', '--num-callers=40',
                    '--suppressions=' + supp] + argv
        self.daemon_starts += 1
        with open(self.log_path, 'ab') as log:
            log.write(b'===== start %d: %s\n' % (self.daemon_starts, ' '.join(
                '%s=%s' % (k, v) for k, v in sorted((env or {}).items())).encode()))
            log.flush()
            daemon = subprocess.Popen(argv, env=e, cwd=self.tmpdir, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT)
        if track:
            self.daemon = daemon
        conn = self.conn if bus is self.bus else bus.connect()

        def owned():
            try:
                owner = conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                       'org.freedesktop.DBus', 'GetConnectionUnixProcessID',
                                       GLib.Variant('(s)', (BUS_NAME,)),
                                       GLib.VariantType('(u)'), 0, -1, None).unpack()[0]
            except GLib.Error:
                return False
            return owner == daemon.pid
        deadline = time.monotonic() + 20 * TIMEOUT_MULT
        try:
            while not owned():
                if daemon.poll() is not None:
                    self.fail('plugind exited during start-up with status %d' % daemon.returncode)
                if time.monotonic() > deadline:
                    if not track:
                        daemon.kill()
                        daemon.wait()
                    self.fail('plugind did not own %s in time' % BUS_NAME)
                time.sleep(0.01)
        finally:
            if conn is not self.conn:
                conn.close_sync(None)
        return daemon

    # where the daemon publishes consumer sockets ([ContainerEngines] of plugind.conf): in the
    # test's own dir, never where the machine's dockerd and podman look, unless a test class
    # drives real engines (machine_engines)
    machine_engines = False

    @property
    def dockerd_plugin_dir(self):
        return os.path.join(self.tmpdir, 'dockerd-plugins')

    @property
    def podman_drop_in(self):
        return os.path.join(self.tmpdir, 'containers.conf.d', 'plugind.conf')

    def _engines_config(self, env):
        """Adds the [ContainerEngines] section to the plugind.conf the daemon reads (one in the
        test's dir when the test gives none), unless the test wrote one."""
        if self.machine_engines:
            return
        conf_dir = env.get('CONFIGURATION_DIRECTORY')
        if not conf_dir:
            conf_dir = os.path.join(self.tmpdir, 'etc')
            os.makedirs(conf_dir, exist_ok=True)
            env['CONFIGURATION_DIRECTORY'] = conf_dir
        path = os.path.join(conf_dir, 'plugind.conf')
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            text = ''
        if '[ContainerEngines]' in text:
            return
        with open(path, 'a') as f:
            f.write('\n[ContainerEngines]\nDockerdPluginDir=%s\nPodmanDropIn=%s\n' %
                    (self.dockerd_plugin_dir, self.podman_drop_in))

    def stop_daemon(self):
        """SIGTERM; the daemon must exit 0."""
        d = self.daemon
        self.daemon = None
        d.send_signal(signal.SIGTERM)
        try:
            rc = d.wait(30 * TIMEOUT_MULT)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
            self.fail('plugind did not exit within 30 s of SIGTERM')
        self.assertEqual(rc, 0, 'plugind exited with status %d after SIGTERM' % rc)

    def restart_daemon(self, env=None):
        self.wait_all_jobs()
        self.stop_daemon()
        return self.start_daemon(env)

    def wait_daemon_death(self, timeout=60):
        """For crash-point tests: waits until the daemon is gone, returns its status."""
        self._expect_death = True
        d = self.daemon
        try:
            rc = d.wait(timeout * TIMEOUT_MULT)
        except subprocess.TimeoutExpired:
            self.fail('plugind did not die')
        self.daemon = None
        return rc

    def wait_all_jobs(self):
        """Lets every job finish; a job still running (a test that failed half-way, e.g. with
        a context pipe still open) is cancelled first so that tearDown cannot hang."""
        try:
            jobs = self.list_jobs()
        except DBusError:
            return
        for j in jobs:
            try:
                if self.job_prop(j[5], 'State') == 'running':
                    self.call(j[5], JOB_IFACE, 'Cancel', GLib.Variant('(a{sv})', ({},)))
                self.call(j[5], JOB_IFACE, 'Wait', None, '(a{sv})',
                          timeout_ms=60000 * TIMEOUT_MULT)
            except DBusError:
                pass

    # -- nobody -------------------------------------------------------------------------

    def run_as_nobody(self, argv, pass_fds=(), check=False, input=None):
        """Runs argv as nobody:nogroup with no supplementary groups, on the private bus."""
        env = {
            'PATH': '/usr/bin:/bin',
            'HOME': '/',
            'LC_ALL': 'C.UTF-8',
            'DBUS_SYSTEM_BUS_ADDRESS': self.bus.address,
            'PYTHONDONTWRITEBYTECODE': '1',
        }
        full = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] + list(argv)
        # never the terminal meson runs on: pluginctl would start polkit's text agent there and
        # wait for a password (test_agent.py runs it on a terminal of its own)
        stdin = subprocess.DEVNULL if input is None else None
        p = subprocess.run(full, env=env, cwd='/', pass_fds=pass_fds, capture_output=True,
                           timeout=60 * TIMEOUT_MULT, input=input, stdin=stdin)
        if check and p.returncode != 0:
            self.fail('%s failed (%d): %s' % (argv, p.returncode, p.stderr.decode()))
        return p

    def nobody_call(self, path, iface, method, signature='', args='()', fd=None,
                    interactive=False, reply=None, args_json=None):
        """Calls a method as nobody. args is GVariant text, or args_json a list of the arguments
        (see nobody_call.py). Returns (result, None) or (None, DBusError)."""
        spec = {'path': path, 'iface': iface, 'method': method, 'signature': signature,
                'args': args, 'interactive': interactive, 'reply': reply,
                'args_json': args_json}
        pass_fds = ()
        if fd is not None:
            spec['fd'] = fd
            pass_fds = (fd,)
        # the script goes in as text: the checkout may sit where nobody cannot read (/root)
        with open(os.path.join(HERE, 'nobody_call.py')) as f:
            source = f.read()
        # the spec goes in on stdin: arguments may be larger than argv allows
        p = self.run_as_nobody(['/usr/bin/python3', '-c', source, '-'], pass_fds=pass_fds,
                               input=json.dumps(spec).encode())
        if p.returncode != 0:
            self.fail('nobody_call.py failed (%d): %s' % (p.returncode, p.stderr.decode()))
        out = json.loads(p.stdout.decode())
        self.assertEqual(out.get('uid'), pwd.getpwnam('nobody').pw_uid, 'not run as nobody')
        if out.get('error'):
            return None, DBusError(out['error'], out['message'])
        return out['result'], None

    @contextlib.contextmanager
    def nobody_listening(self, until, timeout=30):
        """Records, as nobody, the daemon's signals from entering the block until the signal
        until = (member, first argument); yields a list filled with them on exit."""
        with open(os.path.join(HERE, 'nobody_call.py')) as f:
            source = f.read()
        spec = json.dumps({'listen': list(until), 'timeout': timeout * TIMEOUT_MULT})
        env = {'PATH': '/usr/bin:/bin', 'HOME': '/', 'LC_ALL': 'C.UTF-8',
               'DBUS_SYSTEM_BUS_ADDRESS': self.bus.address, 'PYTHONDONTWRITEBYTECODE': '1'}
        p = subprocess.Popen(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                              '/usr/bin/python3', '-c', source, spec], env=env, cwd='/',
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        seen = []
        try:
            line = p.stdout.readline()
            if line != b'ready\n':
                self.fail('nobody_call.py did not listen: %r %r' % (line, p.stderr.read()))
            yield seen
            out, err = p.communicate(timeout=(timeout + 10) * TIMEOUT_MULT)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        if p.returncode != 0:
            self.fail('nobody_call.py failed (%d): %s' % (p.returncode, err.decode()))
        res = json.loads(out.decode())
        self.assertEqual(res['uid'], pwd.getpwnam('nobody').pw_uid, 'not run as nobody')
        self.assertFalse(res['timed_out'], 'nobody never saw %s %s' % tuple(until))
        seen.extend(res['signals'])

    def add_polkit_rule(self, token, text):
        """Installs the polkit rule text as /etc/polkit-1/rules.d/49-plugind-test-<token>.rules
        (atomically: polkitd never reads half of it) until the test ends. The rules dir is the
        machine's: scope the rule to token, so that tests running at the same time see no
        change. polkitd picks it up within a moment."""
        rules_dir = '/etc/polkit-1/rules.d'
        path = os.path.join(rules_dir, '49-plugind-test-%s.rules' % token)
        tmp = os.path.join(rules_dir, '.plugind-test-%s.tmp' % token)
        with open(tmp, 'w') as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
        self.addCleanup(os.unlink, path)

    def assertNobodyDenied(self, *args, **kwargs):
        result, err = self.nobody_call(*args, **kwargs)
        self.assertIsNotNone(err, 'nobody was allowed to call %s: %r' % (args[2], result))
        self.assertIn(err.name, DENIED, 'nobody got the wrong error: %s' % err)
        return err

    def assertNobodyAllowed(self, *args, **kwargs):
        result, err = self.nobody_call(*args, **kwargs)
        self.assertIsNone(err, 'nobody may not call %s: %s' % (args[2], err))
        return result

    # -- state and invariants -----------------------------------------------------------

    def snapshot_state(self):
        """(relative path, mode, size, mtime_ns, symlink target) of everything in the state dir."""
        out = {}
        for root, dirs, files in os.walk(self.state_dir):
            for n in dirs + files:
                p = os.path.join(root, n)
                st = os.lstat(p)
                out[os.path.relpath(p, self.state_dir)] = (
                    st.st_mode, st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                    st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0,
                    os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
        return out

    def snapshot_files(self):
        """(mode, content hash or link target) of every non-directory in the state dir: a
        content-addressed blob rewritten with the same bytes is no change."""
        out = {}
        for rel, (mode, size, mtime, target) in self.snapshot_state().items():
            if stat.S_ISDIR(mode):
                continue
            p = os.path.join(self.state_dir, rel)
            out[rel] = (mode, sha256_file(p) if stat.S_ISREG(mode) else target)
        return out

    def blob_path(self, digest):
        algo, hexd = digest.split(':', 1)
        self.assertEqual(algo, 'sha256')
        return os.path.join(self.state_dir, 'blobs', 'sha256', hexd)

    def read_blob(self, digest):
        with open(self.blob_path(digest), 'rb') as f:
            return f.read()

    def blob_digests(self):
        d = os.path.join(self.state_dir, 'blobs', 'sha256')
        if not os.path.isdir(d):
            return set()
        return {'sha256:' + n for n in os.listdir(d)}

    def plugin_dir(self, plugin_id):
        return os.path.join(self.state_dir, 'plugins', plugin_id)

    def assertMode(self, path, mode):
        st = os.lstat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), mode,
                         '%s has mode %o, expected %o' % (path, stat.S_IMODE(st.st_mode), mode))

    def removing_dirs(self):
        d = os.path.join(self.state_dir, 'plugins')
        return [n for n in os.listdir(d) if n.endswith('-removing')] if os.path.isdir(d) else []

    def check_invariants(self, settle=True):
        """Invariants 2-5 of docs/design.md (section Tests) on the state dir, with the daemon
        running and idle.

        settle: Remove renames plugins/<id> to <id>-removing before it replies and deletes that
        dir in a worker thread afterwards; give such a purge 10 s to finish. Right after a
        (re)start (settle=False) no -removing dir may exist at all."""
        state = self.state_dir
        if settle and self.removing_dirs():
            self.wait_until(lambda: not self.removing_dirs(), 10,
                            'the purge of %s' % self.removing_dirs())
        self.assertMode(state, 0o700)
        # 3: no tmp/ entries, no -removing dirs, no unreferenced plugin dirs
        tmp = os.path.join(state, 'tmp')
        if os.path.exists(tmp):
            self.assertMode(tmp, 0o700)
            self.assertEqual(os.listdir(tmp), [], 'tmp/ is not empty')
        plugins_dir = os.path.join(state, 'plugins')
        on_disk = set()
        if os.path.exists(plugins_dir):
            self.assertMode(plugins_dir, 0o700)
            for n in os.listdir(plugins_dir):
                self.assertFalse(n.endswith('-removing'), 'left-over %s' % n)
                self.assertRegex(n, HEX64, 'stray entry plugins/%s' % n)
                on_disk.add(n)
        listed = self.list_plugins()
        listed_ids = {p[0] for p in listed}
        self.assertEqual(on_disk, listed_ids, 'plugin dirs on disk differ from ListPlugins')
        # the plugins' logs: of listed plugins only, 0600 in a 0700 dir
        logs = os.path.join(state, 'logs')
        if os.path.exists(logs):
            self.assertMode(logs, 0o700)
            for n in os.listdir(logs):
                self.assertRegex(n, r'^[0-9a-f]{64}\.log(\.[1-4])?$', 'stray log %s' % n)
                self.assertIn(n[:64], listed_ids, 'log %s of no plugin' % n)
                try:
                    self.assertMode(os.path.join(logs, n), 0o600)
                except FileNotFoundError:
                    pass  # rotated away since the listing
        # 4: every blob hashes to its name; 5: modes
        blobs = os.path.join(state, 'blobs', 'sha256')
        if os.path.exists(blobs):
            self.assertMode(os.path.join(state, 'blobs'), 0o700)
            self.assertMode(blobs, 0o700)
            for n in os.listdir(blobs):
                p = os.path.join(blobs, n)
                try:
                    st = os.lstat(p)
                    digest = sha256_file(p) if stat.S_ISREG(st.st_mode) else None
                except FileNotFoundError:
                    # blob GC (after a start, or a removal) deleted it since the listing
                    continue
                self.assertTrue(stat.S_ISREG(st.st_mode), 'blob %s is not a file' % n)
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o600,
                                 'blob %s has mode %o' % (n, stat.S_IMODE(st.st_mode)))
                self.assertEqual(digest, n, 'blob %s does not hash to its name' % n)
        # 2: every listed plugin has its rootfs and record, and its blobs
        for pid, name, ref, st, enabled, path in listed:
            self.assertEqual(path, ROOT_PATH + '/plugin/' + pid)
            d = self.plugin_dir(pid)
            self.assertMode(d, 0o700)
            self.assertTrue(os.path.isdir(os.path.join(d, 'rootfs')), '%s has no rootfs' % name)
            rec = os.path.join(d, 'plugin.json')
            self.assertTrue(os.path.isfile(rec), '%s has no record' % name)
            self.assertMode(rec, 0o600)
            manifest_digest = self.plugin_prop(path, 'ManifestDigest')
            config_digest = self.plugin_prop(path, 'ConfigDigest')
            manifest = json.loads(self.read_blob(manifest_digest))
            self.assertEqual(manifest['config']['digest'], config_digest)
            for layer in manifest['layers']:
                self.assertTrue(os.path.exists(self.blob_path(layer['digest'])),
                                'layer %s of %s is missing' % (layer['digest'], name))
        # no world-writable or setuid store file; a plugin's rootfs and what it keeps beneath
        # its PropagatedMount are its own
        for root, dirs, files in os.walk(state):
            if any(os.path.basename(root) == own or '/%s/' % own in root + '/'
                   for own in ('rootfs', 'propagated-mount')):
                continue
            for n in dirs + files:
                m = os.lstat(os.path.join(root, n)).st_mode
                if stat.S_ISLNK(m):
                    continue
                # what a plugin mounted on its propagated-mount dir itself
                if n == 'propagated-mount' and os.path.ismount(os.path.join(root, n)):
                    continue
                self.assertFalse(m & (stat.S_IWOTH | stat.S_ISUID),
                                 '%s is world-writable or setuid' % os.path.join(root, n))


def main():
    """Runs the tests named on the command line (Class.method) of the __main__ module.
    Skips, expected failures and unexpected successes count as failures."""
    import __main__
    loader = unittest.TestLoader()
    names = sys.argv[1:]
    if names:
        suite = loader.loadTestsFromNames(names, __main__)
    else:
        suite = loader.loadTestsFromModule(__main__)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    bad = (result.failures or result.errors or result.skipped or result.expectedFailures or
           result.unexpectedSuccesses or result.testsRun == 0)
    if result.skipped:
        sys.stderr.write('skipped tests count as failures\n')
    sys.exit(1 if bad else 0)
