#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks the translations end to end.

1. Every language of po/LINGUAS is complete for the sources as they are now: a fresh template
   from po/POTFILES.in (xgettext with the arguments of meson's 'glib' preset, which must not
   warn, e.g. about a msgid a macro cuts short), and every msgid of it translated, none fuzzy,
   format strings matching (msgfmt -c). A changed or new string fails here until the .po files
   are updated (docs/HACKING.md, "Translations").
2. The merged polkit policy carries each language's message and description for every action.
3. pluginctl and plugind speak German under LANG=de_DE.UTF-8, with the build tree's catalogs
   (PLUGIND_LOCALEDIR) and the locale generated into a private LOCPATH when the machine lacks
   it; Docker's output that scripts read stays as it is.

usage: check-translations.py SRCDIR BUILDDIR MERGED_POLICY PLUGINCTL PLUGIND CONTEXT
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

XGETTEXT_ARGS = [
    '--from-code=UTF-8', '--add-comments', '--keyword=_', '--keyword=N_', '--keyword=C_:1c,2',
    '--keyword=NC_:1c,2', '--keyword=g_dcgettext:2', '--keyword=g_dngettext:2,3',
    '--keyword=g_dpgettext2:2c,3', '--flag=N_:1:pass-c-format', '--flag=C_:2:pass-c-format',
    '--flag=NC_:2:pass-c-format', '--flag=g_dngettext:2:pass-c-format',
    '--flag=g_strdup_printf:1:c-format', '--flag=g_string_printf:2:c-format',
    '--flag=g_string_append_printf:2:c-format', '--flag=g_error_new:3:c-format',
    '--flag=g_set_error:4:c-format', '--flag=g_markup_printf_escaped:1:c-format',
    '--flag=g_log:3:c-format', '--flag=g_print:1:c-format', '--flag=g_printerr:1:c-format',
    '--flag=g_printf:1:c-format', '--flag=g_fprintf:2:c-format', '--flag=g_sprintf:2:c-format',
    '--flag=g_snprintf:3:c-format',
]

errors = []


def check(cond, message):
    if not cond:
        errors.append(message)
    return cond


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


def languages(srcdir):
    with open(os.path.join(srcdir, 'po', 'LINGUAS')) as f:
        return [w for line in f if not line.startswith('#') for w in line.split()]


def check_complete(srcdir, tmp, langs):
    pot = os.path.join(tmp, 'fresh.pot')
    p = run(['xgettext', '--package-name=plugind', '--files-from=po/POTFILES.in',
             '--directory=' + srcdir, '--output=' + pot] + XGETTEXT_ARGS, cwd=srcdir)
    check(p.returncode == 0, 'xgettext failed: ' + p.stderr)
    check('warning' not in p.stderr, 'xgettext warns (a string that cannot be translated as '
          'built?):\n' + p.stderr)
    for lang in langs:
        po = os.path.join(srcdir, 'po', lang + '.po')
        p = run(['msgfmt', '-c', '--statistics', '-o', '/dev/null', po])
        check(p.returncode == 0, '%s: msgfmt -c: %s' % (lang, p.stderr))
        check(re.fullmatch(r'\d+ translated messages?\.\n', p.stderr) is not None,
              '%s has untranslated or fuzzy messages: %s' % (lang, p.stderr.strip()))
        # every msgid of the sources, translated and not fuzzy
        p = run(['msgcmp', po, pot])
        if check(p.returncode == 0, '%s is not complete for the sources as they are: %s' %
                 (lang, p.stderr)):
            print('ok: %s is complete' % lang)


def check_policy(policy, langs):
    lang_key = '{http://www.w3.org/XML/1998/namespace}lang'
    actions = ET.parse(policy).getroot().findall('action')
    check(len(actions) > 0, 'no action in ' + policy)
    for a in actions:
        for tag in ('description', 'message'):
            english = [e.text for e in a.findall(tag) if lang_key not in e.attrib]
            for lang in langs:
                found = [e.text for e in a.findall(tag) if e.attrib.get(lang_key) == lang]
                if check(len(found) == 1 and found[0] and found[0] != english[0],
                         '%s: no %s <%s>' % (a.get('id'), lang, tag)):
                    # polkit fills in $(plugin) and the like: they must survive translation
                    check(sorted(re.findall(r'\$\(\w+\)', found[0])) ==
                          sorted(re.findall(r'\$\(\w+\)', english[0])),
                          '%s: the %s <%s> changes the $(...) variables' % (a.get('id'), lang,
                                                                           tag))
    print('ok: %d actions in %s' % (len(actions), ', '.join(langs)))


