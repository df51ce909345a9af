#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A plugind-transfer gone wrong, for test_transfer.py: started by the daemon in its place
(PLUGIND_TRANSFER_HELPER), it reads the request from fd 3 and answers as the file named by
$PD_FAKE_TRANSFER_MODE_FILE says. The daemon must fail the job and keep serving."""

import os
import socket
import struct
import sys

from gi.repository import GLib

SOCK = 3


def frame(kind, fields):
    data = GLib.Variant('(sa{sv})', (kind, fields)).get_data_as_bytes().get_data()
    return struct.pack('<I', len(data)) + data


def send(kind, fields):
    os.write(SOCK, frame(kind, fields))


def main():
    # the request: its length, then its body, which is not looked at
    (length,) = struct.unpack('<I', os.read(SOCK, 4))
    while length > 0:
        length -= len(os.read(SOCK, min(length, 65536)))
    # read now, not at the start: the daemon starts a spare helper ahead of its job
    with open(os.environ['PD_FAKE_TRANSFER_MODE_FILE']) as f:
        mode = f.read().strip()
    digest = 'sha256:' + '0' * 64
    if mode == 'oversize':
        os.write(SOCK, struct.pack('<I', 0xfffffff0))
    elif mode == 'garbage':
        os.write(SOCK, struct.pack('<I', 16) + b'\xff' * 16)
    elif mode == 'truncated':
        os.write(SOCK, frame('result', {})[:7])
    elif mode == 'exit':
        sys.exit(3)
    elif mode == 'error-controls':
        send('error', {'domain': GLib.Variant('s', 'pd'), 'code': GLib.Variant('i', 12345),
                       'message': GLib.Variant('s', 'bad\x1b[2J\x07news')})
    elif mode == 'unknown':
        send('surprise', {})
    elif mode == 'bad-result':
        send('result', {'digest': GLib.Variant('s', digest),
                        'manifest-digest': GLib.Variant('s', digest),
                        'config-digest': GLib.Variant('s', digest),
                        'manifest-media-type': GLib.Variant('s', 'x'),
                        'manifest': GLib.Variant('ay', b'{}'),
                        'config': GLib.Variant('ay', b'{}')})
    elif mode == 'wrong-types':
        send('log', {'line': GLib.Variant('u', 7)})
    elif mode == 'fd':
        # a file descriptor the daemon must not keep
        with open('/dev/null', 'rb') as f:
            s = socket.socket(fileno=SOCK)
            s.sendmsg([frame('surprise', {})],
                      [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('i', f.fileno()))])
            s.detach()
    elif mode == 'commit-escape':
        # a blob "ingest" outside the staging dir, before any consent check
        send('commit', {'digest': GLib.Variant('s', digest),
                        'tmp-name': GLib.Variant('s', '../../../etc/passwd')})
        os.read(SOCK, 1)
    elif mode == 'two-results':
        send('error', {'domain': GLib.Variant('s', 'pd'), 'code': GLib.Variant('i', 0),
                       'message': GLib.Variant('s', 'first')})
        send('error', {'domain': GLib.Variant('s', 'pd'), 'code': GLib.Variant('i', 0),
                       'message': GLib.Variant('s', 'second')})


main()
