#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pluginctl against the real daemon, and the example plugin's protocol handshake."""

import datetime
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import tty
import unittest

from pd_testcase import (BUILDDIR, ERR, EXAMPLE_CONTEXT, EXIT_FAILURE, EXIT_NO_SUCH_PLUGIN,
                         EXIT_NOT_AUTHORIZED, EXIT_USAGE, PLUGINCTL, PRIV_CONFIG, TIMEOUT_MULT,
                         PlugindTestCase, PluginHTTPConnection, main, make_context, opts,
                         plugin_call, plugin_config)

EXAMPLE = os.path.join(BUILDDIR, 'example', 'plugind-example')
# docker's status for an inspect template that does not parse
EXIT_TEMPLATE = 64
PRIV_PROMPT = ('Plugin "test/priv" is requesting the following privileges:\n'
               ' - network: [host]\n'
               ' - capabilities: [CAP_SYS_ADMIN CAP_NET_ADMIN]\n'
               'Do you grant the above permissions? [y/N] ')

LONG_DESCRIPTION = 'A rather long description\r\nthat spans two lines and goes on and on'

# erases the line above and moves back onto it: printed raw, it hides earlier lines of a prompt
HOSTILE = '\u001b[2K\r\u001b[1A'
# what a terminal could act on: ESC, and CSI as a C1 control (U+009B, UTF-8 c2 9b)
RAW_CONTROLS = (b'\x1b', b'\xc2\x9b', b'\x7f')


def no_controls(test, data, what):
    for c in RAW_CONTROLS:
        test.assertNotIn(c, data, '%s carries a raw %r: %r' % (what, c, data))


def device_config(path):
    return plugin_config(Network={'Type': 'host'},
                         Linux={'Capabilities': [], 'AllowAllDevices': False,
                                'Devices': [{'Name': 'dev', 'Description': '', 'Settable': ['path'],
                                             'Path': path}]})


def bind_config(source):
    return plugin_config(Network={'Type': 'host'},
                         Mounts=[{'Name': 'data', 'Description': '', 'Settable': ['source'],
                                  'Source': source, 'Destination': '/data', 'Type': 'bind',
                                  'Options': ['rbind']}])
SET_INVALID_FORMAT = 'invalid format, must be <name>[.<field>][=<value>]'


def require(path):
    if not os.access(path, os.X_OK if not path.endswith('.gz') else os.R_OK):
        raise RuntimeError('%s is not built' % path)


def docker_ellipsis(text, width):
    return text if len(text) <= width else text[:width - 1] + '…'


class PluginctlTestCase(PlugindTestCase):

    def setUp(self):
        require(PLUGINCTL)
        super().setUp()

    def ctl(self, *args, stdin=None, nobody=False):
        """Runs pluginctl on the private bus; stdin: bytes, or None for an empty input (EOF)."""
        if nobody:
            return self.run_as_nobody([PLUGINCTL] + list(args))
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL='C.UTF-8')
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        return subprocess.run([PLUGINCTL] + list(args), env=env, input=stdin or b'',
                              capture_output=True, timeout=120 * TIMEOUT_MULT)

    def ctl_ok(self, *args, **kw):
        p = self.ctl(*args, **kw)
        self.assertEqual(p.returncode, 0, 'pluginctl %s failed (%d): %s' %
                         (' '.join(args), p.returncode, p.stderr.decode()))
        return p.stdout.decode()

    def ctl_terminal(self, *args):
        """Runs pluginctl with its standard output on a terminal; returns the process and the
        bytes the terminal got."""
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL='C.UTF-8')
            p = subprocess.run([PLUGINCTL] + list(args), env=env, stdout=slave,
                               stderr=subprocess.PIPE, timeout=60 * TIMEOUT_MULT)
            os.close(slave)
            slave = -1
            shown = b''
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other end is closed
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(master)
            if slave >= 0:
                os.close(slave)
        return p, shown

    def ctl_fail(self, status, *args, **kw):
        p = self.ctl(*args, **kw)
        self.assertEqual(p.returncode, status, 'pluginctl %s: expected status %d, got %d\n'
                         'stdout: %s\nstderr: %s' % (' '.join(args), status, p.returncode,
                                                     p.stdout.decode(), p.stderr.decode()))
        return p.stdout.decode(), p.stderr.decode()

    def context_dir(self, config=None, world_readable=False):
        """A plugin directory: config.json and rootfs/ with a file, a symlink and a hard link."""
        if world_readable:
            base = tempfile.mkdtemp(prefix='plugind-ctx-')
            self.addCleanup(shutil.rmtree, base, True)
            os.chmod(base, 0o755)
        else:
            base = tempfile.mkdtemp(prefix='ctx-', dir=self.tmpdir)
        with open(os.path.join(base, 'config.json'), 'w') as f:
            json.dump(config if config is not None else plugin_config(), f)
        rootfs = os.path.join(base, 'rootfs')
        os.makedirs(os.path.join(rootfs, 'bin'))
        os.makedirs(os.path.join(rootfs, 'etc'))
        with open(os.path.join(rootfs, 'bin', 'hello'), 'w') as f:
            f.write('#!/bin/sh\necho hello\n')
        os.chmod(os.path.join(rootfs, 'bin', 'hello'), 0o755)
        with open(os.path.join(rootfs, 'etc', 'motd'), 'w') as f:
            f.write('plugind test rootfs\n')
        os.chmod(os.path.join(rootfs, 'etc', 'motd'), 0o640)
        os.symlink('hello', os.path.join(rootfs, 'bin', 'link'))
        os.link(os.path.join(rootfs, 'etc', 'motd'), os.path.join(rootfs, 'etc', 'motd2'))
        for root, dirs, files in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        if world_readable:
            os.chmod(os.path.join(rootfs, 'etc', 'motd'), 0o644)
            os.chmod(os.path.join(base, 'config.json'), 0o644)
        return base

    def plugin_id(self, name):
        return self.plugin_prop(self.get_plugin(name), 'Id')

    def assertNoPlugin(self, name):
        self.assertDBusError(ERR + 'NoSuchPlugin', self.get_plugin, name)


