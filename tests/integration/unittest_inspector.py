#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints the ids (Class.method) of the unittest tests in a Python file, one a line.

meson runs it at configure time to register one test per test method, like
power-profiles-daemon's tests/unittest_inspector.py.
"""

import argparse
import importlib.util
import inspect
import os
import sys
import unittest


def list_tests(module):
    tests = []
    for name, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, unittest.TestCase) and obj.__module__ == module.__name__:
            for t in unittest.defaultTestLoader.getTestCaseNames(obj):
                tests.append('%s.%s' % (name, t))
    return tests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('unittest_source')
    args = parser.parse_args()
    path = os.path.abspath(args.unittest_source)
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for t in list_tests(module):
        print(t)


if __name__ == '__main__':
    main()
