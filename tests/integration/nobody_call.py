#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Makes one D-Bus call on the system bus and prints the outcome as JSON.

Run by the integration tests as an unprivileged user (setpriv … nobody). argv[1] is a JSON
object, or "-" to read it from stdin (arguments too large for argv): path, iface, method,
signature (of the arguments), args (GVariant text) or args_json (a JSON list of the arguments,
where {"$repeat": [text, count]} stands for text repeated count times, {"$variant": [type,
value]} for a variant and {"$dict": [[key, value], ...]} for a dict whose keys may be such
objects too), reply (reply type or null), interactive (sets ALLOW_INTERACTIVE_AUTHORIZATION),
fd (an inherited fd number to pass as handle 0).
Prints {"result": …} or {"error": "<D-Bus error name>", "message": "…"}.

With "listen": [member, first argument] in place of a call, it records the signals of
org.plugind.Plugind1 instead: prints "ready" once its match rule is in place, stops after
that signal (or after "timeout" seconds) and prints {"signals": [[path, interface, member,
args], …], "timed_out": …}.
"""

import json
import os
import sys

import gi

gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402


def jsonable(v):
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, GLib.Variant):
        return jsonable(v.unpack())
    return v


def expand(v):
    if isinstance(v, list):
        return [expand(x) for x in v]
    if isinstance(v, dict) and list(v) == ['$repeat']:
        text, count = v['$repeat']
        return text * count
    if isinstance(v, dict) and list(v) == ['$variant']:
        vtype, value = v['$variant']
        return GLib.Variant(vtype, expand(value))
    if isinstance(v, dict) and list(v) == ['$dict']:
        return {expand(k): expand(x) for k, x in v['$dict']}
    if isinstance(v, dict):
        return {k: expand(x) for k, x in v.items()}
    return v


def listen(conn, spec):
    until_member, until_arg = spec['listen']
    loop = GLib.MainLoop()
    seen = []
    state = {'timed_out': False}

    def on_signal(conn, sender, path, iface, member, params):
        args = jsonable(params.unpack())
        seen.append([path, iface, member, args])
        if member == until_member and args and args[0] == until_arg:
            loop.quit()

    def on_timeout():
        state['timed_out'] = True
        loop.quit()
        return False

    conn.signal_subscribe('org.plugind.Plugind1', None, None, None, None,
                          Gio.DBusSignalFlags.NONE, on_signal)
    # the bus handles a connection's messages in order: once this reply is back, so is the
    # AddMatch that signal_subscribe() sent
    conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                   'GetId', None, GLib.VariantType('(s)'), Gio.DBusCallFlags.NONE, -1, None)
    print('ready', flush=True)
    GLib.timeout_add_seconds(int(spec.get('timeout', 30)), on_timeout)
    loop.run()
    json.dump({'signals': seen, 'timed_out': state['timed_out'], 'uid': os.getuid()},
              sys.stdout)


def main():
    spec = json.loads(sys.stdin.read() if sys.argv[1] == '-' else sys.argv[1])
    conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    if spec.get('listen'):
        listen(conn, spec)
        return
    args = None
    if spec.get('args_json') is not None:
        args = GLib.Variant('(' + spec['signature'] + ')', tuple(expand(spec['args_json'])))
    elif spec.get('signature'):
        args = GLib.Variant.parse(GLib.VariantType('(' + spec['signature'] + ')'),
                                  spec['args'], None, None)
    flags = Gio.DBusCallFlags.NONE
    if spec.get('interactive'):
        flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
    reply = GLib.VariantType(spec['reply']) if spec.get('reply') else None
    try:
        if spec.get('fd') is not None:
            fdl = Gio.UnixFDList.new()
            fdl.append(spec['fd'])
            res, _ = conn.call_with_unix_fd_list_sync('org.plugind.Plugind1', spec['path'],
                                                      spec['iface'], spec['method'], args,
                                                      reply, flags, 60000, fdl, None)
        else:
            res = conn.call_sync('org.plugind.Plugind1', spec['path'], spec['iface'],
                                 spec['method'], args, reply, flags, 60000, None)
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e)
        message = e.message
        prefix = 'GDBus.Error:%s: ' % name
        if name and message.startswith(prefix):
            message = message[len(prefix):]
        json.dump({'error': name or 'local:%s' % e.code, 'message': message,
                   'uid': os.getuid()}, sys.stdout)
        return
    json.dump({'result': jsonable(res.unpack()) if res is not None else None,
               'uid': os.getuid()}, sys.stdout)


if __name__ == '__main__':
    main()
