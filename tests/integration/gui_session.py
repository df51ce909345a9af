# SPDX-License-Identifier: LGPL-2.1-or-later
"""A desktop session for the app's tests (test_app.py): an X server (Xvfb), a session bus, the
accessibility bus (at-spi-bus-launcher, which starts at-spi2-registryd), the app
(build/src/app/plugind-plugins) on the test's private system bus, and atspi_driver.py, which
reads and drives the app through its accessibility tree. Everything runs as the test's
unprivileged user (test_agent.AdminMixin makes one with a password): the accessibility bus
admits its own user only, and the app must work without root.

Nothing is left behind: the session's dir (home, runtime dir, logs) is removed, every process
of the session is stopped by its pid (and, as a last resort, every process left of the test's
own user, which exists for this test only), and Xvfb's socket and lock in /tmp are checked to be
gone.
"""

import json
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import tempfile
import termios
import time

from pd_testcase import BUILDDIR, HERE, SRCDIR, TIMEOUT_MULT, stop_process
from test_agent import IN_NAMESPACE

APP = os.path.join(BUILDDIR, 'src', 'app', 'plugind-plugins')
XVFB = '/usr/bin/Xvfb'
BUS_LAUNCHER = '/usr/libexec/at-spi-bus-launcher'
APP_ID = 'org.plugind.Plugins'


class DriverError(AssertionError):
    """A request the driver could not do: what was asked, why, and what the window showed."""


class PolkitAgent:
    """polkit's text agent (pkttyagent) registered for the app's process, as a desktop
    session's graphical agent would be for the session: it asks for the administrator's
    password on a terminal of its own (a pty) that the test reads and types into.

    Its polkit-agent-helper-1 (setuid root, a cleared environment) reaches polkitd on the
    default system bus socket only, so the agent runs in a mount namespace of its own where the
    test's bus dir is mounted on /run/dbus (test_agent.IN_NAMESPACE), as the user."""

    def __init__(self, uid, gid, bus_dir, app_pid, user):
        self.user = user
        self.shown = b''
        self.answered = 0  # the end of what the last identity choice answered
        self.master, slave = os.openpty()
        notify_r, notify_w = os.pipe()
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL': 'C.UTF-8', 'HOME': '/',
               'TERM': 'dumb'}
        argv = ['unshare', '--mount', '--propagation', 'private', '--',
                'setsid', '--ctty', 'sh', '-c', IN_NAMESPACE, 'sh', bus_dir, str(uid), str(gid),
                'tty', 'pkttyagent', '--process', str(app_pid), '--notify-fd', str(notify_w)]
        try:
            self.proc = subprocess.Popen(argv, env=env, cwd='/', stdin=slave, stdout=slave,
                                         stderr=slave, pass_fds=(notify_w,))
        finally:
            os.close(slave)
            os.close(notify_w)
        # registered when it closes the notify fd (end of file)
        with os.fdopen(notify_r, 'rb') as f:
            ready, _, _ = select.select([f], [], [], 20 * TIMEOUT_MULT)
            if not ready or f.read() != b'' or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError('pkttyagent did not register: %r' % self.read(0.5))

    def read(self, timeout):
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                self.shown += os.read(self.master, 65536)
            except OSError:  # EIO: the agent is gone
                pass
        return self.shown.decode(errors='replace')

    def expect(self, pattern, timeout=30):
        """Reads the terminal until it shows pattern (a regex) after what was already read."""
        start = len(self.shown)
        deadline = time.monotonic() + timeout * TIMEOUT_MULT
        while not re.search(pattern, self.shown[start:].decode(errors='replace'), re.S):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError('the agent did not show %r; its terminal showed %r' %
                                     (pattern, self.shown.decode(errors='replace')))
            self.read(min(left, 0.5))
            # other administrators on the machine (other tests' users): polkit lets the user
            # choose, once a prompt
            choice = re.search(rb' (\d+)\.  [^\r\n]*\(%s\)\r\n.*'
                               rb'Choose identity to authenticate as \(1-\d+\): $' %
                               self.user.encode(), self.shown[self.answered:], re.S)
            if choice is not None:
                os.write(self.master, choice.group(1) + b'\n')
                self.answered = len(self.shown)

    def answer_password(self, password):
        """Waits for the password prompt with the echo off, then types password."""
        self.expect(r'Password: $')
        deadline = time.monotonic() + 10 * TIMEOUT_MULT
        while termios.tcgetattr(self.master)[3] & termios.ECHO:
            if time.monotonic() > deadline:
                raise AssertionError('the agent never turned the echo off')
            time.sleep(0.02)
        os.write(self.master, password.encode() + b'\n')

    def stop(self):
        stop_process(self.proc)
        os.close(self.master)


