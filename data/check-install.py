#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs `meson install` of a configured and built tree into a fresh temporary DESTDIR and checks
that every expected file was installed there; removes the DESTDIR afterwards.

With --live (needs root) it then checks that the installed tree works as a system would use
it. In a mount namespace of this process's own, each top-level dir of the DESTDIR is laid
over the machine's (a read-only overlayfs: /usr shows the machine's /usr plus what meson
installed), so the view is the machine after `meson install`, while the machine itself is not
changed and the mounts vanish with the process, failed or not. The view also has a /run of
its own and an empty /var/lib/plugind. In that view it starts:
  - the stock dbus-daemon as Debian's system bus (`dbus-daemon --system`: its system.conf, the
    policies in /usr/share/dbus-1/system.d, the standard system service dirs, the setuid launch
    helper that starts a service with a clean environment as its User=) on the view's
    /run/dbus/system_bus_socket, which nothing outside the namespace reaches;
  - the real polkitd, which reads actions only from /usr/share/polkit-1/actions;
and checks that polkitd compiles the installed rule, that `pkaction` finds every action of the
installed policy, that the installed `pluginctl ls` bus-activates the installed daemon through
the installed activation file, and that this daemon reads the installed plugind.conf (a bad
value appended to it stops the next activation, naming the key). Copies of our files that the
machine already has in those dirs are hidden in the view (READ_DIRS).

usage: check-install.py --meson MESON --build-root DIR [--live --daemon PATH
                        --pluginctl PATH --config-dir DIR --policy PATH --rules PATH]
                        ABSOLUTE-PATH...
