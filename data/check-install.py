#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs `meson install` of a configured and built tree into a fresh temporary DESTDIR and checks
that every expected file was installed there; removes the DESTDIR afterwards.

usage: check-install.py --meson MESON --build-root DIR ABSOLUTE-PATH...
"""

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meson", default="meson")
    ap.add_argument("--build-root", required=True)
    ap.add_argument("expected", nargs="+")
    a = ap.parse_args()

    destdir = tempfile.mkdtemp(prefix="plugind-install-")
    try:
        env = dict(os.environ, DESTDIR=destdir)
        cmd = [a.meson, "install", "--no-rebuild", "--quiet", "--destdir", destdir,
               "-C", a.build_root]
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if p.returncode != 0:
            print(p.stdout)
            print(f"FAIL: {' '.join(cmd)} exited with {p.returncode}")
            return 1

        missing = []
        for path in a.expected:
            if not os.path.isabs(path):
                missing.append(f"{path} (not absolute)")
                continue
            full = os.path.join(destdir, path.lstrip("/"))
            if not os.path.isfile(full):
                missing.append(path)
                continue
            st = os.stat(full)
            if st.st_size == 0:
                missing.append(f"{path} (empty)")
            base = os.path.basename(path)
            if base in ("plugind", "plugind-extract", "plugind-sandbox-init", "pluginctl") and not st.st_mode & stat.S_IXUSR:
                missing.append(f"{path} (not executable)")
            if st.st_mode & stat.S_IWOTH:
                missing.append(f"{path} (world-writable)")
            print(f"ok: {path}")
        if missing:
            print("installed files:")
            for dirpath, _, files in os.walk(destdir):
                for f in files:
                    print("  /" + os.path.relpath(os.path.join(dirpath, f), destdir))
            for m in missing:
                print(f"FAIL: not installed: {m}")
            return 1
        return 0
    finally:
        shutil.rmtree(destdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
