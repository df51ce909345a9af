#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""An unprivileged caller against the Plugin objects, which the daemon exports with a D-Bus
vtable of its own (src/daemon/pd-plugin.c): every refused call gets the error gdbus-codegen's
skeleton gave, a plugin that never ran shows a new runner's values, calls on a plugin removed a
moment ago are answered, values shared between plugins stay each plugin's own, a client that
follows PropertiesChanged converges to what Get says, and thousands of calls keep nothing in the
daemon."""

import json
import os
import xml.etree.ElementTree as ET

from gi.repository import Gio, GLib

from pd_testcase import (BUS_NAME, DBUS_ERR, DENIED, MANAGER_IFACE, OM_IFACE, PLUGIN_IFACE,
                         PROPS_IFACE, ROOT_PATH, SRCDIR, VALGRIND, PlugindTestCase, main,
                         make_context, opts)
from registry_testcase import RegistryTestCase
from test_properties import RUNNER, runner_config

INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable'
PEER = 'org.freedesktop.DBus.Peer'

# (signature, arguments) of every Plugin method, each a signature it does not take
WRONG_ARGS = {
    'Enable': ('(s)', ['x']), 'Disable': ('', []), 'OpenLog': ('(a{ss})', [{}]),
    'ReadLog': ('(a{sv}s)', [{}, 'x']), 'Hold': ('(s)', ['only one']),
    'Set': ('(a{sv})', [{}]), 'Upgrade': ('(sa{sv})', ['x', {}]), 'Push': ('(u)', [1]),
    'Remove': ('(as)', [[]]), 'Inspect': ('(s)', ['x']), 'GetSettingValues': ('(b)', [True]),
}

# calls many times over as nobody; prints {"outcome of each call": count}
LOOP = r'''
import json, os, sys
import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib
spec = json.loads(sys.argv[1])
conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
seen = {}
for _ in range(spec['rounds']):
    for path, iface, method, sig, args in spec['calls']:
        try:
            conn.call_sync('org.plugind.Plugind1', path, iface, method,
                           GLib.Variant('(' + sig + ')', tuple(args)) if sig else None, None,
                           Gio.DBusCallFlags.NONE, -1, None)
            what = 'ok'
        except GLib.Error as e:
            what = Gio.DBusError.get_remote_error(e) or str(e)
        key = '%s.%s %s' % (iface, method, what)
        seen[key] = seen.get(key, 0) + 1
print(json.dumps({'uid': os.getuid(), 'seen': seen}))
'''


def plain(value):
    """value as nobody_call.py gives it (through JSON: tuples are lists)."""
    return json.loads(json.dumps(value))


def xml_properties():
    """{name: D-Bus type} of the Plugin interface's properties, in the XML's order."""
    root = ET.parse(os.path.join(SRCDIR, 'data', PLUGIN_IFACE + '.xml')).getroot()
    return {p.get('name'): p.get('type') for p in root.iter('property')}


class VtableAttackTests(PlugindTestCase):

    def setUp(self):
        super().setUp()
        with open(RUNNER, 'rb') as f:
            self.files = {'runner-plugin': (f.read(), 0o755)}

    def create_runner(self, name):
        path, _ = self.create_ok(name, make_context(runner_config(), self.files),
                                 options=opts(grant_all_privileges=True))
        self.wait_until(lambda: self.plugin_prop(path, 'Job') == '/', msg='Job is /')
        return path

    def nobody_error(self, *args, **kwargs):
        result, err = self.nobody_call(*args, **kwargs)
        self.assertIsNotNone(err, 'nobody got an answer to %s: %r' % (args[2], result))
        return (err.name, err.message)

    def daemon_rss_kib(self):
        with open('/proc/%d/status' % self.daemon.pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        self.fail('no VmRSS')

    def nobody_loop(self, calls, rounds):
        """{'Iface.Method outcome': count} of rounds × calls made as nobody in one process."""
        p = self.run_as_nobody(['/usr/bin/python3', '-c', LOOP,
                                json.dumps({'calls': calls, 'rounds': rounds})], check=True)
        out = json.loads(p.stdout.decode())
        self.assertNotEqual(out['uid'], 0)
        return out['seen']

    def test_refused_calls_get_the_skeletons_errors(self):
        """Set of every property, reads of what does not exist, other interfaces' methods on a
        plugin's path and every method with arguments it does not take: nobody gets the
        errors the skeleton gave (names and messages, as main's build before the vtable)."""
        path = self.create_runner('test/refused')
        self.types = xml_properties()
        for name in self.types:
            value = self.get_all(path, PLUGIN_IFACE)[name]
            refused = (DBUS_ERR + 'InvalidArgs', 'Property “%s” is not writable' % name)
            self.assertEqual(self.nobody_error(path, PROPS_IFACE, 'Set', 'ssv', args_json=[
                PLUGIN_IFACE, name, {'$variant': ['s', 'x']}]), refused, name)
            # root too, with a value of the property's own type
            err = self.assertDBusError(DBUS_ERR + 'InvalidArgs', self.call, path, PROPS_IFACE,
                                       'Set', GLib.Variant('(ssv)', (PLUGIN_IFACE, name,
                                                                     GLib.Variant(
                                                                         self.types[name],
                                                                         value))))
            self.assertEqual(err.message, refused[1])
            # the value a client already had is untouched
            self.assertEqual(self.plugin_prop(path, name), value, name)
        self.assertEqual(
            self.nobody_error(path, PROPS_IFACE, 'Get', 'ss', "('%s', 'Nope')" % PLUGIN_IFACE),
            (DBUS_ERR + 'InvalidArgs', 'No such property “Nope”'))
        for iface in (MANAGER_IFACE, 'org.nope', ''):
            self.assertEqual(self.nobody_error(path, PROPS_IFACE, 'Get', 'ss',
                                               "('%s', 'Name')" % iface),
                             (DBUS_ERR + 'InvalidArgs',
                              'No such interface “%s”' % iface), iface)
            self.assertEqual(self.nobody_error(path, PROPS_IFACE, 'GetAll', 's',
                                               "('%s',)" % iface),
                             (DBUS_ERR + 'InvalidArgs',
                              'No such interface “%s”' % iface), iface)
        self.assertEqual(self.nobody_error(path, PROPS_IFACE, 'Set', 'ssv',
                                           "('org.nope', 'Name', <'x'>)"),
                         (DBUS_ERR + 'InvalidArgs', 'No such interface “org.nope”'))
        # the Manager's and the ObjectManager's methods are not the plugin's
        for iface, method, sig, args in ((MANAGER_IFACE, 'ListPlugins', 'a{sv}', '({},)'),
                                         (MANAGER_IFACE, 'GetPlugin', 's', "('x',)"),
                                         (OM_IFACE, 'GetManagedObjects', '', '()'),
                                         (PLUGIN_IFACE, 'Nope', '', '()')):
            name, message = self.nobody_error(path, iface, method, sig, args)
            self.assertEqual(name, DBUS_ERR + 'UnknownMethod', method)
            self.assertIn(method, message)
        for method, (sig, args) in WRONG_ARGS.items():
            name, message = self.nobody_error(path, PLUGIN_IFACE, method, sig[1:-1],
                                              args_json=args)
            self.assertEqual(name, DBUS_ERR + 'InvalidArgs', method)
            self.assertIn('Type of message, “%s”, does not match' % (sig or '()'), message)
        # what nobody may read, as everyone's clients read it
        self.assertIn('<interface name="%s">' % PLUGIN_IFACE,
                      self.nobody_call(path, INTROSPECTABLE, 'Introspect')[0][0])
        self.assertEqual(self.nobody_call(path, PEER, 'Ping')[0], [])
        self.assertEqual(self.nobody_call(path, PROPS_IFACE, 'GetAll', 's',
                                          "('%s',)" % PLUGIN_IFACE)[0][0],
                         plain(self.get_all(path, PLUGIN_IFACE)))

    def test_every_method_reaches_the_auth_table(self):
        """Every method of the interface XML is dispatched to its handler and checked by the
        auth table (pd_call_begin()): an unknown option is refused there, and nobody is refused
        what needs an action. A method added to the XML but not to the vtable's dispatch
        fails here (UnknownMethod)."""
        path = self.create_runner('test/dispatch')
        root = ET.parse(os.path.join(SRCDIR, 'data', PLUGIN_IFACE + '.xml')).getroot()
        defaults = {'s': '', 'a{sv}': {'x-attack': {'$variant': ['b', True]}}, 'a(ss)': [],
                    'a(ssas)': []}
        outcomes = {}
        for method in root.iter('method'):
            types = [a.get('type') for a in method.iter('arg') if a.get('direction') != 'out']
            _, err = self.nobody_call(path, PLUGIN_IFACE, method.get('name'), ''.join(types),
                                      args_json=[defaults[t] for t in types])
            outcomes[method.get('name')] = err.name if err is not None else 'answered'
            if 'a{sv}' in types:
                self.assertEqual((err.name, err.message), (DBUS_ERR + 'InvalidArgs',
                                                   "Unknown option 'x-attack'"),
                                 method.get('name'))
        self.assertNotIn(DBUS_ERR + 'UnknownMethod', outcomes.values())
        # the two without options: Hold checks the plugin before asking, Inspect is anyone's
        self.assertEqual(outcomes['Hold'], 'org.plugind.Plugind1.Error.PluginDisabled')
        self.assertEqual(outcomes['Inspect'], 'answered')
        self.assertEqual(self.get_all(path, PLUGIN_IFACE)['Holders'], [])

    def test_never_run_plugin_values(self):
        """A plugin that never ran (no runner made) reads as one that was stopped: the values
        the skeleton had, for nobody, root, GetManagedObjects and after a daemon restart."""
        path = self.create_runner('test/never-run')
        expected = {'State': 'disabled', 'Enabled': False, 'Socket': '', 'Implements': [],
                    'MainPID': 0, 'RestartCount': 0, 'LastErrorName': '',
                    'LastErrorMessage': '', 'Holders': [], 'Job': '/',
                    'InterfaceTypes': ['docker.volumedriver/1.0'], 'ProtocolScheme': '',
                    'Env': ['DEBUG']}
        everything = self.nobody_call(path, PROPS_IFACE, 'GetAll', 's',
                                      "('%s',)" % PLUGIN_IFACE)[0][0]
        self.assertEqual({k: everything[k] for k in expected}, expected)
        self.assertEqual(everything, plain(self.get_all(path, PLUGIN_IFACE)))
        self.assertEqual(everything, plain(self.managed_objects()[path][PLUGIN_IFACE]))
        self.assertGreater(everything['StateTimestamp'], 0)
        # nobody's Inspect (allowed, values hidden) agrees
        state = json.loads(self.nobody_call(path, PLUGIN_IFACE, 'Inspect')[0][0])
        self.assertFalse(state['Enabled'])
        # a read of the log is refused to nobody: nothing is made for it
        self.assertIn(self.nobody_error(path, PLUGIN_IFACE, 'ReadLog', 'a{sv}', '({},)')[0],
                      DENIED)
        self.assertEqual(plain(self.get_all(path, PLUGIN_IFACE)), everything)

    def test_calls_on_a_removed_plugin(self):
        """Calls queued behind a Remove, and calls after it, get an answer and change nothing;
        the daemon stays."""
        path = self.create_runner('test/removed')
        results = []
        loop_left = [0]

        def done(conn, res, what):
            try:
                conn.call_finish(res)
                results.append((what, 'ok'))
            except GLib.Error as e:
                results.append((what, Gio.DBusError.get_remote_error(e)))
            loop_left[0] -= 1

        def send(iface, method, args, what):
            loop_left[0] += 1
            self.conn.call(BUS_NAME, path, iface, method, args, None, Gio.DBusCallFlags.NONE,
                           -1, None, done, what)

        # all sent before the daemon answers the first
        send(PLUGIN_IFACE, 'Remove', GLib.Variant('(a{sv})', ({},)), 'Remove')
        # (fewer than a caller may have waiting for an answer)
        for i in range(8):
            send(PLUGIN_IFACE, 'Inspect', None, 'Inspect')
            send(PROPS_IFACE, 'GetAll', GLib.Variant('(s)', (PLUGIN_IFACE,)), 'GetAll')
            send(PROPS_IFACE, 'Get', GLib.Variant('(ss)', (PLUGIN_IFACE, 'State')), 'Get')
            send(PLUGIN_IFACE, 'Enable', GLib.Variant('(a{sv})', ({},)), 'Enable')
            send(PLUGIN_IFACE, 'Set', GLib.Variant('(a(ss)a{sv})', ([('DEBUG', '1')], {})),
                 'Set')
            send(PLUGIN_IFACE, 'ReadLog', GLib.Variant('(a{sv})', ({},)), 'ReadLog')
            send(PLUGIN_IFACE, 'Remove', GLib.Variant('(a{sv})', ({},)), 'Remove again')
        self.wait_until(lambda: loop_left[0] == 0, msg='every call answered')
        self.assertIn(('Remove', 'ok'), results)
        gone = (DBUS_ERR + 'UnknownMethod', DBUS_ERR + 'UnknownObject',
                'org.plugind.Plugind1.Error.NoSuchPlugin', 'org.plugind.Plugind1.Error.Busy')
        for what, outcome in results:
            if outcome != 'ok':
                self.assertIn(outcome, gone, what)
        self.assertNotIn(path, self.managed_objects())
        self.assertEqual(self.list_plugins(), [])
        # and after it: the path is gone for everyone
        self.assertEqual(self.nobody_error(path, PLUGIN_IFACE, 'Inspect')[0],
                         DBUS_ERR + 'UnknownObject')
        # the object manager's path answers for the interfaces of the paths below it
        self.assertEqual(self.nobody_call(path, PROPS_IFACE, 'GetAll', 's',
                                          "('%s',)" % PLUGIN_IFACE), ([{}], None))

    def test_shared_values_stay_each_plugins_own(self):
        """Two plugins with equal Settings and Privileges share their values in the daemon: a
        Set on one changes nothing the other shows, nor sends anything for it."""
        first = self.create_runner('test/first')
        second = self.create_runner('test/second')
        # the create's last signal (Job) in before the mark
        self.iterate(0.3)
        before = self.get_all(second, PLUGIN_IFACE)
        self.assertEqual(self.get_all(first, PLUGIN_IFACE)['Settings'], before['Settings'])
        mark = len(self.signals)
        for source in ('/usr', '/etc', '/usr'):
            self.set_settings(first, {'data.source': source})
            self.assertEqual(self.plugin_prop(first, 'Privileges'),
                             self.get_all(first, PLUGIN_IFACE)['Privileges'])
        self.assertNotEqual(self.plugin_prop(first, 'Settings'), before['Settings'])
        # the second takes the first's value, then the first goes back
        self.set_settings(second, {'data.source': '/usr'})
        self.set_settings(first, {'data.source': '/etc'})
        self.iterate(0.3)
        self.assertEqual(self.plugin_prop(first, 'Settings'), before['Settings'])
        second_now = self.get_all(second, PLUGIN_IFACE)
        self.assertNotEqual(second_now['Settings'], before['Settings'])
        self.assertEqual(self.managed_objects()[second][PLUGIN_IFACE], second_now)
        sent = [s[3][1]['Settings'] for s in self.signals[mark:]
                if s[0] == second and s[2] == 'PropertiesChanged' and 'Settings' in s[3][1]]
        self.assertEqual(sent, [second_now['Settings']])
        self.remove(first)
        self.assertEqual(self.get_all(second, PLUGIN_IFACE), second_now)

    def test_a_client_following_the_signals_converges(self):
        """Enable/Disable and Sets that flip back, sent without waiting: a client that applies
        each PropertiesChanged (and GetAll after each) ends with what Get says."""
        path = self.create_runner('test/toggles')
        model = dict(self.get_all(path, PLUGIN_IFACE))
        mark = len(self.signals)
        pending = [0]

        def done(conn, res, _):
            try:
                conn.call_finish(res)
            except GLib.Error:
                pass
            pending[0] -= 1

        def send(method, args):
            pending[0] += 1
            self.conn.call(BUS_NAME, path, PLUGIN_IFACE, method, args, None,
                           Gio.DBusCallFlags.NONE, -1, None, done, None)

        for i in range(4):
            send('Enable', GLib.Variant('(a{sv})', ({},)))
            send('Set', GLib.Variant('(a(ss)a{sv})', ([('DEBUG', str(i))], {})))
            send('Disable', GLib.Variant('(a{sv})', ({},)))
            send('Set', GLib.Variant('(a(ss)a{sv})', ([('data.source', '/usr')], {})))
            send('Set', GLib.Variant('(a(ss)a{sv})', ([('data.source', '/etc')], {})))
        self.wait_until(lambda: pending[0] == 0, msg='every call answered')
        # whichever came last, it ends enabled and running, then disabled
        if not self.plugin_prop(path, 'Enabled'):
            self.call(path, PLUGIN_IFACE, 'Enable', GLib.Variant('(a{sv})', ({},)))
        self.wait_until(lambda: self.plugin_prop(path, 'State') == 'running')
        self.call(path, PLUGIN_IFACE, 'Disable', GLib.Variant('(a{sv})', ({},)))
        self.iterate(0.5)
        n = 0
        for s in self.signals[mark:]:
            if s[0] == path and s[2] == 'PropertiesChanged':
                self.assertEqual(s[3][2], [])
                model.update(s[3][1])
                n += 1
        self.assertGreater(n, 4)
        now = self.get_all(path, PLUGIN_IFACE)
        # DiskUsage is never sent: read when asked
        model['DiskUsage'] = now['DiskUsage']
        self.assertEqual(model, now)
        for name, value in now.items():
            self.assertEqual(self.plugin_prop(path, name), value, name)

    def test_repeated_calls_keep_nothing(self):
        """Thousands of reads and refused calls from nobody: the answers stay the same and the
        daemon keeps nothing for them (its VmRSS does not grow after a first round; a leak
        also shows as a LeakSanitizer report at the daemon's exit in the ASan build)."""
        paths = [self.create_runner('test/many-%d' % i) for i in range(2)]
        calls = []
        for path in paths:
            calls += [
                [path, PROPS_IFACE, 'Get', 'ss', [PLUGIN_IFACE, 'Settings']],
                [path, PROPS_IFACE, 'Get', 'ss', [PLUGIN_IFACE, 'Description']],
                [path, PROPS_IFACE, 'GetAll', 's', [PLUGIN_IFACE]],
                [path, PROPS_IFACE, 'Get', 'ss', [PLUGIN_IFACE, 'Nope']],
                [path, PROPS_IFACE, 'GetAll', 's', ['org.nope']],
                [path, INTROSPECTABLE, 'Introspect', '', []],
                [path, PLUGIN_IFACE, 'Nope', '', []],
                [path, PLUGIN_IFACE, 'Hold', 's', ['only one']],
                [path, PLUGIN_IFACE, 'Inspect', '', []],
                [path, PLUGIN_IFACE, 'Enable', 'a{sv}', [{}]],
                [path, PLUGIN_IFACE, 'ReadLog', 'a{sv}', [{}]],
            ]
        calls.append([ROOT_PATH, OM_IFACE, 'GetManagedObjects', '', []])
        first = self.nobody_loop(calls, 10)
        before = self.daemon_rss_kib()
        second = self.nobody_loop(calls, 60)
        after = self.daemon_rss_kib()
        self.assertEqual(first, {k: v // 6 for k, v in second.items()})
        self.assertEqual(second['%s.GetAll ok' % PROPS_IFACE], 120)
        self.assertEqual(second['%s.Inspect ok' % PLUGIN_IFACE], 120)
        self.assertNotIn('%s.Enable ok' % PLUGIN_IFACE, second)
        # the ASan build keeps freed memory in quarantine: its leak check at exit covers that
        if not self.daemon_is_sanitized():
            # (a few kB from the allocator's own state: a leak of 70 bytes a call shows)
            self.assertLess(after - before, 96,
                            '%d calls grew the daemon from %d to %d kB' %
                            (len(calls) * 60, before, after))
        for path in paths:
            self.assertEqual(self.plugin_prop(path, 'State'), 'disabled')

    def daemon_is_sanitized(self):
        with open('/proc/%d/exe' % self.daemon.pid, 'rb') as f:
            return VALGRIND or b'__asan_init' in f.read()


class UpgradeAttackTests(RegistryTestCase):

    def test_an_upgrade_changes_only_its_plugin(self):
        """Two plugins pulled from the same image share their values in the daemon; an upgrade
        of one sends its new image and leaves the other as it was, for every reader; a client
        following the upgraded plugin's signals converges to GetAll."""
        with open(RUNNER, 'rb') as f:
            files = {'runner-plugin': (f.read(), 0o755)}
        self.push_plugin('test/up', 'v1', config=runner_config(), files=files)
        self.push_plugin('test/up', 'v2', files=files, config=runner_config(
            Description='version 2',
            Env=[{'Name': 'DEBUG', 'Description': '', 'Settable': ['value'], 'Value': '0'},
                 {'Name': 'LEVEL', 'Description': '', 'Settable': ['value'], 'Value': '1'}]))
        grant = opts(grant_all_privileges=True)
        first = self.wait_job(self.pull(self.remote('test/up', 'v1'), 'test/first',
                                        options=grant))['plugin']
        second = self.wait_job(self.pull(self.remote('test/up', 'v1'), 'test/second',
                                         options=grant))['plugin']
        for path in (first, second):
            self.wait_until(lambda: self.plugin_prop(path, 'Job') == '/', msg='Job is /')
        self.iterate(0.3)
        second_before = self.get_all(second, PLUGIN_IFACE)
        model = dict(self.get_all(first, PLUGIN_IFACE))
        mark = len(self.signals)
        self.wait_job(self.upgrade(first, self.remote('test/up', 'v2'), options=grant))
        self.wait_until(lambda: self.plugin_prop(first, 'Job') == '/', msg='Job back to /')
        self.iterate(0.3)
        for s in self.signals[mark:]:
            if s[2] == 'PropertiesChanged' and s[0] == first:
                model.update(s[3][1])
            self.assertNotEqual(s[0], second, 'the other plugin sent %r' % (s,))
        now = self.get_all(first, PLUGIN_IFACE)
        model['DiskUsage'] = now['DiskUsage']
        self.assertEqual(model, now)
        self.assertEqual((now['Description'], now['Env']), ('version 2', ['DEBUG', 'LEVEL']))
        self.assertEqual(self.get_all(second, PLUGIN_IFACE), second_before)
        self.assertEqual(self.managed_objects()[second][PLUGIN_IFACE], second_before)


if __name__ == '__main__':
    main()
