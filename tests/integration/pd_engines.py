# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real container engines for plugind's integration tests, each private to one test.

  Dockerd   Debian's Docker Engine (docker.io: /usr/sbin/dockerd, its own containerd, runc),
            started on a private unix socket with its own data root, exec root, pid file and
            daemon.json in a work directory, no network changes, and stopped with everything it
            mounted or created outside that directory removed, also when the test failed.
            Talk to it with Dockerd.docker() (Debian's /usr/bin/docker client: another `docker`
            may come first on PATH) or Dockerd.api() (the Engine API on its socket).

  Podman    Debian's podman 4.3 (/usr/bin/podman, conmon, runc), with its storage, run root,
            tmp dir, volume path, network config dir and runc state in a work directory, and
            containers that make no network changes; stop() removes every container and what
            they left outside that directory, also when the test failed. Podman.podman() runs
            it; every setting is a flag, so that it reads the machine's containers.conf and
            drop-ins, plugind's among them.

What these machines need, found out on Debian 12 with Docker 20.10.24, containerd 1.6.20 and
runc 1.1.5 (no systemd, cgroup v1 with a cgroup2 hierarchy beside it):
  - `--bridge=none --iptables=false --ip-forward=false --ip-masq=false`: no docker0, no
    iptables rules, no sysctl. Containers then need `--network none` (or `host`).
  - cgroup v1 with the cgroupfs driver is what dockerd picks by itself here; runc works, so no
    daemon option is needed for it (podman's crun is what fails on these cgroups).
  - dockerd writes its libtrust key to /etc/docker/key.json unless daemon.json says
    "deprecated-key-path" (there is no command line flag for it in 20.10); --config-file points
    at our own daemon.json, so /etc/docker/daemon.json is never read either.
  - dockerd starts its own containerd with its state under the exec root and its root under
    the data root; the -G group of the socket is root's, so only root reaches it.
  - Outside the work directory, dockerd 20.10 uses two hard-coded places: a managed plugin's
    sockets and state are in /run/docker/plugins/<plugin id>/ (sun_path is too short for the
    exec root, moby's getPluginExecRoot), and containerd's shims put their sockets in
    /run/containerd/s/. stop() removes our plugins' directories there, the sockets of shims it
    had to kill, and the directories themselves when this daemon created them and they are
    empty. Likewise the cgroup parent `docker` runc makes in every hierarchy for containers,
    which it never removes.
  - The data root is made a shared bind mount of itself; dockerd unmounts it when it stops
    cleanly. stop() unmounts whatever is still mounted below the work directory and the plugin
    directories, deepest first, before it removes anything (never rmtree across a mount).
  - dockerd runs in its own session (meson's timeout SIGKILLs the test's process group 0.5 s
    after its SIGTERM, which would cut dockerd's own clean-up short) with the parent death
    signal SIGTERM (setpriv --pdeathsig): if the test process dies, dockerd still stops
    cleanly and unmounts its data root.
  - Registries on 127.0.0.0/8 are insecure registries by default: plain HTTP works.
  - A container image without a registry: `docker import` of a tar (e.g. busybox-static).

And for podman 4.3.1 (conmon 2.1.6, the same runc):
  - crun fails on the hybrid cgroups: `--runtime runc`, `--cgroup-manager cgroupfs`, and
    `--events-backend file` (no journald).
  - runc is asked for a nofile limit root cannot raise here (CAP_SYS_RESOURCE is not in the
    bounding set): every container gets `--ulimit nofile=20000:20000 --ulimit
    nproc=32768:32768`, what `default_ulimits` of containers.conf would give.
  - Every setting is a flag, none comes from a containers.conf of the test's own: podman
    ignores the drop-ins in /etc/containers/containers.conf.d when CONTAINERS_CONF is set, and
    plugind's drop-in is what the tests exercise. Debian's
    /usr/share/containers/containers.conf names no volume plugin.
  - `--network-config-dir` in the work directory: otherwise podman takes a lock file in
    /etc/cni/net.d. Containers run with `--network none`.
  - `--storage-driver vfs`: a container's rootfs is a directory, not a mount.
  - A `--cgroup-parent` of the test's own: runc makes it in every hierarchy and never removes
    it; stop() does. runc keeps its state in /run/runc whatever podman passes; stop() removes
    that directory when it was not there before and is empty.
  - podman writes the temporary files of `import` to $TMPDIR (else /var/tmp): TMPDIR is in the
    work directory.
  - An image without a registry: `podman import` of a tar holding a static busybox
    (Podman.import_busybox()).

tests/integration/check_pd_engines.py checks the Dockerd part of this on its own.

Library module: stdlib only. Always run with /usr/bin/python3, as root.
"""

import ctypes
import ctypes.util
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import uuid

DOCKERD = '/usr/sbin/dockerd'
DOCKER = '/usr/bin/docker'
# Debian's binaries first: dockerd finds containerd, its shims, runc and docker-init on PATH
ENGINE_PATH = '/usr/sbin:/usr/bin:/sbin:/bin'
# the hard-coded places of dockerd 20.10 and containerd 1.6 outside their roots
DOCKER_PLUGIN_EXEC_ROOT = '/run/docker/plugins'
CONTAINERD_SHIM_DIR = '/run/containerd/s'
SUN_PATH_MAX = 107
# the cgroup parent of dockerd's containers and plugins with the cgroupfs driver, in each
# hierarchy: runc removes a container's own cgroup, never this parent
CGROUP_ROOT = '/sys/fs/cgroup'
CGROUP_PARENT = 'docker'

MNT_DETACH = 2

PODMAN = '/usr/bin/podman'
BUSYBOX = '/bin/busybox'
RUNC_STATE = '/run/runc'
# the ulimits root can set on these machines, given to every podman container
PODMAN_ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768']
BUSYBOX_IMAGE = 'localhost/pd-busybox:test'


class EngineError(Exception):
    """An engine that did not start, a command that failed, or a clean-up that did not
    finish; the message holds what the engine said."""


def _libc():
    return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)


def _unescape_mountinfo(field):
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    out = bytearray()
    raw = field.encode()
    i = 0
    while i < len(raw):
        if raw[i] == 0x5c and len(raw[i + 1:i + 4]) == 3 and raw[i + 1:i + 4].isdigit():
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode(errors='surrogateescape')


def mounts():
    """The mount points of this mount namespace, in mount order."""
    with open('/proc/self/mountinfo') as f:
        return [_unescape_mountinfo(line.split()[4]) for line in f]


def _below(path, root):
    root = root.rstrip('/')
    return path == root or path.startswith(root + '/')


def mounts_below(*roots):
    """The mount points at or below any of roots, deepest (last mounted) first."""
    found = [m for m in mounts() if any(_below(m, r) for r in roots)]
    return list(reversed(found))


def unmount_below(*roots):
    """Detaches every mount at or below roots, deepest first; the ones it detached. Raises
    EngineError when one stays."""
    libc = _libc()
    done = []
    for _ in range(8):
        left = mounts_below(*roots)
        if not left:
            return done
        for m in left:
            if libc.umount2(m.encode(), MNT_DETACH) == 0:
                done.append(m)
    raise EngineError('mounts stay below %s: %s' % (', '.join(roots),
                                                    ', '.join(mounts_below(*roots))))


def _processes():
    """{pid: (ppid, argv)} of every process."""
    out = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                stat = f.read()
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                argv = [a.decode(errors='replace') for a in f.read().split(b'\0') if a]
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the fields follow the last ')'
        ppid = int(stat[stat.rindex(b')') + 2:].split()[1])
        out[int(name)] = (ppid, argv)
    return out


def processes_using(path):
    """The pids of the processes whose command line names path (or a path below it), and of all
    their descendants."""
    procs = _processes()
    found = {pid for pid, (_, argv) in procs.items()
             if any(path in a for a in argv) and pid != os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def cgroup_parents():
    """The dockerd cgroup parents that exist, one per hierarchy."""
    try:
        names = os.listdir(CGROUP_ROOT)
    except FileNotFoundError:
        return set()
    return {os.path.join(CGROUP_ROOT, n, CGROUP_PARENT) for n in names
            if os.path.isdir(os.path.join(CGROUP_ROOT, n, CGROUP_PARENT))}


def remove_empty_cgroups(top):
    """rmdir()s the cgroups below top and top itself, children first; a cgroup with tasks
    (EBUSY) or one that went away stays as it is."""
    for root, dirs, _ in os.walk(top, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:
                pass
    try:
        os.rmdir(top)
    except OSError:
        pass


def unix_sockets_of(pids, below):
    """The paths below @below of the unix sockets the processes @pids hold open."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if target.startswith('socket:['):
                inodes.add(target[len('socket:['):-1])
    paths = set()
    with open('/proc/net/unix') as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[6] in inodes and _below(fields[7], below):
                paths.add(fields[7])
    return paths


def _kill_and_wait(pids, timeout=10):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists('/proc/%d' % p) and
                 not _is_zombie(p)]
        if not alive:
            return
        time.sleep(0.05)
    raise EngineError('processes outlived SIGKILL: %s' % alive)


def _is_zombie(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rindex(b')') + 2:stat.rindex(b')') + 3] == b'Z'


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 on a unix socket."""

    def __init__(self, path, timeout=60):
        super().__init__('localhost', timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Dockerd:
    """dockerd of its own in workdir (which must exist, be private to it and short enough
    for the sockets: see SUN_PATH_MAX), started at once.

    Attributes: socket, host ('unix://…'), data_root, exec_root, pidfile, config_file,
    log_path, client_config (the docker client's DOCKER_CONFIG), proc.
    """

    def __init__(self, workdir, args=(), start_timeout=60, stop_timeout=30):
        self.workdir = os.path.abspath(workdir)
        self.socket = os.path.join(self.workdir, 'docker.sock')
        self.host = 'unix://' + self.socket
        self.data_root = os.path.join(self.workdir, 'data')
        self.exec_root = os.path.join(self.workdir, 'exec')
        self.pidfile = os.path.join(self.workdir, 'docker.pid')
        self.config_file = os.path.join(self.workdir, 'daemon.json')
        self.log_path = os.path.join(self.workdir, 'dockerd.log')
        self.client_config = os.path.join(self.workdir, 'client')
        self.args = list(args)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc = None
        self._created = []
        self._cgroups_before = set()
        ttrpc = os.path.join(self.exec_root, 'containerd', 'containerd.sock.ttrpc')
        for path in (self.socket, ttrpc):
            if len(path.encode()) > SUN_PATH_MAX:
                raise EngineError('%s is too long for a unix socket: use a shorter workdir' %
                                  path)
        self.start()

    # -- start and stop ---------------------------------------------------------------

    def start(self):
        """Starts dockerd and waits until its API answers."""
        if self.proc is not None:
            raise EngineError('dockerd is running already')
        for d in (self.workdir, self.client_config):
            os.makedirs(d, mode=0o700, exist_ok=True)
        # what we create outside workdir, and remove again if still empty
        self._created = [d for d in (os.path.dirname(DOCKER_PLUGIN_EXEC_ROOT),
                                     DOCKER_PLUGIN_EXEC_ROOT,
                                     os.path.dirname(CONTAINERD_SHIM_DIR), CONTAINERD_SHIM_DIR)
                         if not os.path.exists(d)]
        self._cgroups_before = cgroup_parents()
        with open(self.config_file, 'w') as f:
            json.dump({'deprecated-key-path': os.path.join(self.workdir, 'key.json')}, f)
        argv = ['setpriv', '--pdeathsig', 'TERM', '--', DOCKERD,
                '--host', self.host, '--group', 'root',
                '--data-root', self.data_root, '--exec-root', self.exec_root,
                '--pidfile', self.pidfile, '--config-file', self.config_file,
                '--bridge', 'none', '--iptables=false', '--ip-forward=false',
                '--ip-masq=false', '--userland-proxy=false',
                '--shutdown-timeout', '10'] + self.args
        env = {'PATH': ENGINE_PATH, 'HOME': self.workdir, 'LC_ALL': 'C.UTF-8'}
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(argv, env=env, cwd=self.workdir,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                status, _ = self.api('GET', '/_ping', timeout=5)
                if status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EngineError('dockerd did not start:\n' + self.log_tail())
            time.sleep(0.05)

    def stop(self):
        """Stops dockerd (SIGTERM: it stops its plugins, containers and containerd, and
        unmounts its data root; SIGKILL after stop_timeout), kills what outlived it, unmounts
        what is still mounted below its roots and removes what it left outside workdir. Safe to
        call more than once, and after a failed start."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        # containerd and its shims, and what they run, when dockerd could not stop them; a
        # killed shim leaves its socket behind
        left = processes_using(self.exec_root)
        shim_sockets = unix_sockets_of(left, CONTAINERD_SHIM_DIR)
        _kill_and_wait(left)
        for path in shim_sockets:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        plugin_dirs = [os.path.join(DOCKER_PLUGIN_EXEC_ROOT, i) for i in self.plugin_ids()]
        unmount_below(self.workdir, *plugin_dirs)
        for d in plugin_dirs:
            shutil.rmtree(d, ignore_errors=True)
        for d in reversed(self._created):
            try:
                os.rmdir(d)
            except OSError:
                pass  # not empty: another engine uses it now, or it was never made
        for d in cgroup_parents() - self._cgroups_before:
            remove_empty_cgroups(d)

    def plugin_ids(self):
        """The ids of the managed plugins in the data root."""
        d = os.path.join(self.data_root, 'plugins')
        if not os.path.isdir(d):
            return []
        return [n for n in os.listdir(d) if len(n) == 64 and
                all(c in '0123456789abcdef' for c in n)]

    def remove_workdir(self):
        """stop(), then removes workdir; refuses while anything is mounted below it."""
        self.stop()
        if mounts_below(self.workdir):
            raise EngineError('mounts stay below %s' % self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- talking to it ------------------------------------------------------------------

    def log(self):
        try:
            with open(self.log_path, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def log_tail(self, lines=60):
        return '\n'.join(self.log().splitlines()[-lines:])

    def client_env(self):
        """The docker client's environment: our daemon, our client config, nothing of the
        caller's DOCKER_* variables."""
        return {'PATH': ENGINE_PATH, 'HOME': self.workdir, 'LC_ALL': 'C.UTF-8',
                'DOCKER_HOST': self.host, 'DOCKER_CONFIG': self.client_config}

    def docker(self, *args, check=True, input=None, timeout=180):
        """Runs `/usr/bin/docker -H <ours> args…`; the CompletedProcess (text output).
        check: a non-zero exit raises EngineError with the output and dockerd's log."""
        p = subprocess.run([DOCKER, '--host', self.host] + [str(a) for a in args],
                           env=self.client_env(), cwd=self.workdir, input=input,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise EngineError('docker %s failed (%d):\n%s%s\n--- dockerd log ---\n%s' % (
                ' '.join(map(str, args)), p.returncode, p.stdout, p.stderr, self.log_tail()))
        return p

    def docker_json(self, *args, **kw):
        """docker … with JSON output (inspect, --format '{{json .}}'), decoded."""
        return json.loads(self.docker(*args, **kw).stdout)

    def api(self, method, path, body=None, timeout=60):
        """One Engine API request on the socket: (status, decoded JSON or text or None)."""
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        try:
            headers = {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers['Content-Type'] = 'application/json'
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.headers.get('Content-Type', '').startswith('application/json'):
                return resp.status, json.loads(raw or b'null')
            return resp.status, raw.decode(errors='replace') if raw else None
        finally:
            conn.close()


def busybox_tar(path):
    """A tar of a root file system with a static busybox and a few applets, for `import`."""
    with tarfile.open(path, 'w') as tar:
        info = tarfile.TarInfo('bin')
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        tar.add(BUSYBOX, 'bin/busybox')
        for applet in ('sh', 'cat', 'echo', 'sleep', 'ls'):
            link = tarfile.TarInfo('bin/' + applet)
            link.type = tarfile.SYMTYPE
            link.linkname = 'busybox'
            tar.addfile(link)
    return path


class Podman:
    """podman with everything of its own in workdir (which must exist or be creatable, and be
    private to it). podman is no daemon: nothing runs until a command does.

    Attributes: root, runroot, tmpdir, volume_path, network_dir, cgroup_parent.
    """

    def __init__(self, workdir):
        self.workdir = os.path.abspath(workdir)
        self.root = os.path.join(self.workdir, 'root')
        self.runroot = os.path.join(self.workdir, 'runroot')
        self.tmpdir = os.path.join(self.workdir, 'tmp')
        self.volume_path = os.path.join(self.workdir, 'volumes')
        self.network_dir = os.path.join(self.workdir, 'networks')
        self.cgroup_parent = 'pd-test-podman-' + uuid.uuid4().hex[:12]
        self._made_runc_state = not os.path.exists(RUNC_STATE)
        for d in (self.workdir, self.tmpdir, self.network_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)

    def global_flags(self):
        return ['--root', self.root, '--runroot', self.runroot, '--tmpdir', self.tmpdir,
                '--volumepath', self.volume_path, '--network-config-dir', self.network_dir,
                '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
                '--storage-driver', 'vfs']

    def env(self):
        """Nothing of the caller's CONTAINERS_* variables: podman reads the machine's
        containers.conf and its drop-ins."""
        return {'PATH': ENGINE_PATH, 'HOME': self.workdir, 'TMPDIR': self.tmpdir,
                'LC_ALL': 'C.UTF-8'}

    def podman(self, *args, check=True, timeout=180):
        """Runs `podman <our flags> args…`; the CompletedProcess (text output). check: a
        non-zero exit raises EngineError with the output."""
        p = subprocess.run([PODMAN] + self.global_flags() + [str(a) for a in args],
                           env=self.env(), cwd=self.workdir, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise EngineError('podman %s failed (%d):\n%s%s' % (
                ' '.join(map(str, args)), p.returncode, p.stdout, p.stderr))
        return p

    def podman_json(self, *args, **kw):
        """podman … with JSON output, decoded."""
        return json.loads(self.podman(*args, **kw).stdout)

    def run(self, *args, **kw):
        """`podman run` with no network, the ulimits root can set, and our cgroup parent."""
        return self.podman('run', '--network', 'none', '--cgroup-parent', self.cgroup_parent,
                           *PODMAN_ULIMITS, *args, **kw)

    def import_busybox(self, ref=BUSYBOX_IMAGE):
        """An image of a static busybox, made without a registry; its reference."""
        self.podman('import', busybox_tar(os.path.join(self.workdir, 'busybox.tar')), ref)
        return ref

    def stop(self):
        """Removes every container (with podman, then by force what outlived it: conmon and
        what it supervises), unmounts what is still mounted below workdir, and removes what
        podman and runc left outside it. Safe to call more than once."""
        if os.path.isdir(self.root):
            self.podman('rm', '--all', '--force', '--time', '0', check=False, timeout=60)
        _kill_and_wait(processes_using(self.workdir))
        unmount_below(self.workdir)
        for hierarchy in os.listdir(CGROUP_ROOT):
            top = os.path.join(CGROUP_ROOT, hierarchy, self.cgroup_parent)
            if os.path.isdir(top):
                remove_empty_cgroups(top)
        if self._made_runc_state:
            try:
                os.rmdir(RUNC_STATE)
            except OSError:
                pass  # not empty: another runtime's containers run