class CreateTests(PluginctlTestCase):

    def test_create_from_dir(self):
        d = self.context_dir()
        out = self.ctl_ok('create', '--grant-all-permissions', 'test/dir', d)
        self.assertEqual(out, 'test/dir\n')
        path = self.get_plugin('test/dir')
        self.assertEqual(self.plugin_prop(path, 'Name'), 'test/dir:latest')
        self.assertEqual(self.plugin_prop(path, 'Description'), 'A test plugin')
        rootfs = os.path.join(self.plugin_dir(self.plugin_prop(path, 'Id')), 'rootfs')
        with open(os.path.join(rootfs, 'bin', 'hello')) as f:
            self.assertEqual(f.read(), '#!/bin/sh\necho hello\n')
        self.assertMode(os.path.join(rootfs, 'bin', 'hello'), 0o755)
        self.assertMode(os.path.join(rootfs, 'etc', 'motd'), 0o640)
        # symlinks are archived, not followed
        self.assertTrue(stat.S_ISLNK(os.lstat(os.path.join(rootfs, 'bin', 'link')).st_mode))
        self.assertEqual(os.readlink(os.path.join(rootfs, 'bin', 'link')), 'hello')
        with open(os.path.join(rootfs, 'etc', 'motd2')) as f:
            self.assertEqual(f.read(), 'plugind test rootfs\n')
        # pluginctl waited for the job: it is finished when pluginctl returns
        for job in self.list_jobs():
            self.assertEqual(self.job_prop(job[5], 'State'), 'finished')
            self.assertEqual(self.job_prop(job[5], 'Result'), 'done')

    def test_create_from_tarball(self):
        for compression, name in (('', 'test/plain'), ('gz', 'test/gz'), ('xz', 'test/xz')):
            path = self.context_file(make_context(compression=compression),
                                     name='ctx-%s.tar' % (compression or 'plain'))
            out = self.ctl_ok('create', '--grant-all-permissions', name, path)
            self.assertEqual(out, name + '\n')
            p = self.get_plugin(name)
            self.assertEqual(self.plugin_prop(p, 'Name'), name + ':latest')

    def test_create_without_privileges_does_not_ask(self):
        d = self.context_dir()
        p = self.ctl('create', 'test/noprivs', d)   # stdin is at EOF: a prompt would fail
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout.decode(), 'test/noprivs\n')

    def test_create_privileged_accepted(self):
        d = self.context_dir(PRIV_CONFIG)
        out = self.ctl_ok('create', 'test/priv', d, stdin=b'y\n')
        self.assertEqual(out, PRIV_PROMPT + 'test/priv\n')
        privs = self.plugin_prop(self.get_plugin('test/priv'), 'Privileges')
        self.assertEqual([(p[0], list(p[2])) for p in privs],
                         [('network', ['host']), ('capabilities', ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'])])

    def test_create_privileged_tarball_granted(self):
        path = self.context_file(make_context(PRIV_CONFIG, compression='gz'))
        out = self.ctl_ok('create', '--grant-all-permissions', 'test/priv', path)
        self.assertEqual(out, 'test/priv\n')
        self.get_plugin('test/priv')

    def test_create_privileged_refused(self):
        d = self.context_dir(PRIV_CONFIG)
        tarball = self.context_file(make_context(PRIV_CONFIG))
        for answer in (b'n\n', b'', b'yes please\n', b'N\n'):
            for context in (d, tarball):
                before = self.snapshot_state()
                out, err = self.ctl_fail(EXIT_FAILURE, 'create', 'test/priv', context,
                                         stdin=answer)
                self.assertTrue(out.startswith(PRIV_PROMPT), out)
                self.assertEqual(err, 'Error: permission denied while creating plugin test/priv\n')
                self.assertNoPlugin('test/priv')
                self.assertEqual(self.list_jobs(), [])
                self.assertEqual(self.snapshot_state(), before)

    def test_create_dir_unreadable_file(self):
        # root without CAP_DAC_OVERRIDE cannot read a mode-000 file: the tar stream breaks off
        # mid-way, and the job must fail rather than create a plugin with a partial rootfs
        d = self.context_dir()
        secret = os.path.join(d, 'rootfs', 'etc', 'secret')
        with open(secret, 'wb') as f:
            f.write(b'x' * 100000)
        os.chown(secret, 65534, 65534)
        os.chmod(secret, 0)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL='C.UTF-8')
        p = subprocess.run(['setpriv', '--inh-caps=-dac_override,-dac_read_search',
                            '--bounding-set=-dac_override,-dac_read_search',
                            PLUGINCTL, 'create', 'test/unreadable', d],
                           env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60 * TIMEOUT_MULT)
        self.assertEqual(p.returncode, EXIT_FAILURE, p.stderr.decode())
        self.assertEqual(p.stdout, b'')
        err = p.stderr.decode()
        self.assertTrue(err.startswith('Error: rootfs/etc/secret: '), err)
        self.assertIn('Permission denied', err)
        self.assertNoPlugin('test/unreadable')
        for job in self.list_jobs():
            self.assertIn(self.job_prop(job[5], 'Result'), ('failed', 'cancelled'))

    def test_create_example_context(self):
        require(EXAMPLE_CONTEXT)
        # its data directory is a bind mount, and it mounts its volumes (CAP_SYS_ADMIN):
        # privileges the user is asked for, as by Docker
        _, err = self.ctl_fail(EXIT_FAILURE, 'create', 'example/hello', EXAMPLE_CONTEXT)
        self.assertEqual(err, 'Error: permission denied while creating plugin example/hello\n')
        self.assertNoPlugin('example/hello')
        out = self.ctl_ok('create', 'example/hello', EXAMPLE_CONTEXT, stdin=b'y\n')
        self.assertEqual(out, 'Plugin "example/hello" is requesting the following privileges:\n'
                              ' - mount: [/var/lib/plugind-example]\n'
                              ' - capabilities: [CAP_SYS_ADMIN]\n'
                              'Do you grant the above permissions? [y/N] example/hello\n')
        path = self.get_plugin('example/hello')
        doc = self.inspect(path)
        self.assertEqual(doc['Config']['Description'], 'plugind example volume plugin')
        self.assertEqual(doc['Config']['Entrypoint'], ['/plugind-example'])
        self.assertEqual(doc['Config']['Interface']['Socket'], 'example.sock')
        self.assertEqual(doc['Config']['Interface']['Types'], ['docker.volumedriver/1.0'])
        self.assertEqual([(m['Name'], m['Source'], m['Destination'], m['Type'])
                          for m in doc['Config']['Mounts']],
                         [('data', '/var/lib/plugind-example', '/data', 'bind')])
        privs = self.plugin_prop(path, 'Privileges')
        self.assertEqual([(p[0], list(p[2])) for p in privs],
                         [('mount', ['/var/lib/plugind-example']),
                          ('capabilities', ['CAP_SYS_ADMIN'])])
        self.assertEqual(doc['Config']['PropagatedMount'], '/mnt/volumes')
        rootfs = os.path.join(self.plugin_dir(doc['Id']), 'rootfs')
        self.assertMode(os.path.join(rootfs, 'plugind-example'), 0o755)
        # what the demo does: granted up front, and the data directory moved elsewhere
        out = self.ctl_ok('create', '--grant-all-permissions', 'plugind/example',
                          EXAMPLE_CONTEXT)
        self.assertEqual(out, 'plugind/example\n')
        self.ctl_ok('set', 'plugind/example', 'data.source=/srv/volumes')
        self.assertEqual(self.inspect(self.get_plugin('plugind/example'))
                         ['Settings']['Mounts'][0]['Source'], '/srv/volumes')

    def test_create_bad_context(self):
        # Docker's pre-check: config.json and rootfs/ must be there
        d = self.context_dir()
        shutil.rmtree(os.path.join(d, 'rootfs'))
        _, err = self.ctl_fail(EXIT_FAILURE, 'create', 'test/bad', d)
        self.assertIn('rootfs', err)
        os.unlink(os.path.join(d, 'config.json'))
        _, err = self.ctl_fail(EXIT_FAILURE, 'create', 'test/bad', d)
        self.assertIn('config.json', err)
        # an invalid config is refused before anything is sent
        d = self.context_dir()
        with open(os.path.join(d, 'config.json'), 'w') as f:
            f.write('{"Entrypoint": 42}')
        _, err = self.ctl_fail(EXIT_FAILURE, 'create', 'test/bad', d)
        self.assertTrue(err.startswith('Error: invalid config.json: '), err)
        # a tarball without config.json, a file that is no archive, a missing path
        no_config = self.context_file(make_context(omit_config=True), name='noconf.tar')
        _, err = self.ctl_fail(EXIT_FAILURE, 'create', 'test/bad', no_config)
        self.assertIn('config.json', err)
        garbage = self.context_file(b'\x01' * 4096, name='garbage.tar')
        self.ctl_fail(EXIT_FAILURE, 'create', 'test/bad', garbage)
        self.ctl_fail(EXIT_FAILURE, 'create', 'test/bad', os.path.join(self.tmpdir, 'missing'))
        self.assertEqual(self.list_plugins(), [])

    def test_create_hostile_privileges_refused_before_prompt(self):
        # a control sequence in a value that ends up in the consent prompt could hide the
        # "network: host" line above it: the config is invalid, and nothing is asked or sent
        cases = [
            (device_config('/dev/' + HOSTILE),
             'Error: invalid config.json: config: Linux.Devices[0].Path must not contain control '
             'characters (got "/dev/\\x1b[2K\\x0d\\x1b[1A")\n'),
            (bind_config('/' + HOSTILE),
             'Error: invalid config.json: config: Mounts[0].Source must not contain control '
             'characters (got "/\\x1b[2K\\x0d\\x1b[1A")\n'),
            (bind_config('/srv/\u009b2K'),
             'Error: invalid config.json: config: Mounts[0].Source must not contain control '
             'characters (got "/srv/\\x9b2K")\n'),
        ]
        before = self.snapshot_state()
        for cfg, message in cases:
            for context in (self.context_dir(cfg), self.context_file(make_context(cfg))):
                with self.subTest(context=context):
                    p = self.ctl('create', 'test/hostile', context, stdin=b'y\n')
                    no_controls(self, p.stdout, 'stdout')
                    no_controls(self, p.stderr, 'stderr')
                    self.assertEqual(p.returncode, EXIT_FAILURE, p.stderr)
                    self.assertEqual(p.stdout, b'')
                    self.assertEqual(p.stderr.decode(), message)
        # nothing was sent to the daemon
        self.assertEqual(self.list_jobs(), [])
        self.assertEqual(self.snapshot_state(), before)
        # which refuses such a config as well, whoever the caller
        for cfg, _ in cases:
            e, _ = self.create_expect_error(ERR + 'InvalidConfig', 'test/hostile',
                                            make_context(cfg),
                                            options=opts(grant_all_privileges=True))
            self.assertIn('must not contain control characters', e.message)
            self.assertNotIn('\u001b', e.message)
        self.assertNoPlugin('test/hostile')

    def test_create_prompt_escapes_values(self):
        # a value that passes validation but imitates an escape: shown escaped, not as "ESC"
        d = self.context_dir(bind_config('/srv/\\x1b[2K'))
        out, err = self.ctl_fail(EXIT_FAILURE, 'create', 'test/lookalike', d, stdin=b'n\n')
        self.assertEqual(out, 'Plugin "test/lookalike" is requesting the following privileges:\n'
                              ' - network: [host]\n'
                              ' - mount: [/srv/\\\\x1b[2K]\n'
                              'Do you grant the above permissions? [y/N] ')
        self.assertEqual(err, 'Error: permission denied while creating plugin test/lookalike\n')
        self.assertNoPlugin('test/lookalike')

    def test_create_daemon_errors(self):
        d = self.context_dir()
        self.ctl_ok('create', 'test/taken', d)
        _, err = self.ctl_fail(EXIT_FAILURE, 'create', 'test/taken', d)
        self.assertTrue(err.startswith('Error: '), err)
        self.assertNotIn('GDBus.Error', err)
        # a context with no rootfs/ passes the local config check but fails in the job
        tarball = self.context_file(make_context(omit_rootfs=True), name='norootfs.tar')
        _, err = self.ctl_fail(EXIT_FAILURE, 'create', 'test/norootfs', tarball)
        self.assertNotIn('GDBus.Error', err)
        self.assertNoPlugin('test/norootfs')


class ListTests(PluginctlTestCase):

    def create_three(self):
        self.ctl_ok('create', 'test/p10', self.context_file(make_context(), 'a.tar'))
        self.ctl_ok('create', 'test/p9', self.context_file(
            make_context(plugin_config(Description=LONG_DESCRIPTION)), 'b.tar'))
        self.ctl_ok('create', 'test/net', self.context_file(make_context(plugin_config(
            Description='network', Interface={'Types': ['docker.networkdriver/1.0',
                                                        'docker.ipamdriver/1.0'],
                                              'Socket': 'n.sock'})), 'c.tar'))
        return {n: self.plugin_id(n) for n in ('test/p10', 'test/p9', 'test/net')}

    def test_table(self):
        ids = self.create_three()
        out = self.ctl_ok('ls')
        lines = out.splitlines()
        # natural order: p9 before p10
        names = ['test/net:latest', 'test/p9:latest', 'test/p10:latest']
        descs = ['network', docker_ellipsis(LONG_DESCRIPTION.replace('\r', '').replace('\n', ''), 45),
                 'A test plugin']
        self.assertEqual(len(descs[1]), 45)
        rows = [['ID', 'NAME', 'DESCRIPTION', 'ENABLED']]
        for n, d in zip(names, descs):
            rows.append([ids[n.split(':')[0]][:12], n, d, 'false'])
        widths = [max(10, max(len(r[c]) for r in rows) + 3) for c in range(3)]
        expected = [''.join(r[c].ljust(widths[c]) for c in range(3)) + r[3] for r in rows]
        self.assertEqual(lines, expected)
        self.assertEqual(self.ctl_ok('list'), out)

        # -q and --no-trunc
        self.assertEqual(self.ctl_ok('ls', '-q').splitlines(),
                         [ids[n.split(':')[0]][:12] for n in names])
        self.assertEqual(self.ctl_ok('ls', '-q', '--no-trunc').splitlines(),
                         [ids[n.split(':')[0]] for n in names])
        full = self.ctl_ok('ls', '--no-trunc')
        self.assertIn(ids['test/p9'], full)
        self.assertIn(LONG_DESCRIPTION.replace('\r\n', ''), full)

    def test_empty(self):
        self.assertEqual(self.ctl_ok('ls'), 'ID        NAME      DESCRIPTION   ENABLED\n')
        self.assertEqual(self.ctl_ok('ls', '-q'), '')
        self.assertEqual(self.ctl_ok('ls', '--format', 'json'), '')

    def test_filters(self):
        ids = self.create_three()

        def listed(*args):
            return [ln for ln in self.ctl_ok('ls', '-q', '--no-trunc', *args).splitlines()]
        everything = listed()
        self.assertEqual(len(everything), 3)
        self.assertEqual(listed('--filter', 'enabled=false'), everything)
        self.assertEqual(listed('-f', 'enabled=0'), everything)
        self.assertEqual(listed('-f', 'enabled=true'), [])
        self.assertEqual(listed('-f', 'enabled=1'), [])
        self.assertEqual(sorted(listed('-f', 'capability=volumedriver')),
                         sorted([ids['test/p10'], ids['test/p9']]))
        # plugind keeps a plugin with several types when any matches (Docker's bug fixed)
        self.assertEqual(listed('-f', 'capability=networkdriver'), [ids['test/net']])
        # several capability filters: either matches, as in Docker
        self.assertEqual(sorted(listed('-f', 'capability=networkdriver',
                                       '-f', 'capability=volumedriver')), sorted(everything))
        self.assertEqual(listed('-f', 'capability=ipamdriver', '-f', 'enabled=true'), [])
        for bad in ('enabled=maybe', 'colour=blue', 'enabled'):
            _, err = self.ctl_fail(EXIT_USAGE, 'ls', '-f', bad)
            self.assertTrue(err.startswith('Error: '), err)
        self.ctl_fail(EXIT_USAGE, 'ls', '-f', 'enabled=true', '-f', 'enabled=false')

    def test_format_json(self):
        ids = self.create_three()
        out = self.ctl_ok('ls', '--format', 'json')
        docs = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([list(d) for d in docs],
                         [['Description', 'Enabled', 'ID', 'LastError', 'LastErrorName', 'Name',
                           'PluginReference', 'RestartCount', 'State']] * 3)
        self.assertEqual([d['State'] for d in docs], ['disabled'] * 3)
        self.assertEqual([(d['LastError'], d['LastErrorName'], d['RestartCount']) for d in docs],
                         [('', '', 0)] * 3)
        self.assertEqual([d['Name'] for d in docs],
                         ['test/net:latest', 'test/p9:latest', 'test/p10:latest'])
        p9 = docs[1]
        self.assertEqual(p9['ID'], ids['test/p9'][:12])
        self.assertIs(p9['Enabled'], False)
        self.assertEqual(p9['Description'],
                         docker_ellipsis(LONG_DESCRIPTION.replace('\r\n', ''), 45))
        self.assertEqual(p9['PluginReference'],
                         self.plugin_prop(self.get_plugin('test/p9'), 'Reference'))
        full = [json.loads(line) for line in
                self.ctl_ok('ls', '--format', 'json', '--no-trunc').splitlines()]
        self.assertEqual(full[1]['ID'], ids['test/p9'])
        self.assertEqual(full[1]['Description'], LONG_DESCRIPTION.replace('\r\n', ''))

    def test_format_template(self):
        ids = self.create_three()
        names = ['test/net:latest', 'test/p9:latest', 'test/p10:latest']
        self.assertEqual(self.ctl_ok('ls', '--format', '{{.Name}}').splitlines(), names)
        # "table" adds docker's header and aligns the columns; \t in the text is a tab
        out = self.ctl_ok('ls', '--no-trunc', '--format', 'table {{.ID}}\\t{{.Name}}\t{{.State}}')
        rows = [['ID', 'NAME', 'STATE']] + [[ids[n.split(':')[0]], n, 'disabled'] for n in names]
        widths = [max(10, max(len(r[c]) for r in rows) + 3) for c in range(2)]
        self.assertEqual(out.splitlines(),
                         [''.join(r[c].ljust(widths[c]) for c in range(2)) + r[2] for r in rows])
        # {{json .}} is --format json, and a template wins over -q, as in docker
        self.assertEqual(self.ctl_ok('ls', '--format', '{{json .}}'),
                         self.ctl_ok('ls', '--format', 'json'))
        self.assertEqual(self.ctl_ok('ls', '-q', '--format', '{{.Enabled}}'), 'false\n' * 3)
        self.assertEqual(self.ctl_ok('ls', '-q', '--format', 'raw').splitlines(),
                         ['plugin_id: ' + ids[n.split(':')[0]][:12] for n in names])
        self.assertEqual(self.ctl_ok('ls', '--format', 'raw', '-f', 'capability=networkdriver'),
                         'plugin_id: %s\nname: test/net:latest\ndescription: network\n'
                         'enabled: false\n\n' % ids['test/net'][:12])
        # errors: status 1 (docker's for ls), nothing on standard output
        for fmt, message in (
                ('{{.Nope}}', 'Error: template parsing error: template: :1:2: executing "" at '
                              '<.Nope>: can\'t evaluate field Nope in type *plugin.pluginContext\n'),
                ('{{nope}}', 'Error: template parsing error: template: :1: function "nope" not '
                             'defined\n'),
                ('{{block "b" .}}{{end}}', 'Error: template parsing error: template: :1:2: '
                                          '{{block}} is not supported by pluginctl\n')):
            out, err = self.ctl_fail(EXIT_FAILURE, 'ls', '--format', fmt)
            self.assertEqual((out, err), ('', message))

    def test_format_template_empty(self):
        # no plugin: a table has its header, docker's raw format prints nothing
        self.assertEqual(self.ctl_ok('ls', '--format', 'table {{.Name}}\t{{.PluginReference}}'),
                         'NAME      IMAGE\n')
        self.assertEqual(self.ctl_ok('ls', '--format', 'raw'), '')
        self.assertEqual(self.ctl_ok('ls', '--format', 'yaml'), '')

    def test_hostile_description(self):
        # descriptions are free text: every output escapes what a terminal would act on
        description = 'evil' + HOSTILE + '\u009b2J\u007f\tend'
        self.ctl_ok('create', 'test/evil', self.context_file(make_context(plugin_config(
            Description=description))))
        p = self.ctl('ls')
        self.assertEqual(p.returncode, 0, p.stderr)
        no_controls(self, p.stdout, 'ls')
        row = p.stdout.decode().splitlines()[1]
        self.assertIn('evil\\x1b[2K\\x1b[1A\\x9b2J\\x7f\\x09end', row)
        # JSON keeps the value: escapes a parser reads back as the same string
        for args in (('ls', '--format', 'json'), ('ls', '--format', 'json', '--no-trunc')):
            p = self.ctl(*args)
            self.assertEqual(p.returncode, 0, p.stderr)
            no_controls(self, p.stdout, ' '.join(args))
            self.assertEqual(json.loads(p.stdout)['Description'],
                             description.replace('\r', ''))
        p = self.ctl('inspect', 'test/evil')
        self.assertEqual(p.returncode, 0, p.stderr)
        no_controls(self, p.stdout, 'inspect')
        self.assertEqual(json.loads(p.stdout)[0]['Config']['Description'], description)
        # a template prints values as they are, as docker does, to a file or a pipe; a terminal
        # gets what would drive it escaped, as logs does
        for args in (('inspect', '-f', '{{.Config.Description}}', 'test/evil'),
                     ('ls', '--no-trunc', '--format', '{{.Description}}')):
            expected = (description if args[0] == 'inspect' else description.replace('\r', ''))
            p = self.ctl(*args)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, expected.encode() + b'\n')
            p, shown = self.ctl_terminal(*args)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(shown, terminal_safe(expected.encode() + b'\n'))
            no_controls(self, shown, ' '.join(args) + ' on a terminal')


class InspectSetRemoveTests(PluginctlTestCase):

    def test_inspect(self):
        self.ctl_ok('create', 'test/one', self.context_file(make_context(), 'a.tar'))
        self.ctl_ok('create', 'test/two', self.context_file(make_context(plugin_config(
            Description='second <&> "quoted" ünïcode')), 'b.tar'))
        one = self.inspect(self.get_plugin('test/one'))
        two = self.inspect(self.get_plugin('test/two'))
        out = self.ctl_ok('inspect', 'test/one')
        self.assertEqual(json.loads(out), [one])
        # docker prints the daemon's JSON re-indented by 4 spaces
        self.assertEqual(out, json.dumps([one], indent=4, ensure_ascii=False) + '\n')
        out = self.ctl_ok('inspect', 'test/one', two['Id'][:10])
        self.assertEqual(json.loads(out), [one, two])
        # an unknown name among known ones: the known are printed, the status says 4
        out, err = self.ctl_fail(EXIT_NO_SUCH_PLUGIN, 'inspect', 'test/two', 'test/nope')
        self.assertEqual(json.loads(out), [two])
        self.assertTrue(err.startswith('Error: '), err)
        self.assertNotIn('GDBus.Error', err)
        out, _ = self.ctl_fail(EXIT_NO_SUCH_PLUGIN, 'inspect', 'test/nope')
        self.assertEqual(out, '[]\n')

    def test_inspect_format(self):
        config = bind_config('/srv')
        config['Description'] = 'second <&> "quoted" \u00fcn\u00efcode'
        self.ctl_ok('create', 'test/one', self.context_file(make_context(), 'a.tar'))
        self.ctl_ok('create', '--grant-all-permissions', 'test/two',
                    self.context_file(make_context(config), 'b.tar'))
        one = self.inspect(self.get_plugin('test/one'))
        two = self.inspect(self.get_plugin('test/two'))
        self.assertEqual(self.ctl_ok('inspect', '-f', '{{.Name}}', 'test/one'), 'test/one:latest\n')
        # a line per plugin; Go's names (.ID) and the JSON's (.Id) both work, as in docker, but
        # not in one template (docker tries the typed values, then the maps)
        self.assertEqual(self.ctl_ok('inspect', '--format', '{{.ID}} {{.Enabled}}',
                                     'test/one', 'test/two'),
                         '%s false\n%s false\n' % (one['Id'], two['Id']))
        self.assertEqual(self.ctl_ok('inspect', '--format', '{{.Id}}', 'test/two'),
                         two['Id'] + '\n')
        # the daemon's JSON fits Docker's types: structs print as {…} (maps would print map[…])
        self.assertEqual(self.ctl_ok(
            'inspect', '-f', '{{.Config.User}}|{{.Config.Rootfs.Type}}|{{.Config.Interface.Types}}|'
            '{{range .Config.Interface.Types}}{{.Capability}}{{end}}|{{.Settings.Mounts}}|'
            '{{.Config.Args}}', 'test/two'),
            '{0 0}|layers|[docker.volumedriver/1.0]|volumedriver|'
            '[{ /data data [rbind] [source] /srv bind}]|{extra arguments args [value] [--foo]}\n')
        # values as they are; docker's json function does not escape HTML
        self.assertEqual(self.ctl_ok('inspect', '-f', '{{.Config.Description}}|'
                                     '{{json .Config.Description}}', 'test/two'),
                         'second <&> "quoted" \u00fcn\u00efcode|'
                         '"second <&> \\"quoted\\" \u00fcn\u00efcode"\n')
        # {{json .}} is Docker's typed object: without plugind's State (which {{.State.Status}}
        # reaches, as docker reaches a member its types lack)
        docker_two = dict(two)
        del docker_two['State']
        self.assertEqual(json.loads(self.ctl_ok('inspect', '-f', '{{json .}}', 'test/two')),
                         docker_two)
        self.assertEqual(json.loads(self.ctl_ok('inspect', '-f', '{{json .Settings}}', 'test/one')),
                         one['Settings'])
        # a template that does not parse: docker's status 64, nothing printed
        for fmt, message in (('{{.Name', 'template: :1: unclosed action'),
                             ('{{define "x"}}{{end}}',
                              'template: :1:2: {{define}} is not supported by pluginctl')):
            out, err = self.ctl_fail(EXIT_TEMPLATE, 'inspect', '-f', fmt, 'test/one')
            self.assertEqual((out, err), ('', 'Error: template parsing error: %s\n' % message))
        # one that fails on a plugin: status 1, an error for each; docker prints an empty line
        out, err = self.ctl_fail(EXIT_FAILURE, 'inspect', '-f', '{{.Nope}}', 'test/one', 'test/two')
        self.assertEqual(out, '\n')
        self.assertEqual(err, 'Error: template parsing error: template: :1:2: executing "" at '
                              '<.Nope>: map has no entry for key "Nope"\n' * 2)
        out, err = self.ctl_fail(EXIT_NO_SUCH_PLUGIN, 'inspect', '-f', '{{.Name}}', 'test/nope',
                                 'test/two')
        self.assertEqual(out, 'test/two:latest\n')
        # the values: root sees them, anyone else the daemon's <hidden>
        self.ctl_ok('set', 'test/one', 'DEBUG=pa55')
        self.assertEqual(self.ctl_ok('inspect', '--show-values', '-f', '{{.Settings.Env}}',
                                     'test/one'), '[DEBUG=pa55]\n')
        p = self.ctl('inspect', '-f', '{{.Settings.Env}} {{.Settings.Args}}', 'test/one',
                     nobody=True)
        self.assertEqual((p.returncode, p.stdout), (0, b'[DEBUG=<hidden>] [<hidden>]\n'))

    def test_inspect_show_values(self):
        self.ctl_ok('create', 'test/values', self.context_file(make_context()))
        self.ctl_ok('set', 'test/values', 'DEBUG=pa55 <&>', 'args=--key s3cret')
        doc = self.inspect(self.get_plugin('test/values'))
        self.assertEqual(doc['Settings']['Env'], ['DEBUG=pa55 <&>'])
        # root reads the values either way; --show-values writes them as the daemon does
        plain = self.ctl_ok('inspect', 'test/values')
        self.assertEqual(plain, json.dumps([doc], indent=4, ensure_ascii=False)
                         .replace('<', '\\u003c').replace('>', '\\u003e')
                         .replace('&', '\\u0026') + '\n')
        self.assertEqual(self.ctl_ok('inspect', '--show-values', 'test/values'), plain)
        # anyone else: hidden, and no prompt; asking for the values is refused
        for extra in ((), ('--no-ask-password',)):
            p = self.ctl(*(extra + ('inspect', 'test/values')), nobody=True)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            shown = json.loads(p.stdout.decode())[0]['Settings']
            self.assertEqual((shown['Env'], shown['Args']), (['DEBUG=<hidden>'],
                                                             ['<hidden>', '<hidden>']))
            self.assertNotIn(b's3cret', p.stdout)
            out, err = self.ctl_fail(EXIT_NOT_AUTHORIZED, *(extra + ('inspect', '--show-values',
                                                                     'test/values')),
                                     nobody=True)
            self.assertEqual(out, '[]\n')
            self.assertTrue(err.startswith('Error: '), err)
            self.assertNotIn('s3cret', out + err)
        self.assertIn('--show-values', self.ctl_ok('inspect', '--help'))

    def test_set(self):
        self.ctl_ok('create', 'test/set', self.context_file(make_context()))
        path = self.get_plugin('test/set')
        self.assertEqual(self.ctl_ok('set', 'test/set', 'DEBUG=1=2', 'args=--a --b'), '')
        self.assertIn('DEBUG=1=2', self.plugin_env(path))
        self.assertEqual(self.plugin_args(path), ['--a', '--b'])
        # a bare name sets the empty value
        self.ctl_ok('set', 'test/set', 'DEBUG')
        self.assertIn('DEBUG=', self.plugin_env(path))
        # unknown setting: the daemon's (Docker's) message, nothing changed
        before = self.inspect(path)
        _, err = self.ctl_fail(EXIT_FAILURE, 'set', 'test/set', 'DEBUG=3', 'NOPE=1')
        self.assertEqual(err,
                         'Error: setting "NOPE" not found in the plugin configuration\n')
        self.assertEqual(self.inspect(path), before)
        # a leading "=": Docker's message, a usage error, nothing sent
        _, err = self.ctl_fail(EXIT_USAGE, 'set', 'test/set', '=1')
        self.assertIn(SET_INVALID_FORMAT, err)
        self.ctl_fail(EXIT_USAGE, 'set', 'test/set')
        self.ctl_fail(EXIT_NO_SUCH_PLUGIN, 'set', 'test/nope', 'DEBUG=1')
        self.assertEqual(self.inspect(path), before)
        # in the order given, as docker plugin set: the last one wins, however it is spelt
        self.ctl_ok('set', 'test/set', 'DEBUG.value=1', 'DEBUG=2')
        self.assertIn('DEBUG=2', self.plugin_env(path))
        self.ctl_ok('set', 'test/set', 'DEBUG=3', 'DEBUG.value=4', 'args=-x', 'DEBUG=5')
        self.assertIn('DEBUG=5', self.plugin_env(path))

    def test_set_hostile_paths(self):
        self.ctl_ok('create', '--grant-all-permissions', 'test/paths',
                    self.context_file(make_context(bind_config('/srv'))))
        path = self.get_plugin('test/paths')
        before = self.inspect(path)
        for arg, message in (
                ('data=/' + HOSTILE,
                 'Error: mount source "/\\x1b[2K\\r\\x1b[1A" must not contain control '
                 'characters\n'),
                ('data=srv', 'Error: mount source "srv" must be an absolute path without \'.\', '
                             '\'..\' or empty components for a bind mount\n'),
                ('data.source=/srv/../etc', 'Error: mount source "/srv/../etc" must be an '
                                            'absolute path without \'.\', \'..\' or empty '
                                            'components for a bind mount\n')):
            with self.subTest(arg=arg):
                p = self.ctl('set', 'test/paths', arg)
                no_controls(self, p.stdout, 'stdout')
                no_controls(self, p.stderr, 'stderr')
                self.assertEqual(p.returncode, EXIT_FAILURE, p.stderr)
                self.assertEqual(p.stderr.decode(), message)
        self.assertEqual(self.inspect(path), before)
        self.ctl_ok('set', 'test/paths', 'data=/var')
        self.assertEqual(self.inspect(path)['Settings']['Mounts'][0]['Source'], '/var')

    def test_remove(self):
        self.ctl_ok('create', 'test/a', self.context_file(make_context(), 'a.tar'))
        self.ctl_ok('create', 'test/b', self.context_file(make_context(), 'b.tar'))
        self.ctl_ok('create', 'test/c', self.context_file(make_context(), 'c.tar'))
        self.assertEqual(self.ctl_ok('rm', 'test/a'), 'test/a\n')
        self.assertNoPlugin('test/a')
        self.assertEqual(self.ctl_ok('remove', '-f', 'test/b'), 'test/b\n')
        self.assertNoPlugin('test/b')
        # the first error decides the status; the others are still removed
        out, err = self.ctl_fail(EXIT_NO_SUCH_PLUGIN, 'rm', 'test/nope', 'test/c')
        self.assertEqual(out, 'test/c\n')
        self.assertTrue(err.startswith('Error: '), err)
        self.assertNoPlugin('test/c')
        self.assertEqual(self.list_plugins(), [])

    def test_unknown_plugin(self):
        for args in (('inspect', 'nope'), ('set', 'nope', 'A=1'), ('rm', 'nope'),
                     ('rm', '-f', 'nope'), ('enable', 'nope'), ('enable', '--timeout', '5', 'nope'),
                     ('disable', 'nope'), ('disable', '-f', 'nope'), ('logs', 'nope'),
                     ('logs', '-f', 'nope')):
            _, err = self.ctl_fail(EXIT_NO_SUCH_PLUGIN, *args)
            self.assertTrue(err.startswith('Error: '), err)
            self.assertNotIn('GDBus.Error', err)

    def test_usage_errors(self):
        for args in ((), ('frobnicate',), ('--bogus',), ('ls', '--bogus'), ('ls', 'extra'),
                     ('create',), ('create', 'only-name'), ('create', 'a', 'b', 'c'),
                     ('inspect',), ('set', 'x'), ('rm',), ('inspect', '-f'),
                     ('enable',), ('enable', 'a', 'b'), ('enable', '--timeout', 'x', 'a'),
                     ('enable', '--timeout', '-1', 'a'), ('enable', '--activation-timeout', '0', 'a'),
                     ('enable', '--bogus', 'a'), ('disable',), ('disable', 'a', 'b'),
                     ('disable', '--timeout', '1', 'a'), ('logs',), ('logs', 'a', 'b'),
                     ('logs', '-n', 'x', 'a'), ('logs', '--tail', '-1', 'a'), ('logs', '-n'),
                     ('logs', '--since', 'yesterday', 'a'), ('logs', '--since', '1.2.3', 'a'),
                     ('logs', '--since', '5x', 'a'), ('logs', '--since', '', 'a'),
                     ('logs', '--since', '2026-13-01T00:00:00Z', 'a'), ('logs', '--since')):
            _, err = self.ctl_fail(EXIT_USAGE, *args)
            self.assertTrue(err, args)
        out = self.ctl_ok('--help')
        for word in ('create', 'ls', 'inspect', 'set', 'rm', 'enable', 'disable', 'logs',
                     'Exit status'):
            self.assertIn(word, out)
        self.assertIn('create', self.ctl_ok('create', '--help'))
        self.assertIn('--timeout', self.ctl_ok('enable', '--help'))
        self.assertIn('--force', self.ctl_ok('disable', '--help'))
        self.assertIn('--tail', self.ctl_ok('logs', '--help'))
        self.assertIn('--since', self.ctl_ok('logs', '--help'))
        self.assertRegex(self.ctl_ok('--version'), r'^pluginctl \d+\.\d+')


class NobodyTests(PluginctlTestCase):
    """polkitd denies nobody (no agent): exit status 3, nothing changed."""

    def test_nobody_denied(self):
        self.ctl_ok('create', 'test/mine', self.context_file(make_context()))
        path = self.get_plugin('test/mine')
        before_doc = self.inspect(path)
        d = self.context_dir(world_readable=True)
        tarball = os.path.join(d, 'context.tar')
        with open(tarball, 'wb') as f:
            f.write(make_context())
        os.chmod(tarball, 0o644)
        before = self.snapshot_state()
        for extra in ((), ('--no-ask-password',)):
            for args in (('create', '--grant-all-permissions', 'test/x', d),
                         ('create', 'test/x', tarball),
                         ('set', 'test/mine', 'DEBUG=1'),
                         ('rm', 'test/mine'),
                         ('rm', '-f', 'test/mine')):
                p = self.ctl(*(extra + args), nobody=True)
                self.assertEqual(p.returncode, EXIT_NOT_AUTHORIZED,
                                 'nobody: pluginctl %s gave %d: %s' %
                                 (' '.join(extra + args), p.returncode, p.stderr.decode()))
                self.assertTrue(p.stderr.decode().startswith('Error: '), p.stderr)
                self.assertNotIn('GDBus.Error', p.stderr.decode())
        self.assertEqual(self.snapshot_state(), before)
        self.assertEqual(self.inspect(path), before_doc)
        self.assertNoPlugin('test/x')
        # reads need no authorization
        p = self.ctl('ls', nobody=True)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertIn('test/mine:latest', p.stdout.decode())
        p = self.ctl('inspect', 'test/mine', nobody=True)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        hidden = json.loads(json.dumps(before_doc))
        hidden['Settings']['Env'] = ['DEBUG=<hidden>']
        hidden['Settings']['Args'] = ['<hidden>']
        self.assertEqual(json.loads(p.stdout.decode()), [hidden])


# ESC, BEL, CSI as a C1 control, DEL, a byte that is not UTF-8, a real "é", CR and a tab
HOSTILE_TARGET = b'\x1b[31m\x07\xc2\x9b\x7f\xff\xc3\xa9\r\tend'


def terminal_safe(data):
    """What pluginctl logs shows on a terminal: C0 controls but \\n and \\t, DEL, C1 controls
    and bytes that are not UTF-8 as \\xHH."""
    out = b''
    i = 0
    while i < len(data):
        c = data[i]
        if c < 0x80:
            out += bytes([c]) if c in b'\n\t' or 0x20 <= c < 0x7f else b'\\x%02x' % c
            i += 1
            continue
        for n in (2, 3, 4):
            try:
                cp = ord(data[i:i + n].decode('utf-8'))
                break
            except UnicodeDecodeError:
                continue
        else:
            out += b'\\x%02x' % c
            i += 1
            continue
        out += b'\\x%02x' % cp if cp < 0xa0 else data[i:i + n]
        i += n
    return out


class RunTests(PluginctlTestCase):
    """enable, disable and logs with the real example plugin in its sandbox."""

    NAME = 'plugind/example'

    def setUp(self):
        super().setUp()
        with open(EXAMPLE_CONTEXT, 'rb') as f:
            context = f.read()
        self.path, _ = self.create_ok(self.NAME, context, options=opts(grant_all_privileges=True))
        self.data_dir = tempfile.mkdtemp(prefix='example-data-', dir=self.tmpdir)
        # DEBUG=1: the example logs every request
        self.set_settings(self.path, {'data': self.data_dir, 'DEBUG': '1'})

    def state(self):
        return self.plugin_prop(self.path, 'State')

    def enabled_column(self):
        rows = self.ctl_ok('ls').splitlines()[1:]
        self.assertEqual(len(rows), 1, rows)
        return rows[0].split()[-1]

    def test_enable_disable(self):
        self.assertEqual(self.enabled_column(), 'false')
        self.assertEqual(self.ctl_ok('enable', self.NAME), self.NAME + '\n')
        self.assertEqual(self.state(), 'running')
        self.assertTrue(self.plugin_prop(self.path, 'Enabled'))
        self.assertEqual(self.enabled_column(), 'true')
        doc = json.loads(self.ctl_ok('ls', '--format', 'json'))
        self.assertEqual((doc['Enabled'], doc['State']), (True, 'running'))
        self.assertIs(json.loads(self.ctl_ok('inspect', self.NAME))[0]['Enabled'], True)
        status, reply = plugin_call(self.plugin_prop(self.path, 'Socket'), 'VolumeDriver.List')
        self.assertEqual((status, reply['Volumes']), (200, []))

        # already enabled: the daemon's PluginEnabled message, nothing changed
        _, err = self.ctl_fail(EXIT_FAILURE, 'enable', self.NAME)
        self.assertTrue(err.startswith('Error: '), err)
        self.assertIn('already enabled', err)
        self.assertNotIn('GDBus.Error', err)
        self.assertEqual(self.state(), 'running')

        self.assertEqual(self.ctl_ok('disable', self.NAME), self.NAME + '\n')
        self.assertEqual(self.state(), 'disabled')
        self.assertFalse(self.plugin_prop(self.path, 'Enabled'))
        self.assertEqual(self.enabled_column(), 'false')
        doc = json.loads(self.ctl_ok('ls', '--format', 'json'))
        self.assertEqual((doc['Enabled'], doc['State']), (False, 'disabled'))

        # already disabled
        _, err = self.ctl_fail(EXIT_FAILURE, 'disable', self.NAME)
        self.assertTrue(err.startswith('Error: '), err)
        self.assertIn('disabled', err)

        # the options, by ID prefix; -f disables a held plugin too
        pid = self.plugin_prop(self.path, 'Id')
        self.assertEqual(self.ctl_ok('--no-ask-password', 'enable', '--timeout', '30',
                                     '--activation-timeout', '60000', pid[:12]),
                         pid[:12] + '\n')
        self.assertEqual(self.state(), 'running')
        self.assertEqual(self.ctl_ok('disable', '-f', self.NAME), self.NAME + '\n')
        self.assertEqual(self.state(), 'disabled')
        self.ctl_ok('enable', self.NAME)
        self.assertEqual(self.ctl_ok('disable', '--force', '--no-ask-password', self.NAME),
                         self.NAME + '\n')

    def test_enable_failure_shows_the_error(self):
        # a bind mount whose host dir does not exist: the sandbox cannot start
        self.set_settings(self.path, {'data': os.path.join(self.tmpdir, 'missing')})
        p = self.ctl('enable', self.NAME)
        self.assertEqual(p.returncode, EXIT_FAILURE, p.stderr)
        self.assertEqual(p.stdout, b'')
        no_controls(self, p.stderr, 'stderr')
        err = p.stderr.decode()
        self.assertTrue(err.startswith('Error: '), err)
        self.assertNotIn('GDBus.Error', err)
        self.assertIn(self.plugin_prop(self.path, 'LastErrorMessage').splitlines()[0], err)
        self.assertEqual(self.state(), 'failed')

    def test_logs(self):
        self.ctl_ok('enable', self.NAME)
        sock = self.plugin_prop(self.path, 'Socket')
        plugin_call(sock, 'VolumeDriver.Create', {'Name': 'first', 'Opts': {}})
        plugin_call(sock, 'VolumeDriver.Get', {'Name': 'first'})
        out = self.ctl_ok('logs', self.NAME)
        self.assertIn('VolumeDriver.Create', out)
        self.assertIn('VolumeDriver.Get', out)
        self.assertGreater(out.count('\n'), 1)
        for args in (('-n', '1'), ('--tail', '1'), ('--tail=1',)):
            self.assertLessEqual(self.ctl_ok('logs', *args, self.NAME).count('\n'), 1, args)
        self.assertEqual(self.ctl_ok('logs', '-n', '0', self.NAME), '')
        self.assertEqual(self.ctl_ok('logs', '--tail', 'all', self.NAME), out)

        # -f: what comes later, until the plugin is disabled by another process
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL='C.UTF-8')
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        follower = subprocess.Popen([PLUGINCTL, 'logs', '-f', '-n', '1', self.NAME], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # the first line (the tail) shows that the log is open
            got = b''
            deadline = time.monotonic() + 20 * TIMEOUT_MULT
            while b'\n' not in got:
                self.assertLess(time.monotonic(), deadline, 'no output from logs -f')
                r, _, _ = select.select([follower.stdout], [], [], 0.5)
                if r:
                    chunk = os.read(follower.stdout.fileno(), 65536)
                    self.assertNotEqual(chunk, b'', 'logs -f ended early: %r' % got)
                    got += chunk
            plugin_call(sock, 'VolumeDriver.Remove', {'Name': 'first'})
            time.sleep(0.2)
            self.assertIsNone(follower.poll(), 'logs -f ended while the plugin runs')
            self.ctl_ok('disable', self.NAME)
            rest, err = follower.communicate(timeout=30 * TIMEOUT_MULT)
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.communicate()
        self.assertEqual(follower.returncode, 0, err)
        self.assertIn('VolumeDriver.Remove', (got + rest).decode(errors='replace'))

        # the log outlives the run
        self.assertIn('VolumeDriver.Remove', self.ctl_ok('logs', '--tail', 'all', self.NAME))

    def test_logs_since_and_timestamps(self):
        self.ctl_ok('enable', self.NAME)
        sock = self.plugin_prop(self.path, 'Socket')
        plugin_call(sock, 'VolumeDriver.Create', {'Name': 'early', 'Opts': {}})
        time.sleep(1.1)
        middle = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(0.1)
        plugin_call(sock, 'VolumeDriver.Get', {'Name': 'early'})
        self.ctl_ok('disable', self.NAME)
        plain = self.ctl_ok('logs', '-n', 'all', self.NAME)
        # -t: every line begins with the time its first byte arrived, RFC 3339 in UTC
        stamped = self.ctl_ok('logs', '-t', '-n', 'all', self.NAME)
        stamp = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z ')
        lines = stamped.splitlines()
        self.assertEqual(len(lines), len(plain.splitlines()))
        for line, bare in zip(lines, plain.splitlines()):
            m = stamp.match(line)
            self.assertIsNotNone(m, line)
            self.assertEqual(line[m.end():], bare)
        self.assertEqual(self.ctl_ok('logs', '--timestamps', '--tail', '2', self.NAME),
                         '\n'.join(lines[-2:]) + '\n')
        # --since: an RFC 3339 time (Z or an offset), or a duration back from now
        for since in (middle.strftime('%Y-%m-%dT%H:%M:%S.%fZ'),
                      middle.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
                      .isoformat()):
            later = self.ctl_ok('logs', '--since', since, '-n', 'all', self.NAME)
            self.assertIn('VolumeDriver.Get', later, since)
            self.assertNotIn('VolumeDriver.Create', later, since)
            self.assertTrue(plain.endswith(later), since)
        for since in ('1h', '1h30m', '90m', '10m', '%ds' % (time.time() - 1000000000)):
            self.assertEqual(self.ctl_ok('logs', '--since', since, '-n', 'all', self.NAME),
                             plain, since)
        self.assertEqual(self.ctl_ok('logs', '--since', '-1h', self.NAME), '')
        # seconds since the epoch, and -n counting from the end of what --since leaves
        last = self.ctl_ok('logs', '--since', '%.6f' % middle.timestamp(), '-n', '1', self.NAME)
        self.assertEqual(last.count('\n'), 1)
        self.assertTrue(plain.endswith(last))

    def test_logs_on_a_terminal(self):
        self.ctl_ok('enable', self.NAME)
        sock = self.plugin_prop(self.path, 'Socket')
        plugin_call(sock, 'VolumeDriver.List')
        # the example logs the request target as it came: plugin output may hold anything
        conn = PluginHTTPConnection(sock)
        conn.connect()
        try:
            conn.sock.sendall(b'POST /evil' + HOSTILE_TARGET +
                              b' HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')
            conn.sock.recv(65536)
        finally:
            conn.close()
        self.ctl_ok('disable', self.NAME)
        # not a terminal: the bytes as they are
        raw = self.ctl('logs', '--tail', 'all', self.NAME).stdout
        self.assertIn(b'/evil' + HOSTILE_TARGET, raw)
        # the log as a terminal gets it: controls other than \n and \t escaped
        p, shown = self.ctl_terminal('logs', '--tail', 'all', self.NAME)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(shown, terminal_safe(raw))
        self.assertIn(b'VolumeDriver.List', shown)
        self.assertIn(b'/evil\\x1b[31m\\x07\\x9b\\x7f\\xff\xc3\xa9\\x0d\tend', shown)
        no_controls(self, shown, 'logs on a terminal')
        self.assertNotIn(b'\x07', shown)

    def test_nobody_denied(self):
        for extra in ((), ('--no-ask-password',)):
            for args in (('enable', self.NAME), ('logs', self.NAME),
                         ('logs', '-f', self.NAME)):
                p = self.ctl(*(extra + args), nobody=True)
                self.assertEqual(p.returncode, EXIT_NOT_AUTHORIZED,
                                 'nobody: pluginctl %s gave %d: %s' %
                                 (' '.join(extra + args), p.returncode, p.stderr.decode()))
                self.assertTrue(p.stderr.decode().startswith('Error: '), p.stderr)
                self.assertEqual(p.stdout, b'')
        self.assertEqual(self.state(), 'disabled')
        self.ctl_ok('enable', self.NAME)
        for extra in ((), ('--no-ask-password',)):
            for args in (('disable', self.NAME), ('disable', '-f', self.NAME)):
                p = self.ctl(*(extra + args), nobody=True)
                self.assertEqual(p.returncode, EXIT_NOT_AUTHORIZED,
                                 'nobody: pluginctl %s gave %d: %s' %
                                 (' '.join(extra + args), p.returncode, p.stderr.decode()))
                self.assertTrue(p.stderr.decode().startswith('Error: '), p.stderr)
        self.assertEqual(self.state(), 'running')
        self.ctl_ok('disable', self.NAME)


class UnixHTTPConnection(http.client.HTTPConnection):

    def __init__(self, path, timeout=10):
        super().__init__('plugin.moby.localhost', timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class ExamplePluginTests(unittest.TestCase):
    """The example plugin on its socket: the Docker plugin handshake and the VolumeDriver API,
    with a temporary data directory and mount directory; no bus needed. It runs in a mount
    namespace of its own (a private one: the mounts it makes go with it)."""

    def setUp(self):
        require(EXAMPLE)
        self.dir = tempfile.mkdtemp(prefix='plugind-example-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.data = os.path.join(self.dir, 'data')
        os.mkdir(self.data)
        self.volumes = os.path.join(self.data, 'volumes')
        self.mnt = os.path.join(self.dir, 'mnt')
        os.mkdir(self.mnt)

    def start(self, *args, socket_name='example.sock', env=None, umask=-1):
        environ = dict(os.environ, PLUGIND_EXAMPLE_SOCKET_DIR=self.dir,
                       PLUGIND_EXAMPLE_DATA_DIR=self.data, PLUGIND_EXAMPLE_MOUNT_DIR=self.mnt,
                       DEBUG='1')
        environ.update(env or {})
        # the log goes to a file: a pipe nobody reads would fill up and block the plugin
        log = tempfile.TemporaryFile()
        self.addCleanup(log.close)
        p = subprocess.Popen(['unshare', '--mount', '--propagation', 'private', EXAMPLE] +
                             list(args), env=environ, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, umask=umask)
        p.log = log
        self.addCleanup(self.stop, p)
        sock = os.path.join(self.dir, socket_name)
        deadline = time.monotonic() + 10 * TIMEOUT_MULT
        while not os.path.exists(sock):
            if p.poll() is not None:
                self.fail('plugind-example exited: %r' % self.read_log(p))
            self.assertLess(time.monotonic(), deadline, 'no socket %s' % sock)
            time.sleep(0.01)
        return p, sock

    def stop(self, p):
        if p.poll() is None:
            p.kill()
        p.wait()

    def read_log(self, p):
        p.log.seek(0)
        return p.log.read().decode(errors='replace')

    def terminate(self, p, sock):
        """SIGTERM: status 0, the socket removed; returns what it logged."""
        p.send_signal(signal.SIGTERM)
        p.wait(10 * TIMEOUT_MULT)
        self.assertEqual(p.returncode, 0, self.read_log(p))
        self.assertFalse(os.path.exists(sock))
        return self.read_log(p)

    def post(self, conn, path, body=b''):
        conn.request('POST', path, body=body,
                     headers={'Accept': 'application/vnd.docker.plugins.v1.2+json'})
        r = conn.getresponse()
        return r.status, r.read()

    def call(self, conn, method, args=None, status=200):
        """POST /VolumeDriver.<method> with @args as JSON (bytes as they are); the decoded
        answer, which must have @status and be valid JSON without raw control characters."""
        body = args if isinstance(args, bytes) else b'' if args is None else \
            json.dumps(args).encode()
        got, data = self.post(conn, '/VolumeDriver.' + method, body)
        self.assertEqual(got, status, data)
        no_controls(self, data, method)
        return json.loads(data.decode('utf-8'))

    def ok(self, conn, method, args=None):
        doc = self.call(conn, method, args)
        self.assertEqual(doc.get('Err', ''), '', (method, args, doc))
        return doc

    def err(self, conn, method, args, contains):
        """An operation error: a 200 whose Err says @contains."""
        doc = self.call(conn, method, args)
        self.assertIn(contains, doc.get('Err', ''), (method, args, doc))
        return doc

    def mountpoint(self, name):
        """Where the volume is mounted while in use: what the plugin answers."""
        return os.path.join(self.mnt, name)

    def volume_dir(self, name):
        """What the volume holds."""
        return os.path.join(self.volumes, name)

    def plugin_mounts(self, p):
        """(mount point, root) of the mounts beneath the mount dir, in the plugin's namespace."""
        out = []
        with open('/proc/%d/mountinfo' % p.pid) as f:
            for line in f:
                fields = line.split()
                if fields[4].startswith(self.mnt + '/'):
                    out.append((fields[4], fields[3]))
        return sorted(out)

    def volume_names(self):
        return sorted(os.listdir(self.volumes)) if os.path.isdir(self.volumes) else []

    def test_activate(self):
        p, sock = self.start()
        conn = UnixHTTPConnection(sock)
        status, body = self.post(conn, '/Plugin.Activate')
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {'Implements': ['VolumeDriver']})
        # the same connection stays usable (the daemon's client keeps connections alive)
        status, body = self.post(conn, '/VolumeDriver.Nope', b'{"Name": "x"}')
        self.assertEqual(status, 404)
        self.assertIn('Err', json.loads(body))
        self.assertEqual(self.call(conn, 'Capabilities', b'{}'),
                         {'Capabilities': {'Scope': 'local'}})
        conn.close()
        self.terminate(p, sock)

    def test_socket_name_argument(self):
        p, sock = self.start('other.sock', socket_name='other.sock')
        status, body = self.post(UnixHTTPConnection(sock), '/Plugin.Activate')
        self.assertEqual(status, 200)

    def test_volume_lifecycle(self):
        # a strict umask does not change the volumes' mode
        p, sock = self.start(umask=0o077)
        conn = UnixHTTPConnection(sock)
        # no volumes/ yet: an empty list, with and without a body (Docker sends "{}")
        self.assertEqual(self.call(conn, 'List', {}), {'Volumes': [], 'Err': ''})
        self.assertEqual(self.call(conn, 'List'), {'Volumes': [], 'Err': ''})
        self.assertEqual(self.call(conn, 'Capabilities'), {'Capabilities': {'Scope': 'local'}})

        self.assertEqual(self.call(conn, 'Create', {'Name': 'vol1', 'Opts': {}}), {'Err': ''})
        self.assertEqual(self.call(conn, 'Create', {'Name': 'b.2_x-y', 'Opts': None}),
                         {'Err': ''})
        longest = 'L' * 255
        self.ok(conn, 'Create', {'Name': longest})
        for d in (self.volumes, self.volume_dir('vol1'), self.volume_dir('b.2_x-y')):
            st = os.lstat(d)
            self.assertTrue(stat.S_ISDIR(st.st_mode), d)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o755, d)
        # creating it again is fine, and keeps what it holds
        with open(os.path.join(self.volume_dir('vol1'), 'file'), 'w') as f:
            f.write('kept')
        self.ok(conn, 'Create', {'Name': 'vol1'})
        with open(os.path.join(self.volume_dir('vol1'), 'file')) as f:
            self.assertEqual(f.read(), 'kept')
        self.assertEqual(self.plugin_mounts(p), [])

        # List reads the directory, sorted by name; Mountpoint is where the plugin mounts it
        self.assertEqual(self.call(conn, 'List', {}), {'Volumes': [
            {'Name': n, 'Mountpoint': self.mountpoint(n)}
            for n in ('L' * 255, 'b.2_x-y', 'vol1')], 'Err': ''})
        self.assertEqual(self.call(conn, 'Get', {'Name': 'vol1'}), {'Volume': {
            'Name': 'vol1', 'Mountpoint': self.mountpoint('vol1'), 'Status': {'Mounts': 0}},
            'Err': ''})
        self.assertEqual(self.call(conn, 'Path', {'Name': 'vol1'}),
                         {'Mountpoint': self.mountpoint('vol1'), 'Err': ''})

        # mounts are counted per caller ID; the first mounts the volume's directory at its
        # Mountpoint, a real mount of its own, which the others share
        for caller in ('c1', 'c1', 'c2'):
            self.assertEqual(self.call(conn, 'Mount', {'Name': 'vol1', 'ID': caller}),
                             {'Mountpoint': self.mountpoint('vol1'), 'Err': ''})
        self.assertEqual(self.call(conn, 'Get', {'Name': 'vol1'})['Volume']['Status'],
                         {'Mounts': 3})
        self.assertEqual(self.plugin_mounts(p), [(self.mountpoint('vol1'),
                                                  self.volume_dir('vol1'))])
        with open('/proc/%d/root%s/file' % (p.pid, self.mountpoint('vol1'))) as f:
            self.assertEqual(f.read(), 'kept')
        self.err(conn, 'Remove', {'Name': 'vol1'}, 'is in use')
        self.assertTrue(os.path.isdir(self.volume_dir('vol1')))
        self.err(conn, 'Unmount', {'Name': 'vol1', 'ID': 'c3'}, 'not mounted by "c3"')
        self.err(conn, 'Unmount', {'Name': 'b.2_x-y', 'ID': 'c1'}, 'not mounted')
        self.assertEqual(self.call(conn, 'Unmount', {'Name': 'vol1', 'ID': 'c1'}), {'Err': ''})
        self.ok(conn, 'Unmount', {'Name': 'vol1', 'ID': 'c2'})
        self.err(conn, 'Remove', {'Name': 'vol1'}, 'is in use')
        self.assertEqual(self.call(conn, 'Get', {'Name': 'vol1'})['Volume']['Status'],
                         {'Mounts': 1})
        self.assertEqual(len(self.plugin_mounts(p)), 1)
        self.ok(conn, 'Unmount', {'Name': 'vol1', 'ID': 'c1'})
        self.err(conn, 'Unmount', {'Name': 'vol1', 'ID': 'c1'}, 'not mounted')
        # the last unmount takes the mount and its Mountpoint away
        self.assertEqual(self.plugin_mounts(p), [])
        self.assertFalse(os.path.lexists(self.mountpoint('vol1')))
        # a mount without an ID (Docker before 1.12) is a caller of its own
        self.ok(conn, 'Mount', {'Name': 'b.2_x-y'})
        self.err(conn, 'Remove', {'Name': 'b.2_x-y'}, 'is in use')
        self.ok(conn, 'Unmount', {'Name': 'b.2_x-y'})

        # Remove deletes the tree, and never follows a symlink a container left in it
        outside = os.path.join(self.dir, 'outside')
        os.mkdir(outside)
        with open(os.path.join(outside, 'precious'), 'w') as f:
            f.write('x')
        deep = os.path.join(self.volume_dir('vol1'), 'a', 'b', 'c')
        os.makedirs(deep)
        os.symlink(outside, os.path.join(deep, 'link'))
        os.symlink(outside, os.path.join(self.volume_dir('vol1'), 'dirlink'))
        os.mkfifo(os.path.join(deep, 'fifo'))
        self.assertEqual(self.call(conn, 'Remove', {'Name': 'vol1'}), {'Err': ''})
        self.assertFalse(os.path.lexists(self.volume_dir('vol1')))
        self.assertEqual(os.listdir(outside), ['precious'])
        self.err(conn, 'Get', {'Name': 'vol1'}, 'no such volume "vol1"')
        self.err(conn, 'Remove', {'Name': 'vol1'}, 'no such volume')
        self.assertEqual([v['Name'] for v in self.call(conn, 'List', {})['Volumes']],
                         ['L' * 255, 'b.2_x-y'])

        # the directories are the state: a new process lists them, with no mounts
        log = self.terminate(p, sock)
        self.assertIn('/VolumeDriver.Create: created "vol1"', log)
        self.assertIn('/VolumeDriver.Remove: removed "vol1"', log)
        p, sock = self.start()
        conn = UnixHTTPConnection(sock)
        self.assertEqual([v['Name'] for v in self.call(conn, 'List', {})['Volumes']],
                         ['L' * 255, 'b.2_x-y'])
        self.assertEqual(self.call(conn, 'Get', {'Name': 'b.2_x-y'})['Volume']['Status'],
                         {'Mounts': 0})
        self.ok(conn, 'Remove', {'Name': 'b.2_x-y'})
        self.ok(conn, 'Remove', {'Name': longest})
        self.assertEqual(self.volume_names(), [])
        self.terminate(p, sock)

    def test_volume_errors(self):
        p, sock = self.start()
        conn = UnixHTTPConnection(sock)
        bad_names = ['', 'a', '-ab', '_ab', '.x', '..', '...', '../etc', 'a/b', '/abs', 'a b',
                     'a\\b', 'ab\n', 'é1', 'a\u001b[2K', 'x' * 256]
        for name in bad_names:
            for method in ('Create', 'Remove', 'Mount', 'Path', 'Unmount', 'Get'):
                with self.subTest(name=name, method=method):
                    doc = self.err(conn, method, {'Name': name, 'ID': 'c1'},
                                   'invalid volume name')
                    # the name is quoted with its controls escaped, and cut when long
                    self.assertLess(len(doc['Err']), 400)
        # a missing or null Name is an empty one
        self.err(conn, 'Create', {}, 'invalid volume name ""')
        self.err(conn, 'Create', {'Name': None}, 'invalid volume name ""')
        self.assertEqual(self.volume_names(), [])
        self.assertEqual(sorted(os.listdir(self.dir)), ['data', 'example.sock', 'mnt'])

        # unknown volumes
        for method in ('Remove', 'Mount', 'Path', 'Get'):
            self.err(conn, method, {'Name': 'nope', 'ID': 'c1'}, 'no such volume "nope"')
        self.err(conn, 'Unmount', {'Name': 'nope', 'ID': 'c1'}, 'not mounted')
        # options are refused: this driver has none
        self.err(conn, 'Create', {'Name': 'opt', 'Opts': {'size': '1G'}},
                 'invalid option "size"')
        self.err(conn, 'Create', {'Name': 'opt', 'Opts': {'': ''}}, 'invalid option ""')
        self.err(conn, 'Create', {'Name': 'opt', 'Opts': {'a': None, 'b': 'c'}},
                 'invalid option "a"')
        self.assertEqual(self.volume_names(), [])
        self.err(conn, 'Mount', {'Name': 'opt', 'ID': 'i' * 256}, 'invalid mount ID')

        # what is not a directory under volumes/ is no volume, and is left alone
        os.mkdir(self.volumes)
        with open(os.path.join(self.volumes, 'afile'), 'w') as f:
            f.write('x')
        target = os.path.join(self.dir, 'target')
        os.mkdir(target)
        os.symlink(target, os.path.join(self.volumes, 'alink'))
        os.mkdir(os.path.join(self.volumes, '.hidden'))
        self.assertEqual(self.call(conn, 'List', {}), {'Volumes': [], 'Err': ''})
        for name in ('afile', 'alink'):
            for method in ('Get', 'Path', 'Mount', 'Remove'):
                self.err(conn, method, {'Name': name, 'ID': 'c1'}, 'no such volume')
            self.err(conn, 'Create', {'Name': name}, 'in the way')
        self.assertTrue(os.path.isdir(target))
        self.assertEqual(sorted(os.listdir(self.volumes)), ['.hidden', 'afile', 'alink'])
        self.terminate(p, sock)

    def test_request_bodies(self):
        p, sock = self.start()
        conn = UnixHTTPConnection(sock)
        self.ok(conn, 'Create', {'Name': 'vol1'})
        # what Go's encoding/json accepts: keys in any case, the last of repeated keys wins,
        # unknown fields and every kind of value ignored, escapes decoded
        self.ok(conn, 'Get', b'{"name": "vol1"}')
        self.ok(conn, 'Get', b'{"Name": "nope", "Name": "vol1"}')
        self.ok(conn, 'Get', b' \r\n\t{"X": [1, -2.5e+3, 0, true, false, null, {"a": [[]]}, '
                             b'"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"], '
                             b'"Name": "v\\u006Fl1"} \n')
        self.ok(conn, 'Mount', b'{"Name": "vol1", "ID": "\\u00e9\\ud83d\\ude00"}')
        self.err(conn, 'Unmount', {'Name': 'vol1', 'ID': 'other'}, 'not mounted')
        self.ok(conn, 'Unmount', {'Name': 'vol1', 'ID': '\u00e9\U0001f600'})

        bad = [b'{', b'}', b'[]', b'"Name"', b'null', b'{"Name": "vol1"', b'{"Name" "vol1"}',
               b'{"Name": "vol1",}', b'{"Name": "vol1"} {}', b'{"Name": vol1}',
               b'{"Name": 1}', b'{"Name": ["vol1"]}', b'{"ID": {}}', b'{"Opts": []}',
               b'{"Opts": {"a": 1}}', b'{"Opts": {"a": null"x"}}', b'{"Opts": {"a"}}',
               b'{"Name": "a\x01b"}', b'{"Name": "\xff\xfe"}',
               b'{"Name": "\xc0\xaf"}', b'{"Name": "\xed\xa0\x80"}', b'{"Name": "\\ud800"}',
               b'{"Name": "\\udc00x"}', b'{"Name": "\\u00"}', b'{"Name": "\\x41"}',
               b'{"Name": "vol\\u00001"}', b'{"X": 01}', b'{"X": 1.}', b'{"X": -}',
               b'{"X": tru}', b'{"X": nul}', b'\x00', '{"Name": "é"}'.encode('latin-1'),
               b'[' * 100000, b'{"X":' * 50 + b'1' + b'}' * 50,
               b'{"Name": "' + b'n' * 2000 + b'"}']
        for body in bad:
            for method in ('Create', 'Get', 'Mount', 'List', 'Capabilities'):
                with self.subTest(body=body[:40], method=method):
                    doc = self.call(conn, method, body, status=400)
                    self.assertTrue(doc['Err'].startswith('invalid request body: '), doc)
        # the nesting limit is generous enough for any real request
        self.ok(conn, 'List', b'{"X":' * 20 + b'1' + b'}' * 20)
        status, _ = self.post(conn, '/VolumeDriver.Get',
                              b'{"Name": "vol1", "X":' + b'[' * 20 + b']' * 20 + b'}')
        self.assertEqual(status, 200)

        # random garbage: always a JSON answer, never a crash
        rng = random.Random(3)
        seeds = [b'{"Name": "vol1", "ID": "c\\u00e9", "Opts": {"a": "b"}}',
                 b'{"X": [1, 2.5e-3, {"y": null}], "Name": "ab"}']
        for i in range(3000):
            body = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                pos = rng.randint(0, len(body))
                body[pos:pos] = rng.choice([bytes([rng.randint(0, 255)]), b'"', b'\\', b'{',
                                            b'}', b'[', b':', b',', b'\\u', b'\xc3'])
            method = rng.choice(('Create', 'Get', 'Mount', 'Unmount', 'Path', 'List'))
            status, data = self.post(conn, '/VolumeDriver.' + method, bytes(body))
            self.assertIn(status, (200, 400), data)
            self.assertIn('Err', json.loads(data))
            no_controls(self, data, 'garbage answer')

        # a body over the limit is refused before it is read
        status, data = self.post(UnixHTTPConnection(sock), '/VolumeDriver.Create',
                                 b'{"Name": "big", "X": "' + b'x' * (1024 * 1024) + b'"}')
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(data), {'Err': 'request body too large'})
        # one under the limit is parsed, and refused for what it holds
        doc = self.call(UnixHTTPConnection(sock), 'Create',
                        b'{"Name": "' + b'x' * (1000 * 1000) + b'"}', status=400)
        self.assertIn('too long', doc['Err'])
        doc = self.call(UnixHTTPConnection(sock), 'Create',
                        b'{"X": "' + b'x' * (1000 * 1000) + b'", "Name": "big"}')
        self.assertEqual(doc, {'Err': ''})
        self.assertIn('big', self.volume_names())
        self.assertEqual(self.post(UnixHTTPConnection(sock), '/Plugin.Activate')[0], 200)
        self.terminate(p, sock)

    def test_concurrent_connections(self):
        p, sock = self.start()
        # idle connections (a silent one, one with half a request) do not block the others
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        silent.connect(sock)
        half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        half.connect(sock)
        half.sendall(b'POST /VolumeDriver.Create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"Na')
        self.addCleanup(silent.close)
        self.addCleanup(half.close)

        n_workers = 16
        errors = []

        def worker(i):
            try:
                conn = UnixHTTPConnection(sock)
                name = 'vol%02d' % i
                self.ok(conn, 'Create', {'Name': name})
                # every worker mounts the shared volume and its own, several times
                for n in range(10):
                    self.ok(conn, 'Mount', {'Name': 'shared', 'ID': 'w%d' % i})
                    self.ok(conn, 'Mount', {'Name': name, 'ID': 'w%d-%d' % (i, n)})
                    self.ok(conn, 'List', {})
                for n in range(10):
                    self.ok(conn, 'Unmount', {'Name': name, 'ID': 'w%d-%d' % (i, n)})
                if i % 2:
                    self.ok(conn, 'Remove', {'Name': name})
                conn.close()
            except Exception as e:  # noqa: BLE001 -- reported by the main thread
                errors.append(e)

        conn = UnixHTTPConnection(sock)
        self.ok(conn, 'Create', {'Name': 'shared'})
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60 * TIMEOUT_MULT)
        self.assertEqual(errors, [])
        self.assertEqual(self.call(conn, 'Get', {'Name': 'shared'})['Volume']['Status'],
                         {'Mounts': n_workers * 10})
        self.err(conn, 'Remove', {'Name': 'shared'}, 'mounted 160 times')
        self.assertEqual([v['Name'] for v in self.call(conn, 'List', {})['Volumes']],
                         ['shared'] + ['vol%02d' % i for i in range(0, n_workers, 2)])
        # SIGTERM with connections open: status 0, the socket gone, the volumes kept
        self.terminate(p, sock)
        self.assertEqual(self.volume_names(),
                         ['shared'] + ['vol%02d' % i for i in range(0, n_workers, 2)])

    def test_data_dir(self):
        # a trailing slash is dropped from Mountpoints; a relative directory is refused
        self.data += '//'
        self.mnt += '/'
        p, sock = self.start(env={'DEBUG': '0'})
        conn = UnixHTTPConnection(sock)
        self.ok(conn, 'Create', {'Name': 'vol1'})
        self.assertEqual(self.call(conn, 'Path', {'Name': 'vol1'})['Mountpoint'],
                         os.path.join(self.dir, 'mnt', 'vol1'))
        self.assertTrue(os.path.isdir(os.path.join(self.dir, 'data', 'volumes', 'vol1')))
        # DEBUG=0: nothing logged
        self.assertEqual(self.terminate(p, sock), '')
        for variable, what in (('PLUGIND_EXAMPLE_DATA_DIR', b'invalid data directory'),
                               ('PLUGIND_EXAMPLE_MOUNT_DIR', b'invalid mount directory')):
            env = dict(os.environ, PLUGIND_EXAMPLE_SOCKET_DIR=self.dir)
            env[variable] = 'relative'
            r = subprocess.run([EXAMPLE], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=10 * TIMEOUT_MULT)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(what, r.stderr)
        # a mount directory that is not there: Mount says so, and counts nothing
        self.mnt = os.path.join(self.dir, 'missing')
        p, sock = self.start()
        conn = UnixHTTPConnection(sock)
        self.err(conn, 'Mount', {'Name': 'vol1', 'ID': 'c1'},
                 'mounting volume "vol1" at %s: No such file or directory' % self.mnt)
        self.assertEqual(self.call(conn, 'Get', {'Name': 'vol1'})['Volume']['Status'],
                         {'Mounts': 0})
        self.terminate(p, sock)
        # a data directory that cannot hold volumes: an Err, not a crash
        blocked = os.path.join(self.dir, 'blocked')
        with open(blocked, 'w') as f:
            f.write('x')
        self.data = blocked
        p, sock = self.start()
        conn = UnixHTTPConnection(sock)
        self.err(conn, 'Create', {'Name': 'vol1'}, 'blocked/volumes: Not a directory')
        self.err(conn, 'List', {}, 'Not a directory')
        self.err(conn, 'Get', {'Name': 'vol1'}, 'no such volume')
        self.terminate(p, sock)

    def test_partial_and_bad_requests(self):
        p, sock = self.start()

        def raw(chunks, delay=0.0):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(sock)
            for c in chunks:
                s.sendall(c)
                if delay:
                    time.sleep(delay)
            s.shutdown(socket.SHUT_WR)
            data = b''
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            s.close()
            return data

        req = b'POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'
        # one byte at a time
        out = raw([req[i:i + 1] for i in range(len(req))], delay=0.001)
        self.assertTrue(out.startswith(b'HTTP/1.1 200 '), out)
        self.assertTrue(out.endswith(b'{"Implements":["VolumeDriver"]}'), out)
        # two pipelined requests in one write
        out = raw([req + req])
        self.assertEqual(out.count(b'HTTP/1.1 200 '), 2, out)
        # garbage, a bad Content-Length, chunked bodies, a huge head
        self.assertTrue(raw([b'garbage\r\n\r\n']).startswith(b'HTTP/1.1 400 '))
        self.assertTrue(raw([b'POST /Plugin.Activate HTTP/1.1\r\nContent-Length: x\r\n\r\n'])
                        .startswith(b'HTTP/1.1 400 '))
        self.assertTrue(raw([b'POST /Plugin.Activate HTTP/1.1\r\n'
                             b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n'])
                        .startswith(b'HTTP/1.1 501 '))
        self.assertTrue(raw([b'POST /x HTTP/1.1\r\nX: ' + b'a' * 20000 + b'\r\n\r\n'])
                        .startswith(b'HTTP/1.1 431 '))
        self.assertTrue(raw([b'GET /Plugin.Activate HTTP/1.1\r\n\r\n'])
                        .startswith(b'HTTP/1.1 405 '))
        # a truncated request and a silent client do not stop it from serving others
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        silent.connect(sock)
        raw([req[:20]])
        status, _ = self.post(UnixHTTPConnection(sock), '/Plugin.Activate')
        self.assertEqual(status, 200)
        silent.close()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(10 * TIMEOUT_MULT), 0)


if __name__ == '__main__':
    main()
