#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pluginctl under a German locale against the real daemon: its own sentences are German, what
scripts read as Docker writes it (the ls table's header, inspect's JSON, --format output) is
not translated. po/check-translations.py checks the catalogs and the help texts."""

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile

from pd_testcase import BUILDDIR, PLUGINCTL, SRCDIR, PlugindTestCase, main

_spec = importlib.util.spec_from_file_location(
    'check_translations', os.path.join(SRCDIR, 'po', 'check-translations.py'))
check_translations = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_translations)


class LanguageTestCase(PlugindTestCase):

    def setUp(self):
        super().setUp()
        self.locale_tmp = tempfile.mkdtemp(prefix='plugind-locale-')
        self.addCleanup(shutil.rmtree, self.locale_tmp)
        self.german = check_translations.german_env(self.locale_tmp, BUILDDIR)
        self.assertEqual(check_translations.errors, [])
        self.german['DBUS_SYSTEM_BUS_ADDRESS'] = self.bus.address
        self.german.pop('DBUS_SESSION_BUS_ADDRESS', None)

    def ctl(self, *args):
        return subprocess.run([PLUGINCTL] + list(args), env=self.german, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=60)

    def test_german_sentences_docker_output(self):
        self.create_ok('test/hello')

        p = self.ctl('ls')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines()[0].split(), ['ID', 'NAME', 'DESCRIPTION',
                                                           'ENABLED'])
        self.assertIn('false', p.stdout.splitlines()[1].split())
        p = self.ctl('ls', '--format', '{{.Name}} {{.Enabled}}')
        self.assertEqual(p.stdout, 'test/hello:latest false\n')
        p = self.ctl('inspect', 'test/hello')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)[0]['Name'], 'test/hello:latest')
        self.assertIn('"Settings": {', p.stdout)

        # pluginctl's own sentences are German; the daemon's error text is not translated
        p = self.ctl('ls', '--filter', 'enabled=maybe')
        self.assertEqual(p.returncode, 2)
        self.assertIn('Fehler: ungültiger Filter „enabled=maybe“', p.stderr)
        self.assertIn('Mehr dazu zeigt „pluginctl ls --help“.', p.stderr)
        p = self.ctl('enable', '--activation-timeout', 'soon', 'test/hello')
        self.assertEqual(p.returncode, 2)
        self.assertIn('Fehler: ungültiger Wert „soon“ für --activation-timeout', p.stderr)


if __name__ == '__main__':
    main()
