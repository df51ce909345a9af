#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks the generated and static data files: the bus policy lets root own the name and
anyone call exactly our interfaces plus the standard ones; the activation file and the unit
point at the daemon and carry the agreed keys, and the unit does not set hardening that would
break plugin sandboxes; the polkit rule is substituted and never covers a -privileged action.
"""

import argparse
import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

BUS_NAME = "org.plugind.Plugind1"
STANDARD = [
    "org.freedesktop.DBus.Properties",
    "org.freedesktop.DBus.Introspectable",
    "org.freedesktop.DBus.Peer",
    "org.freedesktop.DBus.ObjectManager",
]

errors = []


def fail(msg):
    errors.append(msg)


def interfaces_of(paths):
    names = []
    for p in paths:
        for iface in ET.parse(p).getroot().findall("interface"):
            names.append(iface.get("name"))
    return names


def check_busconf(path, interfaces):
    root = ET.parse(path).getroot()
    owners = []
    sends = set()
    for policy in root.findall("policy"):
        for allow in policy.findall("allow"):
            if allow.get("own") is not None:
                owners.append((policy.get("user"), allow.get("own")))
            if allow.get("send_destination") is not None:
                if policy.get("context") != "default":
                    fail(f"{path}: send rules belong in the default context")
                if allow.get("send_destination") != BUS_NAME:
                    fail(f"{path}: allows sending to {allow.get('send_destination')}")
                iface = allow.get("send_interface")
                if iface is None:
                    fail(f"{path}: a blanket send allow (no send_interface)")
                sends.add(iface)
    if owners != [("root", BUS_NAME)]:
        fail(f"{path}: ownership rules {owners}, expected only root owning {BUS_NAME}")
    want = set(interfaces) | set(STANDARD)
    if sends != want:
        fail(f"{path}: send_interface {sorted(sends)}, expected {sorted(want)}")
    if "polkit" not in open(path).read().lower():
        fail(f"{path}: the comment that polkit decides is missing")


def read_ini(path):
    cp = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
    cp.optionxform = str
    cp.read(path)
    return cp


def check_activation(path, daemon):
    cp = read_ini(path)
    s = cp["D-BUS Service"]
    if s.get("Name") != BUS_NAME:
        fail(f"{path}: Name={s.get('Name')}")
    if s.get("Exec") != daemon:
        fail(f"{path}: Exec={s.get('Exec')}, expected the installed daemon {daemon}")
    if s.get("User") != "root":
        fail(f"{path}: User={s.get('User')}")
    if s.get("SystemdService") != "plugind.service":
        fail(f"{path}: SystemdService={s.get('SystemdService')}")
    if "@" in open(path).read():
        fail(f"{path}: unsubstituted @variable@")


def check_unit(path, daemon, config_dir):
    text = open(path).read()
    if "@" in text:
        fail(f"{path}: unsubstituted @variable@")
    keys = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        k, _, v = line.partition("=")
        keys.setdefault(k, []).append(v)
    want = {
        "Type": "dbus",
        "BusName": BUS_NAME,
        "StateDirectory": "plugind",
        "RuntimeDirectory": "plugind",
        "StateDirectoryMode": "0700",
        "RuntimeDirectoryMode": "0700",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "RestrictRealtime": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "Documentation": "man:plugind(8)",
    }
    # systemd's ConfigurationDirectory= is /etc/plugind, which would override any other dir
    if config_dir == "/etc/plugind":
        want["ConfigurationDirectory"] = "plugind"
    elif "ConfigurationDirectory" in keys:
        fail(f"{path}: ConfigurationDirectory= while the daemon's dir is {config_dir}")
    for k, v in want.items():
        if keys.get(k) != [v]:
            fail(f"{path}: {k}={keys.get(k)}, expected {v}")
    exec_start = keys.get("ExecStart", [""])[0]
    # the namespacing options below give the service a mount namespace of its own: propagated
    # mounts reach the host only through PID 1's
    program, _, options = exec_start.partition(" ")
    if program != daemon or options != "--host-mount-namespace=/proc/1/ns/mnt":
        fail(f"{path}: ExecStart={exec_start}")
    # plugin sandboxes (bubblewrap) need namespaces, mounts and setuid/capabilities
    for k in ("RestrictNamespaces", "NoNewPrivileges", "PrivateDevices", "SystemCallFilter",
              "CapabilityBoundingSet", "MemoryDenyWriteExecute", "PrivateNetwork"):
        if k in keys:
            fail(f"{path}: {k}= breaks plugin sandboxes")
    if keys.get("ProtectSystem", ["no"])[0] in ("strict", "full") and "ReadWritePaths" not in keys:
        fail(f"{path}: ProtectSystem={keys['ProtectSystem'][0]} makes plugin mounts read-only")
    verify_unit(path, text)


def verify_unit(path, text):
    """systemd's own parser: unknown keys, bad values (ExecStart pointed at an existing binary,
    since the daemon is not installed yet)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("note: systemd-analyze not found, unit syntax not verified")
        return
    with tempfile.TemporaryDirectory() as tmp:
        unit = os.path.join(tmp, "plugind.service")
        with open(unit, "w") as f:
            f.write(re.sub(r"(?m)^ExecStart=.*$", "ExecStart=/bin/true", text))
        p = subprocess.run([analyze, "verify", "--man=no", unit], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        # only complaints about our unit count; the host's other units are not our business
        ours = [l for l in p.stdout.splitlines() if "plugind.service" in l]
        if ours:
            fail(f"{path}: systemd-analyze verify: " + "; ".join(ours))


def check_rules(path):
    text = open(path).read()
    if re.search(r"@\w+@", text):
        fail(f"{path}: unsubstituted @variable@")
    code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("//"))
    granted = set(re.findall(r'"(org\.plugind\.plugind1\.[a-z-]+)"', code))
    want = {"org.plugind.plugind1." + a for a in ("install", "enable", "disable", "remove")}
    if granted != want:
        fail(f"{path}: grants {sorted(granted)}, expected {sorted(want)}")
    for cond in ("subject.active", "subject.local", "subject.isInGroup("):
        if cond not in code:
            fail(f"{path}: missing condition {cond}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--busconf", required=True)
    ap.add_argument("--unit", required=True)
    ap.add_argument("--activation", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--interfaces", nargs="+", required=True)
    ap.add_argument("--daemon", required=True, help="the installed daemon's path")
    ap.add_argument("--config-dir", required=True, help="the daemon's compiled-in config dir")
    a = ap.parse_args()
    for p in [a.busconf, a.unit, a.activation, a.rules] + a.interfaces:
        if not os.path.isfile(p):
            fail(f"{p}: missing")
    if errors:
        print("\n".join("FAIL: " + e for e in errors))
        return 1
    check_busconf(a.busconf, interfaces_of(a.interfaces))
    check_activation(a.activation, a.daemon)
    check_unit(a.unit, a.daemon, a.config_dir)
    check_rules(a.rules)
    for e in errors:
        print("FAIL:", e)
    if not errors:
        print("ok")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