def german_env(tmp, builddir):
    """LANG=de_DE.UTF-8, from the machine's locales or a private LOCPATH"""
    env = dict(os.environ, LANG='de_DE.UTF-8', LANGUAGE='de',
               PLUGIND_LOCALEDIR=os.path.join(builddir, 'po'),
               DBUS_SYSTEM_BUS_ADDRESS='unix:path=/nonexistent')
    for k in ('LC_ALL', 'LC_MESSAGES', 'LC_CTYPE'):
        env.pop(k, None)
    probe = run(['/usr/bin/python3', '-c', 'import locale; locale.setlocale(locale.LC_ALL, "")'],
                env=env)
    if probe.returncode != 0:
        locpath = os.path.join(tmp, 'locale')
        os.mkdir(locpath)
        p = run(['localedef', '-i', 'de_DE', '-f', 'UTF-8', os.path.join(locpath, 'de_DE.UTF-8')])
        # localedef exits 1 on mere warnings; the locale is there all the same
        check(os.path.isdir(os.path.join(locpath, 'de_DE.UTF-8')),
              'localedef failed (%d): %s' % (p.returncode, p.stderr))
        env['LOCPATH'] = locpath
    return env


def check_german(tmp, builddir, pluginctl, plugind, context):
    env = german_env(tmp, builddir)

    p = run([pluginctl, '--help'], env=env)
    check(p.returncode == 0, 'pluginctl --help failed: ' + p.stderr)
    for text in ('Befehle:', 'Ein Plugin installieren', 'Exit-Status:',
                 'Nie nach einer Authentifizierung fragen'):
        check(text in p.stdout, 'pluginctl --help lacks %r:\n%s' % (text, p.stdout))

    p = run([pluginctl, 'set', '--help'], env=env)
    check('NAME SCHLÜSSEL=WERT' in p.stdout and 'Einstellungen eines Plugins ändern' in p.stdout,
          'pluginctl set --help is not German:\n' + p.stdout)

    p = run([pluginctl, 'frobnicate'], env=env)
    check(p.returncode == 2 and 'Fehler: unbekannter Befehl „frobnicate“' in p.stderr and
          'Mehr dazu zeigt „pluginctl --help“.' in p.stderr,
          'unknown command (%d): %s' % (p.returncode, p.stderr))

    p = run([pluginctl, 'set', 'x', '=1'], env=env)
    check(p.returncode == 2 and 'ungültiges Format' in p.stderr, 'set =1: ' + p.stderr)

    # the privileges question comes before any call to the daemon; "n" refuses
    p = subprocess.run([pluginctl, 'create', 'test/hello', context], env=env, input=b'n\n',
                       capture_output=True)
    out, err = p.stdout.decode(), p.stderr.decode()
    check(p.returncode == 1 and 'Das Plugin „test/hello“ verlangt die folgenden Rechte:' in out
          and 'Gewähren Sie die oben genannten Rechte? [y/N]' in out and
          'Fehler: Zugriff verweigert beim Erzeugen des Plugins test/hello' in err,
          'create prompt (%d): %s %s' % (p.returncode, out, err))
    # the privilege lines are Docker's, as scripts and the daemon name them
    check(' - capabilities: [CAP_SYS_ADMIN]' in out, 'privileges: ' + out)

    p = run([plugind, '--help'], env=env)
    check(p.returncode == 0 and 'Docker-kompatibler Dienst zur Verwaltung von Plugins' in p.stdout
          and 'Eine laufende Instanz ersetzen' in p.stdout, 'plugind --help: ' + p.stdout)

    # without the catalogs, English: the test above really read the build tree's
    p = run([pluginctl, 'frobnicate'], env=dict(env, PLUGIND_LOCALEDIR=tmp))
    check('Error: unknown command “frobnicate”' in p.stderr, 'no catalog: ' + p.stderr)
    print('ok: pluginctl and plugind in German')


def main():
    srcdir, builddir, policy, pluginctl, plugind, context = sys.argv[1:7]
    tmp = tempfile.mkdtemp(prefix='plugind-po-')
    try:
        langs = languages(srcdir)
        check(len(langs) > 0, 'po/LINGUAS lists no language')
        check_complete(srcdir, tmp, langs)
        check_policy(policy, langs)
        if check('de' in langs, 'no German translation (the runtime check uses it)'):
            check_german(tmp, builddir, pluginctl, plugind, context)
    finally:
        shutil.rmtree(tmp)
    for e in errors:
        print('FAIL:', e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
