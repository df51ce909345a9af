#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks the merged polkit policy against the actions of docs/dbus-api.md ("Authorization
(polkit)"): every action is there with its defaults, its org.freedesktop.policykit.imply set and
the details its message uses, and the source file has a SECURITY and a TRANSLATORS comment for
each action.

usage: check-policy.py MERGED.policy SOURCE.policy.in
"""

import sys
import xml.etree.ElementTree as ET

P = "org.plugind.plugind1."

# action: (allow_active, implied actions, details the message must use)
ACTIONS = {
    "install": ("auth_admin_keep", {"enable", "set"}, {"plugin"}),
    "install-privileged": ("auth_admin",
                           {"install", "upgrade", "upgrade-with-settings", "enable", "set"},
                           {"plugin", "privileges"}),
    "upgrade": ("auth_admin_keep", {"enable"}, {"plugin"}),
    # one check for an Upgrade with settings; a grant of upgrade alone does not cover it
    "upgrade-with-settings": ("auth_admin_keep", {"upgrade", "set", "enable"}, {"plugin"}),
    "enable": ("auth_admin_keep", set(), {"plugin"}),
    "disable": ("auth_admin_keep", set(), {"plugin"}),
    "set": ("auth_admin_keep", set(), {"plugin"}),
    "set-privileged": ("auth_admin", {"set"}, {"plugin", "privileges"}),
    "remove": ("auth_admin_keep", set(), {"plugin"}),
    "read-logs": ("auth_admin_keep", set(), {"plugin"}),
    "read-settings": ("auth_admin_keep", set(), {"plugin"}),
    "push": ("auth_admin_keep", set(), {"plugin", "registry"}),
    "query-remote": ("yes", set(), {"remote"}),
    "cancel-job-other-user": ("auth_admin_keep", set(), set()),
    "manage": ("auth_admin_keep",
               {"install", "upgrade", "upgrade-with-settings", "enable", "disable", "set",
                "remove", "push"}, set()),
}
# a lock button (manage) never grants host access: that always takes its own authentication
NEVER_IMPLIED = {"install-privileged", "set-privileged"}
# kept for remote and inactive sessions too: the lookup before an install or upgrade
# (GetPrivileges with "authorize") is asked as that action, and the call after it finds it kept
KEPT_OUTSIDE_ACTIVE = {"install", "upgrade"}
# env values and args are never read by the side effect of another grant
NEVER_IMPLIED_READS = {"read-settings"}

errors = []


def fail(msg):
    errors.append(msg)


def details_in(text):
    out = set()
    i = 0
    while True:
        i = text.find("$(", i)
        if i < 0:
            return out
        j = text.find(")", i)
        out.add(text[i + 2:j])
        i = j


def check_merged(path):
    root = ET.parse(path).getroot()
    if root.tag != "policyconfig":
        fail(f"{path}: root element is {root.tag}, not policyconfig")
    actions = {}
    for action in root.findall("action"):
        aid = action.get("id")
        if aid in actions:
            fail(f"{aid}: defined twice")
        actions[aid] = action
    expected = {P + a for a in ACTIONS}
    for extra in sorted(set(actions) - expected):
        fail(f"{extra}: not an action of docs/dbus-api.md")
    for name, (active, implies, details) in ACTIONS.items():
        aid = P + name
        action = actions.get(aid)
        if action is None:
            fail(f"{aid}: missing")
            continue
        defaults = action.find("defaults")
        if defaults is None:
            fail(f"{aid}: no <defaults>")
            continue
        got = {c.tag: (c.text or "").strip() for c in defaults}
        # every other action asks each time there, read-settings included (values may be
        # secrets)
        outside = "auth_admin_keep" if name in KEPT_OUTSIDE_ACTIVE else "auth_admin"
        want = {"allow_any": outside, "allow_inactive": outside, "allow_active": active}
        if got != want:
            fail(f"{aid}: defaults {got}, expected {want}")
        got_implies = set()
        for annotate in action.findall("annotate"):
            if annotate.get("key") == "org.freedesktop.policykit.imply":
                for implied in (annotate.text or "").split():
                    if not implied.startswith(P) or implied[len(P):] not in ACTIONS:
                        fail(f"{aid}: implies unknown action {implied}")
                    got_implies.add(implied[len(P):])
        if got_implies != implies:
            fail(f"{aid}: implies {sorted(got_implies)}, expected {sorted(implies)}")
        if name == "manage" and got_implies & NEVER_IMPLIED:
            fail(f"{aid}: must never imply {sorted(got_implies & NEVER_IMPLIED)}")
        if got_implies & NEVER_IMPLIED_READS:
            fail(f"{aid}: must never imply {sorted(got_implies & NEVER_IMPLIED_READS)}")
        # the untranslated message and description (no xml:lang)
        xml_lang = "{http://www.w3.org/XML/1998/namespace}lang"
        messages = [m for m in action.findall("message") if m.get(xml_lang) is None]
        descriptions = [d for d in action.findall("description") if d.get(xml_lang) is None]
        if len(messages) != 1 or len(descriptions) != 1:
            fail(f"{aid}: needs exactly one untranslated <message> and <description>")
            continue
        text = messages[0].text or ""
        if not text.startswith("Authentication is required to "):
            fail(f"{aid}: message does not start with 'Authentication is required to '")
        if details_in(text) != details:
            fail(f"{aid}: message uses {sorted(details_in(text))}, expected {sorted(details)}")
        # every translation keeps the $(detail) placeholders
        for m in action.findall("message"):
            if m.get(xml_lang) is not None and details_in(m.text or "") != details:
                fail(f"{aid}: the {m.get(xml_lang)} translation changes the $(...) placeholders")


def check_source(path):
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.parse(path, parser=parser).getroot()
    for action in root.findall("action"):
        aid = action.get("id")
        comments = [c.text or "" for c in action if c.tag is ET.Comment]
        if not any(c.strip().startswith("SECURITY:") for c in comments):
            fail(f"{path}: {aid} has no SECURITY comment")
        translators = sum(1 for c in comments if c.strip().startswith("TRANSLATORS:"))
        if translators < 2:
            fail(f"{path}: {aid} needs a TRANSLATORS comment before <description> and <message>")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    check_merged(sys.argv[1])
    check_source(sys.argv[2])
    for e in errors:
        print("FAIL:", e)
    if not errors:
        print(f"ok: {len(ACTIONS)} actions match docs/dbus-api.md")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
