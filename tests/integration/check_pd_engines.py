#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-check of pd_engines.py against the real dockerd: a plugin and a container running (a
busybox image made with `docker import`), then a clean stop, and a stop after dockerd was
killed with SIGKILL; after each, no process, mount, socket, directory or cgroup of it is left.

Not a meson test; run by hand (as root) after changing pd_engines.py:
    /usr/bin/python3 tests/integration/check_pd_engines.py
Prints one line per check and exits non-zero on the first failure.
"""

import os
import shutil
import signal
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pd_engines as E  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDDIR = os.environ.get('PLUGIND_BUILDDIR') or os.path.join(HERE, '..', '..', 'build')
EXAMPLE_CONTEXT = os.path.join(BUILDDIR, 'example', 'plugind-example-context.tar.gz')
BUSYBOX = '/bin/busybox'
MACHINE_WIDE = ('/run/docker', '/run/containerd')


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print('ok  ', what)


def busy_engine(workdir):
    """A dockerd with the example plugin enabled and a container running."""
    engine = E.Dockerd(os.path.join(workdir, 'dockerd'))
    context = os.path.join(workdir, 'context')
    with tarfile.open(EXAMPLE_CONTEXT) as tar:
        tar.extractall(context)
    data = os.path.join(workdir, 'data')
    os.makedirs(data)
    engine.docker('plugin', 'create', 'example', context)
    engine.docker('plugin', 'set', 'example', 'data.source=' + data)
    engine.docker('plugin', 'enable', 'example')
    image = os.path.join(workdir, 'busybox.tar')
    with tarfile.open(image, 'w') as tar:
        tar.add(BUSYBOX, 'bin/busybox')
    engine.docker('import', image, 'busybox:local')
    out = engine.docker('run', '--rm', '--network', 'none', 'busybox:local', '/bin/busybox',
                        'echo', 'hello').stdout
    check(out == 'hello\n', 'a container runs (%r)' % out)
    engine.docker('run', '-d', '--network', 'none', 'busybox:local', '/bin/busybox', 'sleep',
                  '600')
    check(len(E.processes_using(engine.exec_root)) >= 4,
          'containerd, shims, the plugin and the container run')
    check(E.mounts_below(engine.workdir), 'dockerd mounted below its work dir')
    return engine


def check_clean(engine, before, cgroups_before):
    check(not E.processes_using(engine.exec_root), 'no process of it is left')
    check(not E.mounts_below(engine.workdir), 'no mount below its work dir is left')
    check(not os.path.exists(engine.workdir), 'its work dir is gone')
    after = {d: sorted(os.listdir(d)) if os.path.isdir(d) else None for d in MACHINE_WIDE}
    check(after == before, '%s as before (%r)' % (', '.join(MACHINE_WIDE), after))
    check(E.cgroup_parents() == cgroups_before, 'the cgroup parents as before')


def main():
    if not os.path.isfile(EXAMPLE_CONTEXT):
        sys.exit('build first: %s is missing' % EXAMPLE_CONTEXT)
    before = {d: sorted(os.listdir(d)) if os.path.isdir(d) else None for d in MACHINE_WIDE}
    cgroups_before = E.cgroup_parents()
    work = tempfile.mkdtemp(prefix='pd-check-engines-')
    try:
        engine = busy_engine(os.path.join(work, 'a'))
        engine.remove_workdir()
        check_clean(engine, before, cgroups_before)

        engine = busy_engine(os.path.join(work, 'b'))
        os.kill(engine.proc.pid, signal.SIGKILL)
        engine.proc.wait()
        engine.remove_workdir()
        check_clean(engine, before, cgroups_before)

        try:
            E.Dockerd(os.path.join(work, 'c'), args=['--no-such-flag'])
            check(False, 'a dockerd that cannot start raises')
        except E.EngineError as e:
            check('unknown flag' in str(e), 'a dockerd that cannot start raises, with its log')
        check(not E.mounts_below(work), 'nothing mounted after a failed start')
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('all checks passed')


if __name__ == '__main__':
    main()