class GuiSession:

    def __init__(self, uid, gid, system_bus_address, screenshot_dir=None):
        self.uid, self.gid = uid, gid
        self.system_bus_address = system_bus_address
        self.procs = []           # (name, Popen), in start order
        self.display = None
        self.driver = None
        self.app = None
        # not under the test's tmpdir: that one is root's, 0700
        self.dir = tempfile.mkdtemp(prefix='plugind-gui-')
        try:
            os.chmod(self.dir, 0o755)
            self.home = self._user_dir('home')
            self.runtime = self._user_dir('run')
            self.logs = os.path.join(self.dir, 'logs')
            os.mkdir(self.logs)
            # the app's icon, as it is installed, for the screenshots
            icons = os.path.join(self.dir, 'share', 'icons', 'hicolor', 'scalable', 'apps')
            os.makedirs(icons)
            shutil.copy(os.path.join(SRCDIR, 'data', 'icons', APP_ID + '.svg'), icons)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.screenshot_dir = screenshot_dir
        self.kept_logs = {}

    def _user_dir(self, name):
        path = os.path.join(self.dir, name)
        os.mkdir(path, 0o700)
        os.chown(path, self.uid, self.gid)
        return path

    def env(self):
        env = {
            'PATH': '/usr/bin:/bin',
            'HOME': self.home,
            'USER': pwd.getpwuid(self.uid).pw_name,
            'XDG_RUNTIME_DIR': self.runtime,
            'XDG_DATA_DIRS': os.path.join(self.dir, 'share') + ':/usr/local/share:/usr/share',
            'LC_ALL': 'C.UTF-8',
            'DBUS_SYSTEM_BUS_ADDRESS': self.system_bus_address,
            'PYTHONDONTWRITEBYTECODE': '1',
            # no dconf, no portals: nothing of the machine's desktop is read or started
            'GSETTINGS_BACKEND': 'memory',
            'GTK_USE_PORTAL': '0',
            'ADW_DISABLE_PORTAL': '1',
            'GDK_BACKEND': 'x11',
            'GTK_A11Y': 'atspi',
            'NO_AT_BRIDGE': '0',
        }
        if self.display is not None:
            env['DISPLAY'] = self.display
        if getattr(self, 'session_bus_address', None):
            env['DBUS_SESSION_BUS_ADDRESS'] = self.session_bus_address
        # the sanitizers' settings of an ASan build (scripts/test.sh)
        env.update({k: v for k, v in os.environ.items() if k.endswith('SAN_OPTIONS')})
        return env

    def as_user(self, argv):
        return ['setpriv', '--reuid=%d' % self.uid, '--regid=%d' % self.gid, '--init-groups',
                '--'] + list(argv)

    def _spawn(self, name, argv, **kw):
        log = open(os.path.join(self.logs, name + '.log'), 'ab')
        kw.setdefault('stdout', log)
        try:
            p = subprocess.Popen(self.as_user(argv), env=kw.pop('env', self.env()), cwd=self.home,
                                 stdin=kw.pop('stdin', subprocess.DEVNULL), stderr=log,
                                 start_new_session=True, **kw)
        finally:
            log.close()
        self.procs.append((name, p))
        return p

    # -- start ----------------------------------------------------------------------------

    def start(self):
        try:
            self._start_x()
            self._start_session_bus()
            self._start_a11y()
            self._start_driver()
        except BaseException:
            self.stop()
            raise

    def _start_x(self):
        r, w = os.pipe()
        try:
            self._spawn('xvfb', [XVFB, '-displayfd', str(w), '-screen', '0', '1024x768x24',
                                 '-nolisten', 'tcp', '-noreset'], pass_fds=(w,))
        finally:
            os.close(w)
        with os.fdopen(r, 'rb') as f:
            ready, _, _ = select.select([f], [], [], 20 * TIMEOUT_MULT)
            number = f.readline().decode().strip() if ready else ''
        if not number.isdigit():
            raise RuntimeError('Xvfb did not start: %s' % self.log('xvfb'))
        self.display_number = int(number)
        self.display = ':' + number

    def _start_session_bus(self):
        p = self._spawn('session-bus', ['dbus-daemon', '--session', '--nofork', '--nopidfile',
                                        '--nosyslog', '--print-address=1',
                                        '--address=unix:path=%s/bus' % self.runtime],
                        stdout=subprocess.PIPE)
        ready, _, _ = select.select([p.stdout], [], [], 20 * TIMEOUT_MULT)
        self.session_bus_address = p.stdout.readline().decode().strip() if ready else ''
        p.stdout.close()
        if not self.session_bus_address:
            raise RuntimeError('the session bus did not start: %s' % self.log('session-bus'))

    def _start_a11y(self):
        # started here rather than activated by the session bus, so that its pid is known; it
        # runs the accessibility bus, which starts at-spi2-registryd
        self._spawn('at-spi-bus-launcher', [BUS_LAUNCHER, '--launch-immediately'])

    def _start_driver(self):
        with open(os.path.join(HERE, 'atspi_driver.py')) as f:
            source = f.read()
        # the script goes in as text: the checkout may sit where the user cannot read it
        self.driver = self._spawn('driver', ['/usr/bin/python3', '-c', source],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        answer = self._read_answer(60)
        if not answer.get('ready'):
            raise RuntimeError('the AT-SPI driver did not start: %r %s' %
                               (answer, self.log('driver')))

    def start_app(self, env=None):
        """The app, with env added to the session's environment."""
        self.app = self._spawn('app', [APP], env=dict(self.env(), **(env or {})))
        return self.app

    def app_pid(self):
        return self.app.pid

    # -- the driver -----------------------------------------------------------------------

    def _read_answer(self, timeout):
        ready, _, _ = select.select([self.driver.stdout], [], [], timeout * TIMEOUT_MULT)
        line = self.driver.stdout.readline() if ready else b''
        if not line:
            raise DriverError('the AT-SPI driver did not answer within %d s; its log: %s' %
                              (timeout, self.log('driver')))
        return json.loads(line)

    def request(self, op, timeout=20, **kw):
        if self.app is not None and self.app.poll() is not None:
            raise DriverError('the app exited with status %d; its log: %s' %
                              (self.app.returncode, self.log('app')))
        kw.update(op=op, timeout=timeout * TIMEOUT_MULT)
        self.driver.stdin.write(json.dumps(kw).encode() + b'\n')
        self.driver.stdin.flush()
        t0 = time.monotonic()
        answer = self._read_answer(timeout + 30)
        if os.environ.get('PLUGIND_GUI_TIMING'):
            print('%.2fs %s %s' % (time.monotonic() - t0, op, kw.get('name', '')), flush=True)
        if not answer['ok']:
            raise DriverError('%s %s: %s; the window shows: %s' % (
                op, {k: v for k, v in kw.items() if k not in ('op', 'timeout')},
                answer['error'], answer.get('shown')))
        return answer

    def wait(self, role, name, timeout=20, regex=False, within=None):
        return self.request('wait', role=role, name=name, timeout=timeout, regex=regex,
                            within=within)

    def gone(self, role, name, timeout=20, regex=False, within=None):
        return self.request('gone', role=role, name=name, timeout=timeout, regex=regex,
                            within=within)

    def action(self, role, name, action, regex=False, within=None):
        return self.request('action', role=role, name=name, action=action, regex=regex,
                            within=within)

    def press(self, role, name, key, within=None):
        return self.request('press', role=role, name=name, key=key, within=within)

    def set_text(self, role, name, text):
        return self.request('set_text', role=role, name=name, text=text)

    def states(self, role, name, regex=False):
        return self.request('state', role=role, name=name, regex=regex)['states']

    def description(self, role, name):
        return self.request('state', role=role, name=name)['description']

    def text(self, role, name):
        return self.request('text', role=role, name=name)['text']

    def shown(self):
        return self.request('shown')['shown']

    def screenshot(self, name, window='Plugins'):
        """The app's window (found by its title) as name.png in screenshot_dir."""
        if not self.screenshot_dir:
            return None
        path = os.path.join(self.screenshot_dir, name + '.png')
        # as the user: the X server admits its own user only
        tmp = os.path.join(self.home, name + '.png')
        subprocess.run(self.as_user(['import', '-display', self.display, '-window', window,
                                     tmp]), check=True, capture_output=True, env=self.env(),
                       cwd=self.home, timeout=60)
        shutil.copy(tmp, path)
        os.unlink(tmp)
        return path

    def log(self, name):
        if name in self.kept_logs:
            return self.kept_logs[name]
        try:
            with open(os.path.join(self.logs, name + '.log'), errors='replace') as f:
                return f.read()[-4000:]
        except FileNotFoundError:
            return '(no log)\n'

    def keep_logs(self):
        """Keeps the logs in memory, for after stop()."""
        for name in os.listdir(self.logs):
            self.kept_logs[name[:-len('.log')]] = self.log(name[:-len('.log')])

    # -- stop -----------------------------------------------------------------------------

    def stop(self):
        """Stops every process of the session, newest first, then what is left of the user's;
        removes the session's dir. Returns what had to be killed (should be nothing)."""
        if self.driver is not None and self.driver.stdin:
            try:
                self.driver.stdin.close()
            except OSError:
                pass
        for name, p in reversed(self.procs):
            stop_process(p)
            if p.stdout:
                p.stdout.close()
        self.procs = []
        leftovers = self._kill_user_processes()
        if self.display is not None:
            # Xvfb removes its socket and lock when terminated; a crashed one may not
            for path in ('/tmp/.X11-unix/X%d' % self.display_number,
                         '/tmp/.X%d-lock' % self.display_number):
                try:
                    if os.lstat(path).st_uid == self.uid:
                        os.unlink(path)
                        leftovers.append(path)
                except FileNotFoundError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)
        return leftovers

    def user_processes(self):
        out = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                if os.stat('/proc/' + entry).st_uid == self.uid:
                    with open('/proc/%s/comm' % entry) as f:
                        out.append((int(entry), f.read().strip()))
            except (FileNotFoundError, ProcessLookupError):
                pass
        return out

    def _kill_user_processes(self):
        """The accessibility bus and the registry daemon stop when their buses go; wait a
        moment for them, then kill what remains: the user was made for this test alone."""
        deadline = time.monotonic() + 5 * TIMEOUT_MULT
        left = self.user_processes()
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = self.user_processes()
        for pid, comm in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while self.user_processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        return ['%s (%d)' % (comm, pid) for pid, comm in left]
