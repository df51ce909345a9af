# SPDX-License-Identifier: LGPL-2.1-or-later
"""The hands and eyes of the desktop app's tests: runs as the session's user (the accessibility
bus lets only its own user in), reads the app's accessibility tree through AT-SPI (pyatspi) and
acts on it, as a screen reader or a user with a keyboard would.

gui_session.py starts it and sends one JSON request a line on standard input; each gets one
JSON answer a line on standard output: {"ok": true, ...} or {"ok": false, "error": "...",
"shown": [what the window shows]}. Only objects the window shows count: those with the AT-SPI
state VISIBLE below visible ones (GTK 4.8 sets SHOWING on windows only; the app hides what it
does not show, e.g. the other pages of a stack).

Requests ("op"):
  wait      role, name [, timeout]: until a shown object has that role and name
  gone      role, name [, timeout]: until no shown object has them
  action    role, name, action: runs the object's AT-SPI action (e.g. "click", "activate")
  set_text  role, name, text: replaces the text of an editable object
  focus     role, name: gives the object the keyboard focus
  press     role, name, key ("Return", "space", "Escape"): gives the object the keyboard
            focus, then presses and releases that key
  state     role, name: the object's AT-SPI states (e.g. "checked", "sensitive") and its
            accessible description
  text      role, name: the object's text (e.g. what an entry holds)
  shown     every shown object's [role, name]
  tree      every object with its role, name and states, indented (for debugging)
  windows   every window's name and size (for screenshots)
A name is matched exactly, or as a regular expression when the request says "regex": true;
"within": [role, name] looks only inside that object (e.g. one plugin's row).
"""

import json
import re
import sys
import time
import traceback

import pyatspi

APP_NAME = 'plugind-plugins'
# X keysyms of the keys the tests press
KEYSYMS = {'Return': 0xff0d, 'space': 0x20, 'Escape': 0xff1b}
POLL = 0.1


def find_app():
    desktop = pyatspi.Registry.getDesktop(0)
    for app in desktop:
        if app is not None and app.name == APP_NAME:
            return app
    return None


def shown_objects(root):
    """Every object below root that is visible, depth first; hidden subtrees are skipped."""
    out = []
    stack = [root]
    while stack:
        obj = stack.pop()
        try:
            states = obj.getState()
            children = list(obj)
        except Exception:  # the object went away while walking: skip it
            continue
        if obj is not root and not states.contains(pyatspi.STATE_VISIBLE):
            continue
        out.append(obj)
        stack.extend(reversed(children))
    return out


def describe(objs):
    """[role, name] of the objects that have a name, for messages"""
    shown = []
    for o in objs:
        try:
            if o.name and o.getRoleName() not in ('filler', 'scroll bar'):
                shown.append([o.getRoleName(), o.name])
        except Exception:
            pass
    return shown


def matches(obj, role, name, regex):
    try:
        if obj.getRoleName() != role:
            return False
        n = obj.name or ''
    except Exception:
        return False
    return re.search(name, n) is not None if regex else n == name


class Failure(Exception):
    pass


def lookup(req, want=True):
    """The first shown object matching req (or None when want is False and none does), waiting
    up to req['timeout'] seconds."""
    deadline = time.monotonic() + float(req.get('timeout', 20))
    while True:
        app = find_app()
        objs = shown_objects(app) if app is not None else []
        if req.get('within'):
            # only what is inside the first shown object with that role and name
            role, name = req['within']
            scope = [o for o in objs if matches(o, role, name, False)]
            objs = shown_objects(scope[0])[1:] if scope else []
        found = [o for o in objs if matches(o, req['role'], req['name'], req.get('regex'))]
        if want and found:
            return found[0]
        if not want and not found:
            return None
        if time.monotonic() > deadline:
            what = 'a %s named %r' % (req['role'], req['name'])
            if app is None:
                desktop = pyatspi.Registry.getDesktop(0)
                raise Failure('the app is not on the accessibility bus (it has %r)' %
                              [a.name if a is not None else None for a in desktop])
            raise Failure(('no %s is shown' if want else '%s is still shown') % what)
        time.sleep(POLL)