"""

import argparse
import ctypes
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

BUS_NAME = "org.plugind.Plugind1"
CLONE_NEWNS = 0x00020000
STATE_DIR = "/var/lib/plugind"
# where Debian's dbus-daemon, polkitd and the daemon read files of ours: a copy of one already
# on the machine (the integration tests leave the policy in /usr/share/polkit-1/actions) is
# hidden in the view, so that only what meson installed can make the checks pass
READ_DIRS = [
    "/usr/share/polkit-1/actions", "/usr/share/polkit-1/rules.d", "/etc/polkit-1/rules.d",
    "/usr/share/dbus-1/system.d", "/etc/dbus-1/system.d",
    "/usr/local/share/dbus-1/system-services", "/usr/share/dbus-1/system-services",
    "/lib/dbus-1/system-services", "/etc/plugind",
]


def check_files(destdir, expected):
    missing = []
    for path in expected:
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
        # (bash-completion/completions/pluginctl is a script bash sources, not a program)
        if base in ("plugind", "plugind-extract", "plugind-transfer", "plugind-sandbox-init",
                    "pluginctl") and \
                "bash-completion" not in path and not st.st_mode & stat.S_IXUSR:
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
    return not missing


class Live:
    """The installed tree, run in a private mount namespace (see the module's text)."""

    def __init__(self, a, destdir):
        self.a = a
        self.destdir = destdir
        self.tmp = tempfile.mkdtemp(prefix="plugind-installed-")
        os.chmod(self.tmp, 0o755)  # polkitd (user polkitd) connects to the socket
        self.procs = []
        self.daemon_pid = None
        # clients use the default system bus address, as on the machine
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("CONFIGURATION_DIRECTORY", "PLUGIND_EXTRACT_HELPER",
                                 "PLUGIND_TRANSFER_HELPER",
                                 "PLUGIND_SANDBOX_INIT", "DBUS_SESSION_BUS_ADDRESS",
                                 "DBUS_SYSTEM_BUS_ADDRESS")}

    def log(self, name):
        return os.path.join(self.tmp, name + ".log")

    def enter_namespace(self):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        # nothing mounted from here on reaches the machine's namespace
        subprocess.run(["mount", "--make-rprivate", "/"], check=True)
        # host dir -> the layers laid over it, uppermost first
        layers = {}
        for top in os.listdir(self.destdir):
            layers.setdefault(os.path.realpath("/" + top), []).append(
                os.path.join(self.destdir, top))
        # a whiteout (char device 0/0) in a layer hides the file of the layers below
        mask = os.path.join(self.tmp, "mask")
        names = {f for _, _, files in os.walk(self.destdir) for f in files}
        for d in READ_DIRS:
            for name in names:
                path = os.path.join(os.path.realpath(d), name)
                if not os.path.lexists(path) or \
                        os.path.lexists(os.path.join(self.destdir, path.lstrip("/"))):
                    continue
                whiteout = os.path.join(mask, path.lstrip("/"))
                os.makedirs(os.path.dirname(whiteout), exist_ok=True)
                os.mknod(whiteout, stat.S_IFCHR, os.makedev(0, 0))
                print(f"ok: the machine's {path} is hidden in the view")
        if os.path.isdir(mask):
            for top in os.listdir(mask):
                layers.setdefault("/" + top, []).append(os.path.join(mask, top))
        # parents first: /usr before /usr/lib (lib/ of the DESTDIR when /lib -> usr/lib)
        for host in sorted(layers):
            if not os.path.isdir(host):
                raise RuntimeError(f"cannot lay {layers[host]} over {host}")
            lowerdir = ":".join(layers[host] + [host])
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lowerdir,
                            host], check=True)
            print(f"ok: {host} shows {', '.join(layers[host])} over the machine's")
        # what the services write, in the view only: a /run of its own (the bus socket,
        # /run/plugind) and an empty /var/lib/plugind (on a writable layer of /var/lib)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
        for d in ("varlib", "varlib-work"):
            os.mkdir(os.path.join(self.tmp, d))
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir=/var/lib,upperdir={self.tmp}/varlib,"
                        f"workdir={self.tmp}/varlib-work", "/var/lib"], check=True)
        os.makedirs(STATE_DIR, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", STATE_DIR],
                       check=True)

    def spawn(self, name, argv, env):
        with open(self.log(name), "ab") as log:
            p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log, cwd="/")
        self.procs.append(p)
        return p

    def start_bus(self):
        """the machine's own system bus, as Debian starts it (its system.conf: the policies in
        /usr/share/dbus-1/system.d, the standard service dirs, the setuid launch helper that
        starts a service with a clean environment as its User=), on /run/dbus/system_bus_socket
        of the view's own /run"""
        os.makedirs("/run/dbus", exist_ok=True)
        self.spawn("dbus-daemon", ["dbus-daemon", "--system", "--nofork", "--nopidfile",
                                   "--nosyslog"], self.env)
        self.wait(lambda: self.dbus("GetId") is not None, "the bus to answer")

    def dbus(self, method, *args, dest="org.freedesktop.DBus", path="/org/freedesktop/DBus",
             iface="org.freedesktop.DBus"):
        """a method call on the private bus; its reply's text, None on an error"""
        p = subprocess.run(["dbus-send", "--system", "--print-reply", "--dest=" + dest, path,
                            f"{iface}.{method}"] + list(args), env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           timeout=30)
        return p.stdout if p.returncode == 0 else None

    def has_owner(self, name):
        return "boolean true" in (self.dbus("NameHasOwner", "string:" + name) or "")

    def wait(self, cond, what, timeout=20):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise RuntimeError("timed out waiting for " + what)
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited with {p.returncode}")
            time.sleep(0.05)

    def run(self, argv):
        return subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=60)

    def check_pkaction(self):
        ids = [a.get("id") for a in ET.parse(self.a.policy).getroot().iter("action")]
        if not ids:
            raise RuntimeError(f"{self.a.policy} declares no action")
        listed = set(self.run(["pkaction"]).stdout.split())
        errors = [f"pkaction does not list {i}" for i in ids if i not in listed]
        for i in ids:
            p = self.run(["pkaction", "--verbose", "--action-id", i])
            if p.returncode != 0 or "implicit any" not in p.stdout:
                errors.append(f"pkaction --action-id {i}: {p.returncode}: {p.stdout}")
        if not errors:
            print(f"ok: pkaction finds the {len(ids)} installed actions")
        return errors

    def check_rules(self):
        """polkitd loaded the installed rule (it logs the dirs it reads, and each rule that
        fails to compile)"""
        with open(self.log("polkitd")) as f:
            log = f.read()
        rules_dir = os.path.dirname(self.a.rules)
        if f"Loading rules from directory {rules_dir}\n" not in log:
            return [f"polkitd does not read rules from {rules_dir}"]
        bad = [l for l in log.splitlines() if os.path.basename(self.a.rules) in l]
        if bad:
            return [f"polkitd on {self.a.rules}: " + "; ".join(bad)]
        print(f"ok: polkitd loads {self.a.rules}")
        return []

    def daemon_owner_pid(self):
        reply = self.dbus("GetConnectionUnixProcessID", "string:" + BUS_NAME) or ""
        m = re.search(r"uint32 (\d+)", reply)
        return int(m.group(1)) if m else None

    def stop_daemon(self):
        pid, self.daemon_pid = self.daemon_pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        self.wait(lambda: not os.path.exists(f"/proc/{pid}") or
                  open(f"/proc/{pid}/stat").read().split(") ")[-1].startswith("Z"),
                  "the activated daemon to exit")

    def check_activation(self):
        errors = []
        activatable = self.dbus("ListActivatableNames") or ""
        if f'"{BUS_NAME}"' not in activatable:
            return [f"the bus cannot activate {BUS_NAME} (no activation file in its service dirs)"]
        if self.has_owner(BUS_NAME):
            return [f"{BUS_NAME} has an owner before any call"]
        # the README's check: the first call starts the daemon
        p = self.run([self.a.pluginctl, "ls"])
        if p.returncode != 0 or not p.stdout.startswith("ID"):
            return [f"pluginctl ls: exit {p.returncode}: {p.stdout}"]
        self.daemon_pid = self.daemon_owner_pid()
        if self.daemon_pid is None:
            return [f"{BUS_NAME} has no owner after pluginctl ls"]
        exe = f"/proc/{self.daemon_pid}/exe"
        installed = os.path.join(self.destdir, self.a.daemon.lstrip("/"))
        with open(exe, "rb") as f, open(installed, "rb") as g:
            if hashlib.sha256(f.read()).digest() != hashlib.sha256(g.read()).digest():
                errors.append(f"{BUS_NAME} is owned by {os.readlink(exe)}, not {self.a.daemon}")
        if os.readlink(exe) != self.a.daemon:
            errors.append(f"the activated daemon runs {os.readlink(exe)}, not {self.a.daemon}")
        if not os.path.isdir(os.path.join(STATE_DIR, "plugins")):
            errors.append(f"the activated daemon did not make its store in {STATE_DIR}")
        if not errors:
            print(f"ok: pluginctl ls activated {self.a.daemon} (pid {self.daemon_pid})")
        return errors

    def check_config_dir(self):
        """the activated daemon reads plugind.conf where meson installed it"""
        self.stop_daemon()
        installed = os.path.join(self.destdir, self.a.config_dir.lstrip("/"), "plugind.conf")
        with open(installed, "a") as f:
            f.write("\n[Sandbox]\nCapabilities=from-the-installed-file\n")
        p = self.run([self.a.pluginctl, "ls"])
        with open(self.log("dbus-daemon")) as f:
            log = f.read()
        if p.returncode == 0 or "from-the-installed-file" not in log:
            self.daemon_pid = self.daemon_owner_pid()
            return [f"a bad value in {self.a.config_dir}/plugind.conf did not stop the daemon "
                    f"(pluginctl ls: exit {p.returncode})"]
        print(f"ok: the activated daemon reads {self.a.config_dir}/plugind.conf")
        return []

    def stop(self):
        try:
            self.stop_daemon()
        finally:
            # polkitd and the bus together; what ignores SIGTERM for 10 s is killed
            running = [p for p in self.procs if p.poll() is None]
            for p in running:
                p.terminate()
            for p in running:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def dump_logs(self):
        for name in ("dbus-daemon", "polkitd"):
            try:
                with open(self.log(name)) as f:
                    print(f"--- {name} log:\n{f.read()}")
            except FileNotFoundError:
                pass


