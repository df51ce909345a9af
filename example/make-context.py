#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Builds a Docker plugin create context: a gzip tar holding config.json and rootfs/<binary>.

usage: make-context.py CONFIG.JSON BINARY OUTPUT.tar.gz

The entries are written with fixed owners (0:0), modes and times, so that the output is the same
on every build.
"""

import gzip
import io
import os
import sys
import tarfile


def add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def add_file(tar, name, path, mode):
    with open(path, 'rb') as f:
        data = f.read()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    config, binary, output = argv[1:]
    tmp = output + '.tmp'
    with open(tmp, 'wb') as raw:
        # mtime=0 and no file name in the gzip header: reproducible output
        with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode='w', format=tarfile.PAX_FORMAT) as tar:
                add_file(tar, 'config.json', config, 0o644)
                add_dir(tar, 'rootfs')
                add_file(tar, 'rootfs/' + os.path.basename(binary), binary, 0o755)
    os.replace(tmp, output)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