def point_at(obj):
    """Moves the pointer onto obj: with no window manager, the X server gives the keyboard to
    the window under the pointer."""
    ext = obj.queryComponent().getExtents(pyatspi.DESKTOP_COORDS)
    pyatspi.Registry.generateMouseEvent(ext.x + ext.width // 2, ext.y + ext.height // 2,
                                        pyatspi.MOUSE_ABS)


def wait_focused(obj, timeout=10):
    deadline = time.monotonic() + timeout
    while not obj.getState().contains(pyatspi.STATE_FOCUSED):
        if time.monotonic() > deadline:
            raise Failure('%s %r did not get the keyboard focus' % (obj.getRoleName(), obj.name))
        time.sleep(POLL)


def do_action(obj, name):
    action = obj.queryAction()
    names = [action.getName(i) for i in range(action.nActions)]
    if name not in names:
        raise Failure('%s %r has no action %r (it has %r)' % (obj.getRoleName(), obj.name, name,
                                                               names))
    action.doAction(names.index(name))


def handle(req):
    op = req['op']
    if op == 'wait':
        lookup(req)
        return {}
    if op == 'gone':
        lookup(req, want=False)
        return {}
    if op == 'action':
        do_action(lookup(req), req['action'])
        return {}
    if op == 'set_text':
        obj = lookup(req)
        try:
            editable = obj.queryEditableText()
        except NotImplementedError:
            editable = None
        if editable is not None:
            editable.setTextContents(req['text'])
            return {}
        # GTK 4.8 implements no EditableText: type it, as a user would
        point_at(obj)
        if not obj.queryComponent().grabFocus():
            raise Failure('%s %r took no focus' % (req['role'], req['name']))
        wait_focused(obj)
        pyatspi.Registry.generateKeyboardEvent(0, req['text'], pyatspi.KEY_STRING)
        return {}
    if op == 'focus':
        obj = lookup(req)
        if not obj.queryComponent().grabFocus():
            raise Failure('%s %r took no focus' % (req['role'], req['name']))
        return {}
    if op == 'press':
        # the keyboard on obj, then a key: what activates what has no AT-SPI action in GTK 4.8
        # (a list row)
        obj = lookup(req)
        point_at(obj)
        if not obj.queryComponent().grabFocus():
            raise Failure('%s %r took no focus' % (req['role'], req['name']))
        wait_focused(obj)
        pyatspi.Registry.generateKeyboardEvent(KEYSYMS[req['key']], '', pyatspi.KEY_SYM)
        return {}
    if op == 'text':
        text = lookup(req).queryText()
        return {'text': text.getText(0, -1)}
    if op == 'state':
        obj = lookup(req)
        return {'states': [pyatspi.stateToString(s) for s in obj.getState().getStates()],
                'description': obj.description}
    if op == 'shown':
        app = find_app()
        return {'shown': describe(shown_objects(app)) if app is not None else []}
    if op == 'tree':
        out = []
        stack = [(find_app(), 0)]
        while stack:
            obj, depth = stack.pop()
            if obj is None:
                continue
            try:
                states = [pyatspi.stateToString(x) for x in obj.getState().getStates()]
                out.append('%s%s %r %s' % ('  ' * depth, obj.getRoleName(), obj.name,
                                           ','.join(states)))
                stack.extend((c, depth + 1) for c in reversed(list(obj)))
            except Exception as e:
                out.append('%s(gone: %s)' % ('  ' * depth, e))
        return {'tree': out}
    if op == 'windows':
        app = find_app()
        out = []
        for w in (app or []):
            ext = w.queryComponent().getExtents(pyatspi.DESKTOP_COORDS)
            out.append({'name': w.name, 'x': ext.x, 'y': ext.y, 'width': ext.width,
                        'height': ext.height})
        return {'windows': out}
    raise Failure('unknown request %r' % op)


def main():
    print(json.dumps({'ok': True, 'ready': True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            answer = dict(handle(req), ok=True)
        except Failure as e:
            app = find_app()
            answer = {'ok': False, 'error': str(e),
                      'shown': describe(shown_objects(app)) if app is not None else []}
        except Exception as e:  # an AT-SPI error: the test fails with it, the driver goes on
            answer = {'ok': False, 'error': '%s: %s at %s' % (
                type(e).__name__, e, traceback.format_exc().strip().splitlines()[-3]),
                'shown': []}
        print(json.dumps(answer), flush=True)


if __name__ == '__main__':
    main()
