#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A plugind-transfer gone wrong, for test_transfer.py: started by the daemon in its place
(PLUGIND_TRANSFER_HELPER), it reads the request from fd 3 and answers as the file named by
$PD_FAKE_TRANSFER_MODE_FILE says. The daemon must fail the job and keep serving."""

import hashlib
import json
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


def read_exactly(length):
    data = b''
    while len(data) < length:
        chunk = os.read(SOCK, length - len(data))
        if not chunk:
            sys.exit(4)
        data += chunk
    return data


def receive():
    """the daemon's next message: (kind, fields)"""
    (length,) = struct.unpack('<I', read_exactly(4))
    body = GLib.Bytes.new(read_exactly(length))
    return GLib.Variant.new_from_bytes(GLib.VariantType('(sa{sv})'), body, False).unpack()


def sha256(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def resolve(request):
    """a resolved message of the manifest and config the test left next to the mode file,
    the daemon's answer to it (go), and the job's staging dir"""
    with open(os.environ['PD_FAKE_TRANSFER_MODE_FILE'] + '.resolved') as f:
        image = json.load(f)
    manifest = bytes.fromhex(image['manifest'])
    config = bytes.fromhex(image['config'])
    send('resolved', {'digest': GLib.Variant('s', sha256(manifest)),
                      'manifest-digest': GLib.Variant('s', sha256(manifest)),
                      'config-digest': GLib.Variant('s', sha256(config)),
                      'manifest-media-type': GLib.Variant('s', image['media-type']),
                      'manifest': GLib.Variant('ay', manifest),
                      'config': GLib.Variant('ay', config)})
    kind, _ = receive()
    if kind != 'go':
        sys.exit(5)
    return image, request['staging-dir']


def main():
    kind, request = receive()
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
    elif mode == 'commit-foreign':
        # after the consent check, a blob of the helper's own making under a digest the
        # manifest does not name
        _, staging = resolve(request)
        evil = b'not a layer of this plugin\n'
        with open(os.path.join(staging, 'ingest-0123abcd'), 'wb') as f:
            f.write(evil)
        send('commit', {'digest': GLib.Variant('s', sha256(evil)),
                        'tmp-name': GLib.Variant('s', 'ingest-0123abcd')})
        receive()
    elif mode == 'pin-flood':
        # pins of a blob of the job, which exists, again and again
        image, _ = resolve(request)
        while True:
            send('pin', {'digest': GLib.Variant('s', image['layer'])})
            if receive()[0] != 'pinned':
                break
    elif mode == 'two-results':
        send('error', {'domain': GLib.Variant('s', 'pd'), 'code': GLib.Variant('i', 0),
                       'message': GLib.Variant('s', 'first')})
        send('error', {'domain': GLib.Variant('s', 'pd'), 'code': GLib.Variant('i', 0),
                       'message': GLib.Variant('s', 'second')})


main()
