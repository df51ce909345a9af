#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A plugind-transfer gone wrong, for test_transfer.py: started by the daemon in its place
(PLUGIND_TRANSFER_HELPER), it reads the request from fd 3 and answers as the file named by
$PD_FAKE_TRANSFER_MODE_FILE says. The daemon must fail the job and keep serving."""

import os
import socket
import struct
import sys
import time

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
    elif mode == 'commit-no-name':
        # a commit without its ingest's name (Create): one error, not one set over another
        send('commit', {'digest': GLib.Variant('s', digest)})
        os.read(SOCK, 1)
    elif mode == 'hang-half':
        # half a message, then nothing, and no exit: Cancel must end it
        os.write(SOCK, frame('log', {'line': GLib.Variant('s', 'x' * 64)})[:9])
        time.sleep(120)
    elif mode in ('flood', 'many-layers'):
        # progress of the most layers allowed (one more for many-layers) with values out of
        # range, again and again, a flood of log lines with controls, then silence
        count = 128 if mode == 'flood' else 129
        layers = [('sha256:%064x' % i, 'downloading', 2**64 - 1 - i, 2**63 + i)
                  for i in range(count)]
        for _ in range(300):
            send('progress', {'layers': GLib.Variant('a(sstt)', layers)})
        for i in range(5000):
            send('log', {'line': GLib.Variant('s', 'line %d \x1b[2J\r\x07 %s' % (i, 'y' * 512))})
        with open(os.environ['PD_FAKE_TRANSFER_MODE_FILE'] + '.flooded', 'w') as f:
            f.write('done\n')
        time.sleep(120)
    elif mode == 'two-results':
        send('error', {'domain': GLib.Variant('s', 'pd'), 'code': GLib.Variant('i', 0),
                       'message': GLib.Variant('s', 'first')})
        send('error', {'domain': GLib.Variant('s', 'pd'), 'code': GLib.Variant('i', 0),
                       'message': GLib.Variant('s', 'second')})


main()
