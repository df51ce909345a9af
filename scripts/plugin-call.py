#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Calls a running plugin the way Docker does: POST /<Method> over its unix socket.

usage: plugin-call.py SOCKET METHOD [JSON-BODY]
  e.g. plugin-call.py "$(busctl get-property … Socket)" VolumeDriver.List
Prints the JSON reply; exits 1 on an HTTP error or an "Err" in the reply.
"""

import http.client
import json
import os
import socket
import sys


class UnixHTTPConnection(http.client.HTTPConnection):

    def __init__(self, path):
        super().__init__('plugin.moby.localhost', timeout=30)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # a plugin's socket path can pass the 108 bytes of sun_path: go through a dir fd
        dirfd = os.open(os.path.dirname(self.unix_path), os.O_PATH | os.O_DIRECTORY)
        try:
            self.sock.connect('/proc/self/fd/%d/%s' % (dirfd, os.path.basename(self.unix_path)))
        finally:
            os.close(dirfd)


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    body = sys.argv[3].encode() if len(sys.argv) == 4 else b''
    conn = UnixHTTPConnection(sys.argv[1])
    conn.request('POST', '/' + sys.argv[2], body=body,
                 headers={'Accept': 'application/vnd.docker.plugins.v1.2+json'})
    resp = conn.getresponse()
    data = resp.read().decode(errors='replace')
    try:
        reply = json.loads(data) if data else None
        print(json.dumps(reply, indent=2))
    except ValueError:
        print(data)
        reply = None
    if resp.status != 200 or (isinstance(reply, dict) and reply.get('Err')):
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
