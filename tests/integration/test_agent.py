#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pluginctl's polkit text agent, as an administrator over SSH meets it: a user with a password
in the group Debian's polkit rule makes administrators (sudo), pluginctl on a terminal (a pty),
the real polkitd and the real setuid polkit-agent-helper-1 checking the password with PAM.

polkit-agent-helper-1 clears its environment and reaches polkitd on the default system bus
socket (/run/dbus/system_bus_socket), never on the private bus of DBUS_SYSTEM_BUS_ADDRESS. So
pluginctl runs in a mount namespace of its own where the test's bus directory is mounted on
/run/dbus: the helper, pluginctl's child, answers the test's polkitd, and nothing changes where
the machine's own bus lives. What is machine-wide (the users, their membership of sudo, and
the backups useradd and userdel write, /etc/passwd- and the like) is removed or restored when
the test ends, failed or not, and checked to be gone.
"""

import contextlib
import grp
import os
import pwd
import re
import secrets
import select
import signal
import stat
import subprocess
import termios
import time

from pd_testcase import (EXIT_NOT_AUTHORIZED, PLUGINCTL, PRIV_CONFIG, TIMEOUT_MULT,
                         PlugindTestCase, main, make_context)
from registry_testcase import RegistryTestCase

HELPER = '/usr/lib/polkit-1/polkit-agent-helper-1'
# polkit's rule on Debian (/usr/share/polkit-1/rules.d/50-default.rules): its members are the
# administrators whose password auth_admin asks for
ADMIN_GROUP = 'sudo'
PROMPT = b'Password: '
# what useradd and userdel change; each also keeps a backup, FILE-
USER_FILES = ('/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow', '/etc/subuid',
              '/etc/subgid')
# what pluginctl sees of the run as it is: the private mounts, then the user
IN_NAMESPACE = r'''
set -e
dir=$1 user=$2 gid=$3 stdin=$4
shift 4
# without /run/dbus on the host, a private /run to make it in
[ -d /run/dbus ] || { mount -t tmpfs -o mode=0755 tmpfs /run; mkdir /run/dbus; }
mount --bind "$dir" /run/dbus
# the terminal stays the controlling one, standard input leaves it
[ "$stdin" = tty ] || exec </dev/null
exec setpriv --reuid="$user" --regid="$gid" --init-groups -- "$@"
'''


class Terminated(Exception):
    """SIGTERM (meson's timeout) as an error of the test, so that its clean-ups still run."""


def on_sigterm(signo, frame):
    raise Terminated('terminated by signal %d' % signo)


class AdminMixin:
    """An administrator with a password and pluginctl run as it on a pty, for a
    PlugindTestCase."""

    def setUp(self):
        for p in (PLUGINCTL, HELPER):
            if not os.access(p, os.X_OK):
                raise RuntimeError('%s is missing' % p)
        if os.stat(HELPER).st_mode & 0o4000 == 0 or os.stat(HELPER).st_uid != 0:
            raise RuntimeError('%s is not setuid root' % HELPER)
        super().setUp()
        # the users' files as they are, restored last (clean-ups run in reverse)
        self.users = []
        self.addCleanup(self.restore_user_files, self.save_user_files())
        self.add_admin()

    # -- the administrator --------------------------------------------------------------

    def add_admin(self, suffix='', comment='plugind agent test'):
        """Adds a user with a password in ADMIN_GROUP, removed (and checked gone) when the test
        ends; returns its name and password. The first one is self.user."""
        # the pid keeps concurrent runs apart and the name under 32 characters
        user = 'pdagent%d%s' % (os.getpid(), suffix)
        password = secrets.token_urlsafe(12)
        self.users.append(user)
        self.addCleanup(self.remove_user, user)
        subprocess.run(['useradd', '--no-create-home', '--home-dir', '/nonexistent',
                        '--no-user-group', '--gid', 'nogroup', '--groups', ADMIN_GROUP,
                        '--shell', '/bin/sh', '--comment', comment, user],
                       check=True, capture_output=True)
        subprocess.run(['chpasswd'], input=('%s:%s\n' % (user, password)).encode(),
                       check=True, capture_output=True)
        self.assertIn(user, grp.getgrnam(ADMIN_GROUP).gr_mem)
        if not suffix:
            self.user, self.password = user, password
            entry = pwd.getpwnam(user)
            self.uid, self.gid = entry.pw_uid, entry.pw_gid
        return user, password

    def remove_user(self, user):
        # pluginctl is waited for: no process of the user is left for userdel to refuse
        r = subprocess.run(['userdel', user], capture_output=True)
        self.assertEqual(r.returncode, 0, 'userdel %s: %s' % (user, r.stderr.decode()))

    @staticmethod
    def save_user_files():
        """useradd and userdel also write FILE- (the state before them, the password hash
        included) and may create /etc/subuid and /etc/subgid: what each of them holds now."""
        saved = {}
        for path in USER_FILES + tuple(f + '-' for f in USER_FILES):
            try:
                st = os.stat(path)
                with open(path, 'rb') as f:
                    saved[path] = (f.read(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            except FileNotFoundError:
                saved[path] = None
        return saved

    def restore_user_files(self, saved):
        for path, was in saved.items():
            if path in USER_FILES:
                # the users' own files were changed back by userdel; one it created goes
                if was is None and os.path.exists(path) and os.path.getsize(path) == 0:
                    os.unlink(path)
                continue
            if was is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                continue
            data, mode, uid, gid = was
            tmp = path + '.plugind-test'
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
            os.chown(tmp, uid, gid)
            os.chmod(tmp, mode)
            os.rename(tmp, path)
        # nothing of the users is left: no line names them, no home, no mail
        leftovers = []
        for path in saved:
            if not os.path.exists(path):
                continue
            with open(path, errors='replace') as f:
                for line in f:
                    fields = line.rstrip('\n').split(':')
                    members = ','.join(fields[3:]).split(',')
                    for user in self.users:
                        if fields[0] == user or user in members:
                            leftovers.append('%s: %s' % (path, fields[0]))
        for user in self.users:
            for path in ('/var/mail/' + user, '/home/' + user):
                if os.path.lexists(path):
                    leftovers.append(path)
        self.assertEqual(leftovers, [], 'the test users were left behind')

    # -- pluginctl as the administrator ---------------------------------------------------

    def pluginctl(self, *args, answer=None, terminal=True, on_question=None):
        """Runs pluginctl as the administrator, with standard input, output and error on a pty
        (terminal) or with standard input from /dev/null and the rest on the pty. Answers every
        password prompt with answer (str: a line; bytes: as they are, e.g. Ctrl+C, once), and a
        [y/N] question with what on_question returns. Returns (exit status, what the terminal
        showed)."""
        master, slave = os.openpty()
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL': 'C.UTF-8', 'HOME': '/',
               'TERM': 'dumb'}
        # the sanitizers' settings of an ASan build (scripts/test.sh)
        env.update({k: v for k, v in os.environ.items() if k.endswith('SAN_OPTIONS')})
        # setsid --ctty: a session of its own with the pty as its controlling terminal, where
        # polkit's text listener writes the prompt and reads the password
        argv = ['unshare', '--mount', '--propagation', 'private', '--',
                'setsid', '--ctty', 'sh', '-c', IN_NAMESPACE, 'sh', self.bus.dir, str(self.uid),
                str(self.gid), 'tty' if terminal else 'null', PLUGINCTL] + list(args)
        try:
            p = subprocess.Popen(argv, env=env, cwd='/', stdin=slave, stdout=slave,
                                 stderr=slave)
        finally:
            os.close(slave)
        shown = b''
        answered = 0
        # where the last identity choice was answered: each prompt asks again
        chosen_at = -1
        deadline = time.monotonic() + 60 * TIMEOUT_MULT
        try:
            while True:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, 'pluginctl %s did not end; the terminal showed %r' %
                                   (' '.join(args), shown))
                ready, _, _ = select.select([master], [], [], left)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every process on the terminal is gone
                    break
                if not chunk:
                    break
                shown += chunk
                # a machine with other administrators (other tests' users): polkit lets the
                # user choose, at every prompt
                choice = re.search(rb' (\d+)\.  plugind agent test \(%s\)\r\n.*'
                                   rb'Choose identity to authenticate as \(1-\d+\): $' %
                                   self.user.encode(), shown[chosen_at + 1:], re.S)
                if answer is not None and choice is not None:
                    os.write(master, choice.group(1) + b'\n')
                    chosen_at = len(shown)
                if on_question is not None and shown.endswith(b'[y/N] '):
                    os.write(master, on_question().encode() + b'\n')
                    on_question = None
                if (answer is not None and shown.count(PROMPT) > answered and
                        shown.endswith(PROMPT) and not (answered and isinstance(answer, bytes))):
                    self.wait_echo_off(master)
                    os.write(master, answer if isinstance(answer, bytes)
                             else answer.encode() + b'\n')
                    answered += 1
                    if isinstance(answer, bytes):
                        # what the terminal's modes are once pluginctl is gone
                        p.wait(30 * TIMEOUT_MULT)
                        self.lflag_after = termios.tcgetattr(master)[3]
            status = p.wait(30 * TIMEOUT_MULT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
        return status, shown.decode(errors='replace')

    def wait_echo_off(self, master):
        """Waits until the agent turned the terminal's echo off: it discards what was typed
        before (TCSAFLUSH), and the password must not show."""
        self.wait_until(lambda: termios.tcgetattr(master)[3] & termios.ECHO == 0,
                        msg='the echo off for the password')

    def assertPrompted(self, shown):
        self.assertIn('Authentication is required to change the settings of the plugin '
                      'test/agent:latest', shown)
        # "Authenticating as: …", or the user's line in a choice of administrators
        self.assertIn('plugind agent test (%s)' % self.user, shown)
        self.assertIn(PROMPT.decode(), shown)



class AgentTestCase(AdminMixin, PlugindTestCase):

    def setUp(self):
        super().setUp()
        self.create_ok('test/agent', make_context())
        self.plugin = self.get_plugin('test/agent')

    # -- tests ----------------------------------------------------------------------------

    def test_password_on_terminal(self):
        status, shown = self.pluginctl('set', 'test/agent', 'DEBUG=7', answer=self.password)
        self.assertEqual(status, 0, shown)
        self.assertPrompted(shown)
        # the password never echoes
        self.assertNotIn(self.password, shown)
        self.assertIn('DEBUG=7', self.plugin_env(self.plugin))

    def test_other_admins(self):
        # polkit lists every administrator; the user picks itself and gives its own password
        other, other_password = self.add_admin('b', 'another admin')
        status, shown = self.pluginctl('set', 'test/agent', 'DEBUG=8', answer=self.password)
        self.assertEqual(status, 0, shown)
        self.assertIn('Multiple identities can be used for authentication', shown)
        self.assertIn('another admin (%s)' % other, shown)
        self.assertIn('Choose identity to authenticate as (1-2): ', shown)
        self.assertIn(PROMPT.decode(), shown)
        self.assertNotIn(other_password, shown)
        self.assertIn('DEBUG=8', self.plugin_env(self.plugin))

    def test_interrupt_restores_echo(self):
        # Ctrl+C at the prompt, where the echo is off: pluginctl ends, the echo is back on
        status, shown = self.pluginctl('set', 'test/agent', 'DEBUG=7', answer=b'\x03')
        self.assertEqual(status, -signal.SIGINT, shown)
        self.assertPrompted(shown)
        self.assertNotEqual(self.lflag_after & termios.ECHO, 0, 'the echo stayed off')
        self.assertEqual(self.plugin_env(self.plugin), ['DEBUG=0'])

    def test_wrong_password(self):
        status, shown = self.pluginctl('set', 'test/agent', 'DEBUG=7',
                                       answer=self.password + 'x')
        self.assertEqual(status, EXIT_NOT_AUTHORIZED, shown)
        self.assertPrompted(shown)
        self.assertIn('Error: ', shown)
        self.assertEqual(self.plugin_env(self.plugin), ['DEBUG=0'])

    def test_no_terminal(self):
        # output on the terminal, input not: no prompt, the call fails as it always did
        status, shown = self.pluginctl('set', 'test/agent', 'DEBUG=7', terminal=False)
        self.assertEqual(status, EXIT_NOT_AUTHORIZED, shown)
        self.assertNotIn(PROMPT.decode(), shown)
        self.assertIn('Error: ', shown)
        self.assertEqual(self.plugin_env(self.plugin), ['DEBUG=0'])

    def test_no_ask_password(self):
        status, shown = self.pluginctl('--no-ask-password', 'set', 'test/agent', 'DEBUG=7')
        self.assertEqual(status, EXIT_NOT_AUTHORIZED, shown)
        self.assertNotIn(PROMPT.decode(), shown)
        self.assertIn('Error: ', shown)
        # after the command, too
        status, shown = self.pluginctl('set', '--no-ask-password', 'test/agent', 'DEBUG=7')
        self.assertEqual(status, EXIT_NOT_AUTHORIZED, shown)
        self.assertNotIn(PROMPT.decode(), shown)
        self.assertEqual(self.plugin_env(self.plugin), ['DEBUG=0'])

    def test_show_values_with_password(self):
        # read-settings: an administrator's password over SSH, as sudo would ask
        self.set_settings(self.plugin, {'DEBUG': 'secret-7'})
        status, shown = self.pluginctl('inspect', '--show-values', 'test/agent',
                                       answer=self.password)
        self.assertEqual(status, 0, shown)
        self.assertIn('Authentication is required to read the settings of the plugin '
                      'test/agent:latest', shown)
        self.assertEqual(shown.count(PROMPT.decode()), 1, shown)
        self.assertIn('"DEBUG=secret-7"', shown)
        # never kept: without a password the next command shows no value
        status, shown = self.pluginctl('--no-ask-password', 'inspect', '--show-values',
                                       'test/agent')
        self.assertEqual(status, EXIT_NOT_AUTHORIZED, shown)
        self.assertNotIn('secret-7', shown)


class AgentRegistryTestCase(AdminMixin, RegistryTestCase):
    """pluginctl install and upgrade from the test registry: one password for the lookup and
    the call that follows."""

    def assertOnePrompt(self, shown, message):
        self.assertEqual(shown.count(PROMPT.decode()), 1, shown)
        self.assertIn(message, shown)

    def test_install_asks_once(self):
        self.push_plugin('test/plain')
        status, shown = self.pluginctl('install', '--disable', self.remote('test/plain'),
                                       answer=self.password)
        self.assertEqual(status, 0, shown)
        self.assertOnePrompt(shown, 'Authentication is required to install the plugin %s\r\n' %
                             self.remote('test/plain'))
        self.assertIn('Installed plugin', shown)
        self.get_plugin(self.remote('test/plain'))

    def test_upgrade_asks_once(self):
        self.push_plugin('test/plain', 'v1')
        self.push_plugin('test/plain', 'v2', files={'v2': (b'2', 0o644)})
        self.pull_ok(self.remote('test/plain', 'v1'), 'test/up')
        status, shown = self.pluginctl('upgrade', '--skip-remote-check', 'test/up',
                                       self.remote('test/plain', 'v2'), answer=self.password)
        self.assertEqual(status, 0, shown)
        self.assertOnePrompt(shown, 'Authentication is required to upgrade the plugin '
                             'test/up:latest')
        self.assertIn('Upgraded plugin', shown)

    def test_kept_only_for_the_process(self):
        # the install's authorization kept for one pluginctl is no one else's: while that
        # pluginctl waits at the privileges question, another process of the same user and
        # nobody are refused without a password
        self.push_plugin('test/priv', config=PRIV_CONFIG)
        self.push_plugin('test/plain')
        others = []

        def meanwhile():
            others.append(self.pluginctl('--no-ask-password', 'install', '--disable',
                                         self.remote('test/plain')))
            others.append(self.run_as_nobody([PLUGINCTL, 'install', '--disable',
                                              self.remote('test/plain')]))
            return 'n'

        status, shown = self.pluginctl('install', '--disable', self.remote('test/priv'),
                                       answer=self.password, on_question=meanwhile)
        self.assertOnePrompt(shown, 'Authentication is required to install the plugin %s\r\n' %
                             self.remote('test/priv'))
        self.assertIn('Do you grant the above permissions? [y/N]', shown)
        self.assertEqual(status, 1, shown)
        self.assertEqual(len(others), 2)
        self.assertEqual(others[0][0], EXIT_NOT_AUTHORIZED, others[0][1])
        self.assertNotIn(PROMPT.decode(), others[0][1])
        self.assertEqual(others[1].returncode, EXIT_NOT_AUTHORIZED, others[1])
        self.assertEqual(self.list_plugins(), [])

    def test_privileged_install(self):
        # host privileges are asked on their own, with the list, never kept: two passwords
        self.push_plugin('test/priv', config=PRIV_CONFIG)
        status, shown = self.pluginctl('install', '--disable', '--grant-all-permissions',
                                       self.remote('test/priv'), answer=self.password)
        self.assertEqual(status, 0, shown)
        self.assertEqual(shown.count(PROMPT.decode()), 2, shown)
        remote = self.remote('test/priv')
        self.assertIn('Authentication is required to install the plugin %s\r\n' % remote, shown)
        self.assertIn('Authentication is required to install the plugin %s, which asks for: '
                      'network: host; capabilities: CAP_SYS_ADMIN, CAP_NET_ADMIN\r\n' % remote,
                      shown)


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, on_sigterm)
    main()