def live(a, destdir):
    if os.geteuid() != 0:
        print("FAIL: --live needs root (mounts, polkitd, the daemon)")
        return False
    t = Live(a, destdir)
    errors = []
    try:
        t.enter_namespace()
        t.start_bus()
        # started as root, polkitd switches to its own user, whom polkit's bus policy lets own
        # its name
        t.spawn("polkitd", ["/usr/lib/polkit-1/polkitd"], t.env)
        t.wait(lambda: t.has_owner("org.freedesktop.PolicyKit1"), "polkitd")
        errors += t.check_rules()
        errors += t.check_pkaction()
        errors += t.check_activation()
        if not errors:
            errors += t.check_config_dir()
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        errors.append(str(e))
    finally:
        t.stop()
        if errors:
            t.dump_logs()
        shutil.rmtree(t.tmp, ignore_errors=True)
    for e in errors:
        print("FAIL:", e)
    return not errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meson", default="meson")
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--live", action="store_true")
    ap.add_argument("--daemon")
    ap.add_argument("--pluginctl")
    ap.add_argument("--config-dir")
    ap.add_argument("--policy")
    ap.add_argument("--rules")
    ap.add_argument("expected", nargs="+")
    a = ap.parse_args()
    # meson's timeout sends SIGTERM: stop what the test started and remove its dirs then too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))

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
        if not check_files(destdir, a.expected):
            return 1
        if a.live and not live(a, destdir):
            return 1
        return 0
    finally:
        shutil.rmtree(destdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
