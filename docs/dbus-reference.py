#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Turns the doc:doc annotations of D-Bus introspection XML files into one reStructuredText
reference: every interface, method, argument, signal and property with its type and text.

gdbus-codegen --generate-rst (GLib 2.74) ignores doc:doc elements, hence this script.
Python standard library only.

usage: dbus-reference.py -o OUTPUT.rst INTERFACE.xml...
"""

import argparse
import re
import sys
import xml.etree.ElementTree as ET

DOC_NS = "http://www.freedesktop.org/dbus/1.0/doc.dtd"
DOC = "{%s}" % DOC_NS
EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"
DEPRECATED = "org.freedesktop.DBus.Deprecated"


def squash(text):
    """Collapse the XML indentation of a paragraph into single spaces."""
    return re.sub(r"\s+", " ", text or "").strip()


def rst_escape(text):
    # keep `literal` markup the XML already uses; escape what rst would take as markup
    text = text.replace("\\", "\\\\")
    text = re.sub(r"(?<![`\w])\*", r"\\*", text)
    text = re.sub(r"(?<=\w)_(?=\W|$)", r"\\_", text)
    text = re.sub(r"(?<!`)`(?!`)([^`]+)`(?!`)", r"``\1``", text)
    text = text.replace("|", "\\|")
    return text


def element_text(elem):
    """All text of an element, including that of inline children."""
    return squash("".join(elem.itertext()))


def doc_of(elem):
    """(summary, [paragraphs]) of the doc:doc child of elem."""
    doc = elem.find(DOC + "doc")
    if doc is None:
        return "", []
    summary = doc.find(DOC + "summary")
    summary_text = element_text(summary) if summary is not None else ""
    paras = []
    description = doc.find(DOC + "description")
    if description is not None:
        found = False
        for para in description.iter(DOC + "para"):
            paras.append(element_text(para))
            found = True
        if not found and element_text(description):
            paras.append(element_text(description))
    return summary_text, paras


def annotations(elem):
    return {a.get("name"): a.get("value") for a in elem.findall("annotation")}


class Writer:
    def __init__(self):
        self.lines = []
        self.missing = []

    def emit(self, line=""):
        self.lines.append(line)

    def heading(self, text, char):
        self.emit(text)
        self.emit(char * len(text))
        self.emit()

    def paragraphs(self, paras, indent=""):
        for p in paras:
            self.emit(indent + rst_escape(p))
            self.emit()

    def text_or_missing(self, what, elem, indent=""):
        summary, paras = doc_of(elem)
        texts = ([summary] if summary else []) + paras
        if not texts:
            self.missing.append(what)
            return
        self.paragraphs(texts, indent)

    def args(self, what, args, with_direction):
        if not args:
            return
        self.emit("Arguments:" if with_direction else "Values:")
        self.emit()
        for arg in args:
            name = arg.get("name") or "(unnamed)"
            direction = arg.get("direction", "in") if with_direction else None
            head = f"``{name}`` (``{arg.get('type')}``"
            head += f", {direction})" if direction else ")"
            self.emit("- " + head)
            summary, paras = doc_of(arg)
            texts = ([summary] if summary else []) + paras
            if not texts:
                self.missing.append(f"{what} arg {name}")
            for t in texts:
                self.emit("  " + rst_escape(t))
        self.emit()

    def signature(self, name, args, with_direction):
        parts = []
        for arg in args:
            prefix = (arg.get("direction", "in") + " ") if with_direction else ""
            parts.append(f"{prefix}{arg.get('type')} {arg.get('name') or ''}".rstrip())
        self.emit("::")
        self.emit()
        self.emit(f"    {name} ({', '.join(parts)})")
        self.emit()


def render_interface(w, iface, source):
    name = iface.get("name")
    w.emit(f".. _{name}:")
    w.emit()
    w.heading(name, "=")
    w.emit(f"Defined in ``{source}``.")
    w.emit()
    w.text_or_missing(name, iface)

    methods = iface.findall("method")
    signals = iface.findall("signal")
    props = iface.findall("property")

    if methods:
        w.heading("Methods", "-")
        for m in methods:
            what = f"{name}.{m.get('name')}"
            w.heading(f"{m.get('name')}()", "^")
            w.signature(m.get("name"), m.findall("arg"), True)
            if DEPRECATED in annotations(m):
                w.emit("*Deprecated.*")
                w.emit()
            w.text_or_missing(what, m)
            w.args(what, m.findall("arg"), True)

    if signals:
        w.heading("Signals", "-")
        for s in signals:
            what = f"{name}::{s.get('name')}"
            w.heading(s.get("name"), "^")
            w.signature(s.get("name"), s.findall("arg"), False)
            w.text_or_missing(what, s)
            w.args(what, s.findall("arg"), False)

    if props:
        w.heading("Properties", "-")
        for p in props:
            what = f"{name}:{p.get('name')}"
            w.heading(p.get("name"), "^")
            ann = annotations(p)
            emits = ann.get(EMITS, "true")
            change = {
                "true": "PropertiesChanged carries the new value",
                "invalidates": "PropertiesChanged invalidates it",
                "const": "constant for the object's lifetime",
                "false": "no change signal; read it again",
            }.get(emits, emits)
            w.emit(f"Type ``{p.get('type')}``, access ``{p.get('access')}``; {change}.")
            w.emit()
            w.text_or_missing(what, p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--title", default="plugind D-Bus API reference")
    ap.add_argument("--strict", action="store_true",
                    help="fail when a method, argument, signal or property has no doc:doc text")
    ap.add_argument("xml", nargs="+")
    a = ap.parse_args()

    w = Writer()
    w.emit("=" * len(a.title))
    w.emit(a.title)
    w.emit("=" * len(a.title))
    w.emit()
    w.emit(".. This file is generated from the introspection XML by docs/dbus-reference.py;")
    w.emit("   edit the doc:doc elements of data/*.xml instead.")
    w.emit()
    w.emit("Bus name ``org.plugind.Plugind1`` on the system bus. The ObjectManager is at")
    w.emit("``/org/plugind/Plugind1``. See dbus-api.md for an overview, the job lifecycle,")
    w.emit("errors and polkit actions.")
    w.emit()
    w.emit(".. contents:: Interfaces")
    w.emit("   :depth: 1")
    w.emit("   :local:")
    w.emit()

    for path in a.xml:
        root = ET.parse(path).getroot()
        source = path.rsplit("/", 1)[-1]
        for iface in root.findall("interface"):
            render_interface(w, iface, source)

    with open(a.output, "w", encoding="utf-8") as f:
        f.write("\n".join(w.lines).rstrip() + "\n")

    if w.missing:
        for m in w.missing:
            print(f"{'error' if a.strict else 'warning'}: no doc:doc text for {m}",
                  file=sys.stderr)
        if a.strict:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
