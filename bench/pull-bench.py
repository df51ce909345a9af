#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pull-bench.py: the driver behind run-pull-bench.sh (see bench/README.md, "Pull benchmark").

Run by run-pull-bench.sh, which has built the tree, mounted a tmpfs on --work and started a
private system bus plus polkitd there (DBUS_SYSTEM_BUS_ADDRESS). This script:

  1. generates a deterministic small (~5 MiB, 2,000 files) and large (~300 MiB, ~8,000 files)
     rootfs, one gzip layer each (zlib level 6, as Docker), and pushes each to a docker-registry
     on 127.0.0.1 (storage on the tmpfs) twice under one repository: tag "plugin" (a plugin
     image: Docker schema 2 manifest, application/vnd.docker.plugin.v1+json config) and tag
     "oci" (an OCI image manifest + application/vnd.oci.image.config.v1+json config) with the
     very same layer blob;
  2. per size: one pull with a fresh plugind whose PLUGIND_EXTRACT_HELPER is a wrapper running
     the real helper under /usr/bin/time (the helper's peak RSS; not timed), then a fresh plugind
     with the real helper: one discarded warm-up round and --runs timed rounds of
       plugind      Manager.Pull + Job.Wait (timed), then Plugin.Remove and waiting for the
                    blob GC (not timed); the layer blob must be gone from the store before every
                    pull, and the registry's access log must show that pull download it whole
       skopeo+umoci skopeo copy docker://… oci:LAYOUT, then umoci unpack (each under
                    /usr/bin/time for its peak RSS)
       limit        curl of the blob to /dev/null, openssl sha256 of the blob file,
                    bench-inflate (zlib) | tar -x; and for context GNU gzip -dc | tar -x,
                    the inflate, gzip -dc and tar -x alone, sha256sum, sha256 of the plain tar
     in an order rotated every round; with --perf, one more pull under perf record -a;
  3. prints RESULT lines (raw) to stdout; `pull-bench.py --table RESULTS RUNS SIZES` prints the
     tables (markdown) from them.

Always run with /usr/bin/python3 (python3-gi). Nothing here asserts a time.
"""

import argparse
import hashlib
import io
import itertools
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
import zlib

BUS_NAME = 'org.plugind.Plugind1'
MANAGER_PATH = '/org/plugind/Plugind1/Manager'
MANAGER_IFACE = 'org.plugind.Plugind1.Manager'
PLUGIN_IFACE = 'org.plugind.Plugind1.Plugin'
JOB_IFACE = 'org.plugind.Plugind1.Job'

MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
MT_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
MTIME = 1700000000
MiB = 1024 * 1024

# the images: (files, bytes of the small files, big files (path, bytes, kind))
IMAGES = {
    'small': dict(seed=1, files=2000, small_bytes=5 * MiB, dirs=100, big=[]),
    'large': dict(seed=2, files=8000, small_bytes=108 * MiB, dirs=400, big=[
        ('opt/bench/data/model.bin', 64 * MiB, 'mixed'),
        ('opt/bench/data/assets.pak', 16 * MiB, 'random'),
        ('opt/bench/share/corpus.txt', 64 * MiB, 'text'),
        ('usr/lib/bench/libbig.so', 48 * MiB, 'mixed'),
    ]),
}

PLUGIN_CONFIG = {
    'Description': 'plugind pull benchmark image',
    'Documentation': 'https://example.com/plugind-bench',
    'Entrypoint': ['/bin/hello'],
    'WorkDir': '/',
    'Interface': {'Types': ['docker.volumedriver/1.0'], 'Socket': 'bench.sock'},
    'Network': {'Type': ''},
    'Env': [],
    'Args': {'Name': '', 'Description': '', 'Settable': [], 'Value': []},
    'Mounts': [],
    'Linux': {'Capabilities': [], 'AllowAllDevices': False, 'Devices': []},
    'PropagatedMount': '',
    'IpcHost': False,
    'PidHost': False,
}


def log(*args):
    print('pull-bench:', *args, file=sys.stderr, flush=True)


def result(key, value):
    if isinstance(value, float):
        value = f'{value:.6f}'
    print(f'RESULT {key} {value}', flush=True)


# ---------------------------------------------------------------------------------------------
# content

class Content:
    """Deterministic file data of three kinds: text-like (compressible ~3x by gzip), random
    (incompressible) and mixed (4 KiB blocks: 1/2 text, 1/4 random, 1/4 4-bit data)."""

    LOW_ENTROPY = bytes((b & 0x0f) + 0x30 for b in range(256))

    def __init__(self, rng):
        self.rng = rng
        letters = 'abcdefghijklmnopqrstuvwxyz'
        vocab = [''.join(rng.choices(letters, k=rng.randint(2, 11))) for _ in range(4000)]
        cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(vocab))))
        words = rng.choices(vocab, cum_weights=cum, k=900000)
        lines = (' '.join(words[i:i + 11]) + ('.' if i % 7 else ';') for i in
                 range(0, len(words), 11))
        self.corpus = '\n'.join(lines).encode()

    def text(self, n):
        out = []
        while n > 0:
            # slices of up to 64 KiB from anywhere in the 5 MB corpus: beyond deflate's window
            k = min(n, self.rng.randint(16384, 65536))
            start = self.rng.randrange(0, len(self.corpus) - k)
            out.append(self.corpus[start:start + k])
            n -= k
        return b''.join(out)

    def random(self, n):
        return self.rng.randbytes(n)

    def mixed(self, n):
        out = []
        while n > 0:
            k = min(n, 4096)
            r = self.rng.random()
            if r < 0.25:
                out.append(self.rng.randbytes(k))
            elif r < 0.75:
                out.append(self.text(k))
            else:
                out.append(self.rng.randbytes(k).translate(self.LOW_ENTROPY))
            n -= k
        return b''.join(out)

    def data(self, kind, n):
        return getattr(self, kind)(n)


def plan_tree(spec):
    """[(path, kind, size, mode) | (path, 'symlink', target)] and the set of dirs."""
    rng = random.Random(spec['seed'] * 1000 + 7)
    tops = ['usr/lib/bench', 'usr/share/bench', 'opt/bench/app', 'etc/bench', 'usr/bin']
    dirs = []
    for i in range(spec['dirs']):
        top = tops[i % len(tops)]
        dirs.append(f'{top}/m{i // 10:02d}/p{i:03d}' if i % 3 else f'{top}/p{i:03d}')
    # log-uniform sizes from 64 B to 256 KiB, scaled to the wanted total
    raw = [2 ** rng.uniform(6, 18) for _ in range(spec['files'])]
    scale = spec['small_bytes'] / sum(raw)
    entries = []
    for i, size in enumerate(raw):
        d = dirs[rng.randrange(len(dirs))]
        r = rng.random()
        kind = 'text' if r < 0.65 else 'mixed' if r < 0.92 else 'random'
        ext = {'text': 'txt', 'mixed': 'so', 'random': 'bin'}[kind]
        path = f'{d}/f{i:05d}.{ext}'
        if i % 100 == 99:
            entries.append((path, 'symlink', f'f{i - 1:05d}.{ext}'))
            continue
        entries.append((path, kind, max(1, int(size * scale)), 0o755 if i % 10 == 0 else 0o644))
    entries.append(('bin/hello', 'text', 64, 0o755))
    for path, size, kind in spec['big']:
        entries.append((path, kind, size, 0o644))
    all_dirs = set()
    for e in entries:
        parts = e[0].split('/')[:-1]
        for k in range(1, len(parts) + 1):
            all_dirs.add('/'.join(parts[:k]))
    return entries, all_dirs


def build_image(name, workdir):
    """Writes NAME.tar and NAME.tar.gz in workdir; returns a dict of facts."""
    spec = IMAGES[name]
    t0 = time.monotonic()
    content = Content(random.Random(spec['seed']))
    entries, dirs = plan_tree(spec)
    items = [(tuple(d.split('/')), (d, 'dir')) for d in dirs]
    items += [(tuple(e[0].split('/')), e) for e in entries]
    items.sort(key=lambda x: x[0])   # a directory before its contents, as a tree walk
    tar_path = os.path.join(workdir, f'{name}.tar')
    gz_path = tar_path + '.gz'
    n_files = n_links = 0
    data_bytes = 0
    with open(tar_path, 'wb') as f, tarfile.open(fileobj=f, mode='w',
                                                 format=tarfile.PAX_FORMAT) as tar:
        for _, e in items:
            info = tarfile.TarInfo(e[0])
            info.mtime = MTIME
            info.uname = info.gname = 'root'
            if e[1] == 'dir':
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif e[1] == 'symlink':
                info.type = tarfile.SYMTYPE
                info.linkname = e[2]
                info.mode = 0o777
                tar.addfile(info)
                n_links += 1
            else:
                data = content.data(e[1], e[2])
                info.size = len(data)
                info.mode = e[3]
                tar.addfile(info, io.BytesIO(data))
                n_files += 1
                data_bytes += len(data)
    diff = hashlib.sha256()
    blob = hashlib.sha256()
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)   # gzip, mtime 0: Docker's default level
    with open(tar_path, 'rb') as src, open(gz_path, 'wb') as dst:
        while True:
            chunk = src.read(MiB)
            if not chunk:
                break
            diff.update(chunk)
            out = comp.compress(chunk)
            blob.update(out)
            dst.write(out)
        out = comp.flush()
        blob.update(out)
        dst.write(out)
    facts = dict(tar=tar_path, gz=gz_path, diff_id='sha256:' + diff.hexdigest(),
                 digest='sha256:' + blob.hexdigest(), tar_bytes=os.path.getsize(tar_path),
                 gz_bytes=os.path.getsize(gz_path), files=n_files, symlinks=n_links,
                 dirs=len(dirs), data_bytes=data_bytes)
    log(f'{name}: {n_files} files, {n_links} symlinks, {len(dirs)} dirs, '
        f'{data_bytes / MiB:.1f} MiB of data, tar {facts["tar_bytes"] / MiB:.1f} MiB, '
        f'gzip {facts["gz_bytes"] / MiB:.1f} MiB ({time.monotonic() - t0:.1f} s)')
    return facts


def push_image(R, registry, repo, facts):
    with open(facts['gz'], 'rb') as f:
        blob = f.read()
    config = R.make_plugin_config(PLUGIN_CONFIG, [facts['diff_id']])
    R.push_plugin(registry.url, repo, 'plugin', config, [(blob, R.MT_LAYER_GZIP)])
    # the same layer blob as an OCI image: the HEAD of push_blob finds it in the repository
    oci_config = json.dumps({
        'architecture': 'amd64', 'os': 'linux', 'config': {},
        'rootfs': {'type': 'layers', 'diff_ids': [facts['diff_id']]},
    }, separators=(',', ':')).encode()
    config_digest = R.push_blob(registry.url, repo, oci_config)
    layer_digest = R.push_blob(registry.url, repo, blob)
    assert layer_digest == facts['digest']
    manifest = json.dumps({
        'schemaVersion': 2, 'mediaType': R.MT_OCI_MANIFEST,
        'config': {'mediaType': MT_OCI_CONFIG, 'digest': config_digest, 'size': len(oci_config)},
        'layers': [{'mediaType': MT_OCI_LAYER_GZIP, 'digest': layer_digest, 'size': len(blob)}],
    }, indent=3).encode()
    R.push_manifest_raw(registry.url, repo, 'oci', manifest, R.MT_OCI_MANIFEST)


# ---------------------------------------------------------------------------------------------
# processes

class PidFiles:
    """PIDs of what we start, for run-pull-bench.sh's clean-up if we die without ours."""

    def __init__(self, d):
        self.dir = d
        os.makedirs(d, exist_ok=True)

    def add(self, name, pid):
        with open(os.path.join(self.dir, name), 'w') as f:
            f.write(f'{pid}\n')

    def remove(self, name):
        try:
            os.unlink(os.path.join(self.dir, name))
        except FileNotFoundError:
            pass


def stop_process(proc, timeout=15):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_status(pid):
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('VmHWM', 'VmRSS', 'RssAnon', 'RssFile'):
                out[key] = int(value.split()[0])
    return out


def proc_children(pid):
    """The pids of @pid's child processes (of all its threads)."""
    out = []
    for task in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{task}/children') as f:
                out += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def proc_cpu(pid):
    """(own user+sys, reaped children's user+sys) in seconds."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    tick = os.sysconf('SC_CLK_TCK')
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / tick, (cutime + cstime) / tick


class Daemon:
    def __init__(self, args, bus, pids, label, helper, transfer=None):
        from gi.repository import GLib
        self.GLib = GLib
        self.bus = bus
        self.pids = pids
        self.label = label
        self.state = os.path.join(args.work, f'state-{label}')
        self.runtime = os.path.join(args.work, f'run-{label}')
        for d in (self.state, self.runtime):
            os.makedirs(d, mode=0o700)
        env = dict(os.environ, STATE_DIRECTORY=self.state, RUNTIME_DIRECTORY=self.runtime,
                   CONFIGURATION_DIRECTORY=args.config_dir, PLUGIND_EXTRACT_HELPER=helper,
                   PLUGIND_SANDBOX_INIT=os.path.join(args.builddir, 'src', 'helpers',
                                                     'plugind-sandbox-init'),
                   PLUGIND_TRANSFER_HELPER=transfer or os.path.join(args.builddir, 'src',
                                                                    'helpers', 'plugind-transfer'))
        self.log_path = os.path.join(args.work, f'plugind-{label}.log')
        with open(self.log_path, 'ab') as logf:
            self.proc = subprocess.Popen([os.path.join(args.builddir, 'src', 'daemon', 'plugind')],
                                         env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        pids.add(f'plugind-{label}', self.proc.pid)
        self.pid = self.proc.pid
        # its own session is its own scheduling autogroup: BENCH_NICE (run-pull-bench.sh) for it too
        if os.environ.get('BENCH_NICE'):
            with open(f'/proc/{self.pid}/autogroup', 'w') as f:
                f.write(os.environ['BENCH_NICE'])
        self._wait_name()

    def _wait_name(self):
        GLib = self.GLib
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'plugind exited during start-up, see {self.log_path}')
            try:
                owner = self.bus.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                           'org.freedesktop.DBus', 'GetConnectionUnixProcessID',
                                           GLib.Variant('(s)', (BUS_NAME,)),
                                           GLib.VariantType('(u)'), 0, 5000, None)[0]
                if owner == self.pid:
                    return
            except GLib.Error:
                pass
            time.sleep(0.02)
        raise RuntimeError(f'plugind did not own {BUS_NAME} within 20 s')

    def stop(self):
        stop_process(self.proc)
        self.pids.remove(f'plugind-{self.label}')

    def call(self, path, iface, method, args, reply, timeout=60000):
        GLib = self.GLib
        return self.bus.call_sync(BUS_NAME, path, iface, method, args,
                                  GLib.VariantType(reply) if reply else None, 0, timeout, None)

    def pull(self, remote, name):
        """(seconds from the Pull call to Wait's return, plugin object path)."""
        GLib = self.GLib
        opts = {'grant-all-privileges': GLib.Variant('b', True)}
        t0 = time.monotonic()
        job = self.call(MANAGER_PATH, MANAGER_IFACE, 'Pull',
                        GLib.Variant('(ssa(ssas)a{sv})', (remote, name, [], opts)), '(o)')[0]
        results = self.call(job, JOB_IFACE, 'Wait', None, '(a{sv})', GLib.MAXINT)[0]
        t1 = time.monotonic()
        return t1 - t0, results['plugin']

    def get_privileges(self, remote):
        GLib = self.GLib
        t0 = time.monotonic()
        self.call(MANAGER_PATH, MANAGER_IFACE, 'GetPrivileges',
                  GLib.Variant('(sa{sv})', (remote, {})), '(a(ssas)a{sv})')
        return time.monotonic() - t0

    def blobs(self):
        d = os.path.join(self.state, 'blobs', 'sha256')
        return os.listdir(d) if os.path.isdir(d) else []

    def remove_and_settle(self, plugin, layer_digest):
        """Remove (not timed), then wait until the store is empty again: no blob (the GC ran),
        no plugin dir and no staging or ingest files."""
        GLib = self.GLib
        self.call(plugin, PLUGIN_IFACE, 'Remove', GLib.Variant('(a{sv})', ({},)), None)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = (self.blobs() or os.listdir(os.path.join(self.state, 'plugins'))
                    or os.listdir(os.path.join(self.state, 'tmp')))
            if not busy:
                return
            time.sleep(0.01)
        raise RuntimeError(f'after Remove the store of {self.state} did not empty: blobs '
                           f'{self.blobs()} (layer {layer_digest})')

    def check_empty(self, layer_digest):
        if layer_digest.split(':', 1)[1] in self.blobs():
            raise RuntimeError('the layer blob is in the store before a pull: it would not be '
                               'downloaded')


def timed(cmd, rss_file, **kw):
    """Runs cmd under /usr/bin/time: (wall seconds, peak RSS KiB, user+sys seconds)."""
    full = ['/usr/bin/time', '-f', '%M %U %S', '-o', rss_file] + cmd
    t0 = time.monotonic()
    subprocess.run(full, check=True, stdin=subprocess.DEVNULL, **kw)
    wall = time.monotonic() - t0
    with open(rss_file) as f:
        rss, user, sys_ = f.read().split()[-3:]
    return wall, int(rss), float(user) + float(sys_)


def thread_cpu(pid):
    """{tid: (thread name, user+sys seconds)} of the live threads of pid."""
    tick = os.sysconf('SC_CLK_TCK')
    out = {}
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/stat') as f:
                text = f.read()
        except FileNotFoundError:
            continue
        comm = text[text.index('(') + 1:text.rindex(')')]
        fields = text.rsplit(')', 1)[1].split()
        out[tid] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    return out


def rm_rf(*paths):
    subprocess.run(['rm', '-rf', '--one-file-system', '--'] + list(paths), check=True)


# ---------------------------------------------------------------------------------------------
# the rounds

class SizeBench:
    def __init__(self, args, bus, pids, registry, name, facts):
        self.args = args
        self.bus = bus
        self.pids = pids
        self.registry = registry
        self.name = name
        self.facts = facts
        self.repo = f'bench/{name}'
        self.remote = f'{registry.host}/{self.repo}:plugin'
        self.oci_ref = f'docker://{registry.host}/{self.repo}:oci'
        self.blob_url = f'{registry.url}/v2/{self.repo}/blobs/{facts["digest"]}'
        self.scratch = os.path.join(args.work, 'scratch')
        os.makedirs(self.scratch, exist_ok=True)
        self.samples = {}
        self.rss_file = os.path.join(self.scratch, 'time.out')

    def add(self, key, value):
        self.samples.setdefault(key, []).append(value)

    def plugind_downloads(self):
        """How many times the registry has sent plugind the whole layer blob (its access log)."""
        line = re.compile(r'"GET /v2/%s/blobs/%s HTTP/1\.1" 200 %d "[^"]*" "plugind/' %
                          (re.escape(self.repo), re.escape(self.facts['digest']),
                           self.facts['gz_bytes']))
        with open(self.registry.log_path, errors='replace') as f:
            return sum(1 for text in f if line.search(text))

    # -- the tools ------------------------------------------------------------------------

    def run_plugind(self, daemon, record):
        daemon.check_empty(self.facts['digest'])
        downloads = self.plugind_downloads()
        cpu0 = proc_cpu(daemon.pid)
        seconds, plugin = daemon.pull(self.remote, f'bench/{self.name}:latest')
        cpu1 = proc_cpu(daemon.pid)
        status = proc_status(daemon.pid)
        # the registry writes its access log line once the response is complete
        deadline = time.monotonic() + 5
        while self.plugind_downloads() != downloads + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.plugind_downloads() != downloads + 1:
            raise RuntimeError('the registry log does not show exactly one download of the layer '
                               f'by this pull ({self.plugind_downloads() - downloads})')
        if record:
            self.add('plugind', seconds)
            self.add('plugind.cpu_daemon', cpu1[0] - cpu0[0])
            self.add('plugind.cpu_helper', cpu1[1] - cpu0[1])
            self.add('plugind.vmhwm_kb', status['VmHWM'])
            self.add('plugind.vmrss_after_kb', status['VmRSS'])
        daemon.remove_and_settle(plugin, self.facts['digest'])
        t = daemon.get_privileges(self.remote)
        if record:
            self.add('plugind.getprivileges', t)
        return seconds

    def run_skopeo_umoci(self, record):
        layout = os.path.join(self.scratch, 'layout')
        bundle = os.path.join(self.scratch, 'bundle')
        rm_rf(layout, bundle)
        env = dict(os.environ, TMPDIR=self.scratch)
        s = timed(['skopeo', 'copy', '--quiet', '--insecure-policy', '--src-tls-verify=false',
                   self.oci_ref, f'oci:{layout}:img'], self.rss_file, env=env)
        u = timed(['umoci', 'unpack', '--image', f'{layout}:img', bundle], self.rss_file,
                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # skopeo + tar: the same download, then the shell's extraction of its layer blob
        blob = os.path.join(layout, 'blobs', 'sha256', self.facts['digest'].split(':')[1])
        rm_rf(bundle)
        if record:
            self.add('skopeo', s[0])
            self.add('skopeo.rss_kb', s[1])
            self.add('skopeo.cpu', s[2])
            self.add('umoci', u[0])
            self.add('umoci.rss_kb', u[1])
            self.add('umoci.cpu', u[2])
            self.add('skopeo_umoci', s[0] + u[0])
        if not os.path.exists(blob):
            raise RuntimeError(f'skopeo did not write the layer blob {blob}')
        rm_rf(layout)
        return s[0] + u[0]

    def run_limit(self, record):
        gz, tar = self.facts['gz'], self.facts['tar']
        inflate = os.path.join(self.args.builddir, 'bench', 'bench-inflate')
        out = os.path.join(self.scratch, 'untar')

        def fresh_out():
            rm_rf(out)
            os.makedirs(out)

        fresh_out()
        dl = timed(['curl', '-sS', '-f', '--noproxy', '*', '-o', '/dev/null', self.blob_url],
                   self.rss_file)
        sha = timed(['openssl', 'dgst', '-sha256', '-r', gz], self.rss_file,
                    stdout=subprocess.DEVNULL)
        # zlib's inflate (as plugind) into tar -x: the limit's third component
        unt = timed(['sh', '-c', '"$1" "$2" | tar -x -C "$3"', 'sh', inflate, gz, out],
                    self.rss_file)
        fresh_out()
        # context: GNU gzip (what tar -xzf runs), the parts alone, coreutils' sha256sum
        gunt = timed(['sh', '-c', 'gzip -dc "$1" | tar -x -C "$2"', 'sh', gz, out],
                     self.rss_file)
        fresh_out()
        infl = timed([inflate, gz], self.rss_file, stdout=subprocess.DEVNULL)
        gun = timed(['gzip', '-dc', gz], self.rss_file, stdout=subprocess.DEVNULL)
        tx = timed(['tar', '-x', '-C', out, '-f', tar], self.rss_file)
        sha_cu = timed(['sha256sum', gz], self.rss_file, stdout=subprocess.DEVNULL)
        sha_tar = timed(['openssl', 'dgst', '-sha256', '-r', tar], self.rss_file,
                        stdout=subprocess.DEVNULL)
        # ISA-L's igzip (Debian's isal), the fastest inflater on the machine when installed
        igz = None
        if shutil.which('igzip'):
            igz = timed(['igzip', '-d', '-c', gz], self.rss_file, stdout=subprocess.DEVNULL)
        fresh_out()
        bound = self.run_bare_pipeline(out, inflate if igz is None else None)
        rm_rf(out)
        if record:
            self.add('download', dl[0])
            self.add('sha256', sha[0])
            self.add('gunzip_untar', unt[0])
            self.add('limit', max(dl[0], sha[0], unt[0]))
            self.add('sum', dl[0] + sha[0] + unt[0])
            self.add('gzip_untar', gunt[0])
            self.add('inflate', infl[0])
            self.add('inflate.cpu', infl[2])
            self.add('gunzip_gnu', gun[0])
            self.add('untar', tx[0])
            self.add('sha256sum', sha_cu[0])
            self.add('sha256_tar', sha_tar[0])
            # the stage limit: each stage of the one-pass pipeline alone, with the best
            # implementation available (inflate: zlib or igzip; extract: tar -x of the plain tar)
            best_inflate = infl[0] if igz is None else min(infl[0], igz[0])
            self.add('inflate_best', best_inflate)
            if igz is not None:
                self.add('inflate_igzip', igz[0])
            stage_limit = max(dl[0], sha[0], best_inflate, tx[0])
            self.add('stage_limit', stage_limit)
            # the floor of the whole work on this machine: each stage's CPU time alone, with the
            # best tool (the download as plugind does it: into a file, plus the registry's CPU
            # for sending it), summed and spread over every core without any cost of its own;
            # nothing doing all of that work can finish sooner, nor before its slowest stage
            best_inflate_cpu = infl[2] if igz is None else min(infl[2], igz[2])
            cpu_sum = bound['download_cpu'] + sha[2] + best_inflate_cpu + sha_tar[2] + tx[2]
            ncpu = os.cpu_count()
            self.add('stage_cpu_sum', cpu_sum)
            self.add('cpu_floor', cpu_sum / ncpu)
            self.add('machine_floor', max(stage_limit, cpu_sum / ncpu))
            self.add('download_store', bound['download_wall'])
            self.add('download_store.cpu', bound['download_cpu'])
            self.add('sha256.cpu', sha[2])
            self.add('inflate_best.cpu', best_inflate_cpu)
            self.add('sha256_tar.cpu', sha_tar[2])
            self.add('untar.cpu', tx[2])
            self.add('bare_pipeline', bound['pipeline_wall'])
            self.add('bare_pipeline.cpu', bound['pipeline_cpu'])
        return max(dl[0], sha[0], unt[0])

    def run_bare_pipeline(self, out, zlib_inflate):
        """The whole work of a pull by bare tools: the download into a file alone (its CPU
        with the registry's), then all of it at once as one pipeline, each stage a process
        of its own on whichever core is free: curl | tee BLOB >(sha256) | igzip -dc |
        tee >(sha256) | tar -x. The digests are checked, so no stage skipped its work."""
        blob = os.path.join(self.scratch, 'blob')
        reg = self.registry.proc.pid
        r0 = proc_cpu(reg)[0]
        dl = timed(['curl', '-sS', '-f', '--noproxy', '*', '-o', blob, self.blob_url],
                   self.rss_file)
        r1 = proc_cpu(reg)[0]
        os.unlink(blob)
        work = os.path.join(self.scratch, 'pipe')
        rm_rf(work)
        os.makedirs(work)
        inflater = f'"{zlib_inflate}" /dev/stdin' if zlib_inflate else 'igzip -d -c'
        script = ('set -eu -o pipefail\n'
                  'd="$1"; url="$2"; out="$3"\n'
                  'mkfifo "$d/blob.fifo" "$d/tar.fifo"\n'
                  'openssl dgst -sha256 -r <"$d/blob.fifo" >"$d/blob.sha" & a=$!\n'
                  'openssl dgst -sha256 -r <"$d/tar.fifo" >"$d/tar.sha" & b=$!\n'
                  'curl -sS -f --noproxy "*" -o - "$url" | tee "$d/blob" "$d/blob.fifo" | '
                  f'{inflater} | tee "$d/tar.fifo" | tar -x -C "$out"\n'
                  'wait "$a" "$b"\n')
        r2 = proc_cpu(reg)[0]
        pipe = timed(['bash', '-c', script, 'bash', work, self.blob_url, out], self.rss_file)
        r3 = proc_cpu(reg)[0]
        for name, want in (('blob.sha', self.facts['digest']), ('tar.sha', self.facts['diff_id'])):
            with open(os.path.join(work, name)) as f:
                got = 'sha256:' + f.read().split()[0]
            if got != want:
                raise RuntimeError(f'the bare pipeline\'s {name} is {got}, not {want}')
        if os.path.getsize(os.path.join(work, 'blob')) != self.facts['gz_bytes']:
            raise RuntimeError('the bare pipeline stored a blob of the wrong size')
        rm_rf(work)
        return dict(download_wall=dl[0], download_cpu=dl[2] + (r1 - r0),
                    pipeline_wall=pipe[0], pipeline_cpu=pipe[2] + (r3 - r2))

    # -- the runs -------------------------------------------------------------------------

    def helper_rss(self):
        """One pull with a fresh plugind whose helper runs under /usr/bin/time."""
        args = self.args
        logs = os.path.join(self.scratch, 'helper-time')
        os.makedirs(logs, exist_ok=True)
        for f in os.listdir(logs):
            os.unlink(os.path.join(logs, f))
        wrapper = os.path.join(args.work, 'plugind-extract-timed')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\n'
                    f'exec /usr/bin/time -f "%M %U %S" -o "{logs}/helper.$$" '
                    f'"{os.path.join(args.builddir, "src", "helpers", "plugind-extract")}" "$@"\n')
        os.chmod(wrapper, 0o755)
        # the job's plugind-transfer under /usr/bin/time too; the spare the daemon starts after
        # the job runs unwrapped (it is killed, and a killed wrapper would orphan it)
        transfer = os.path.join(args.builddir, 'src', 'helpers', 'plugind-transfer')
        transfer_wrapper = os.path.join(args.work, 'plugind-transfer-timed')
        with open(transfer_wrapper, 'w') as f:
            f.write('#!/bin/sh\n'
                    f'[ "$1" = spare ] && exec "{transfer}" "$@"\n'
                    f'exec /usr/bin/time -f "%M %U %S" -o "{logs}/transfer.$$" "{transfer}" "$@"\n')
        os.chmod(transfer_wrapper, 0o755)
        daemon = Daemon(args, self.bus, self.pids, f'{self.name}-rss', wrapper, transfer_wrapper)
        try:
            idle = proc_status(daemon.pid)
            seconds, plugin = daemon.pull(self.remote, f'bench/{self.name}:latest')
            status = proc_status(daemon.pid)
            daemon.remove_and_settle(plugin, self.facts['digest'])
            # idle again (the job gone, its plugin removed): what the pull left mapped. The
            # daemon keeps a spare plugind-transfer for at most 10 s after a job: its memory
            # is reported beside, and the daemon is read again once it has gone
            time.sleep(1)
            spare = 0
            for child in proc_children(daemon.pid):
                try:
                    spare += proc_status(child)['VmRSS']
                except FileNotFoundError:
                    pass
            deadline = time.monotonic() + 30
            while proc_children(daemon.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if proc_children(daemon.pid):
                raise RuntimeError('the spare plugind-transfer did not go away in 30 s')
            after = proc_status(daemon.pid)
        finally:
            daemon.stop()
        files = os.listdir(logs)
        runs = {kind: [f for f in files if f.startswith(kind + '.')]
                for kind in ('helper', 'transfer')}
        if len(runs['helper']) != 1 or len(runs['transfer']) != 1:
            raise RuntimeError(f'expected one extraction and one transfer helper run, found {files}')
        with open(os.path.join(logs, runs['helper'][0])) as f:
            rss, user, sys_ = f.read().split()[-3:]
        with open(os.path.join(logs, runs['transfer'][0])) as f:
            t_rss, t_user, t_sys = f.read().split()[-3:]
        result(f'{self.name}.first_pull_wrapped_s', seconds)
        result(f'{self.name}.helper.rss_kb', int(rss))
        result(f'{self.name}.helper.cpu_s', float(user) + float(sys_))
        result(f'{self.name}.transfer.rss_kb', int(t_rss))
        result(f'{self.name}.transfer.cpu_s', float(t_user) + float(t_sys))
        result(f'{self.name}.transfer_spare.rss_kb', spare)
        result(f'{self.name}.plugind.idle_vmhwm_kb', idle['VmHWM'])
        result(f'{self.name}.plugind.vmhwm_1pull_kb', status['VmHWM'])
        result(f'{self.name}.plugind.idle_vmrss_first_kb', idle['VmRSS'])
        result(f'{self.name}.plugind.idle_vmrss_1pull_kb', after['VmRSS'])
        result(f'{self.name}.plugind.idle_rssanon_1pull_kb', after['RssAnon'])

    def run(self):
        args = self.args
        self.helper_rss()
        daemon = Daemon(args, self.bus, self.pids, self.name,
                        os.path.join(args.builddir, 'src', 'helpers', 'plugind-extract'))
        try:
            result(f'{self.name}.plugind.idle_vmrss_kb', proc_status(daemon.pid)['VmRSS'])
            tools = [('plugind', lambda rec: self.run_plugind(daemon, rec)),
                     ('skopeo_umoci', self.run_skopeo_umoci),
                     ('limit', self.run_limit)]
            for rnd in range(args.runs + 1):
                record = rnd > 0
                order = tools[rnd % 3:] + tools[:rnd % 3]
                line = []
                for label, fn in order:
                    t = fn(record)
                    if not record and label == 'plugind':
                        result(f'{self.name}.plugind.first_pull_s', t)
                    line.append(f'{label} {t:.3f} s')
                log(f'{self.name} {"round " + str(rnd) if record else "warm-up"}: '
                    + ', '.join(line))
            if args.perf:
                self.perf(daemon)
            if args.trace:
                self.trace(daemon)
        finally:
            daemon.stop()
        for key, values in sorted(self.samples.items()):
            if key.endswith('_kb'):
                result(f'{self.name}.{key}.max', max(values))
                result(f'{self.name}.{key}.first', values[0])
                result(f'{self.name}.{key}.last', values[-1])
            else:
                result(f'{self.name}.{key}.median', statistics.median(values))
                result(f'{self.name}.{key}.min', min(values))
                result(f'{self.name}.{key}.max', max(values))

    def trace(self, daemon):
        """One more pull under `perf trace -a` of the system calls that mark the steps of a
        pull (D-Bus messages, the helper's spawn and exit, syncs, renames), for reading the fixed
        costs; the pull's own time is inflated a little by the tracing."""
        out = os.path.join(self.args.builddir, f'bench-pull-trace-{self.name}.txt')
        events = ('execve,clone,clone3,wait4,waitid,syncfs,fsync,fdatasync,renameat,renameat2,'
                  'sendmsg,recvmsg,connect,exit_group,mkdirat,unlinkat,linkat,socketpair,memfd_create')
        tr = subprocess.Popen(['perf', 'trace', '-a', '-T', '-o', out, '-e', events],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        self.pids.add('perf-trace', tr.pid)
        try:
            time.sleep(1.0)
            t0 = time.monotonic()
            seconds, plugin = daemon.pull(self.remote, f'bench/{self.name}:latest')
            time.sleep(0.2)
        finally:
            tr.send_signal(signal.SIGINT)
            tr.wait(60)
            self.pids.remove('perf-trace')
        daemon.remove_and_settle(plugin, self.facts['digest'])
        log(f'{self.name}: pull under perf trace: {seconds:.3f} s (t0 {t0:.6f}), {out}')

    def perf(self, daemon):
        """One more pull under perf record -a -g (not timed)."""
        data = os.path.join(self.args.work, f'perf-{self.name}.data')
        graph = ['--call-graph', 'dwarf,16384'] if self.args.perf == 'dwarf' else ['-g']
        perf = subprocess.Popen(['perf', 'record', '-a', '-F', str(PERF_FREQ), '-o', data]
                                + graph,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.pids.add('perf', perf.pid)
        try:
            time.sleep(0.5)
            seconds, plugin = daemon.pull(self.remote, f'bench/{self.name}:latest')
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
            self.pids.remove('perf')
        daemon.remove_and_settle(plugin, self.facts['digest'])
        log(f'{self.name}: pull under perf record: {seconds:.3f} s')
        out = os.path.join(self.args.builddir, f'bench-pull-perf-{self.name}.txt')
        kept = os.path.join(self.args.builddir, f'bench-pull-perf-{self.name}.data')
        subprocess.run(['cp', data, kept], check=True)

        def report(f, *extra):
            f.write(f'===== perf report {" ".join(extra)}\n')
            f.flush()
            subprocess.run(['perf', 'report', '-i', data, '--stdio'] + list(extra), stdout=f,
                           stderr=subprocess.DEVNULL)

        script = subprocess.run(['perf', 'script', '-i', data, '-F', 'comm,tid,ip,sym,dso'],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                errors='replace').stdout
        with open(out, 'w') as f:
            f.write(f'perf record -a -F {PERF_FREQ} {" ".join(graph)} during one {self.name} pull '
                    f'({seconds:.3f} s under perf), '
                    f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; the data is kept as '
                    f'{kept}\n\n')
            f.write('===== CPU time by process: the library of user-space samples, the system '
                    'call of kernel ones (pool-plugind is the pull job\'s thread)\n')
            f.write(perf_breakdown(script, ('pool-plugind', 'plugind', 'plugind-extract',
                                            'docker-registry')))
            f.write('\n')
            if self.args.perf == 'dwarf':
                f.write('===== the same, by our own innermost function\n')
                f.write(perf_breakdown_by_caller(script, 'pool-plugind', 'plugind'))
                f.write(perf_breakdown_by_caller(script, 'plugind-extract', 'plugind-extract'))
                f.write('\n')
            report(f, '--no-children', '-g', 'none', '--sort', 'comm')
            report(f, '--no-children', '-g', 'none', '--sort', 'comm,dso', '--percent-limit',
                   '0.1')
            # inclusive (children) per symbol: the syscalls and library entry points of the pull
            # thread (GTask's pool thread) and of the helper
            for comm in ('pool-plugind', 'plugind-extract'):
                report(f, '--children', '-g', 'none', '--comms', comm, '--sort', 'dso,sym',
                       '--percent-limit', '0.5')
        log(f'perf report written to {out}')


# ---------------------------------------------------------------------------------------------
# --ab: two builds of plugind side by side (before/after a change), alternating

class AbBench(SizeBench):
    """Per round, for each build in an order that alternates: a fresh daemon of that build, one
    warm-up pull (not recorded), one timed pull with the CPU time of each of the daemon's threads
    (by name; threads that ended during the pull, e.g. pd-download, together as "exited") and
    of the helper (reaped children), then the daemon is stopped."""

    def __init__(self, args, bus, pids, registry, name, facts, builds):
        super().__init__(args, bus, pids, registry, name, facts)
        self.builds = builds

    def one(self, label, builddir, rnd):
        args = argparse.Namespace(**vars(self.args))
        args.builddir = builddir
        daemon = Daemon(args, self.bus, self.pids, f'{self.name}-{label}-{rnd}',
                        os.path.join(builddir, 'src', 'helpers', 'plugind-extract'))
        try:
            ref = f'bench/{self.name}:latest'
            _, plugin = daemon.pull(self.remote, ref)
            daemon.remove_and_settle(plugin, self.facts['digest'])
            load = os.getloadavg()[0]
            cpu0, threads0 = proc_cpu(daemon.pid), thread_cpu(daemon.pid)
            seconds, plugin = daemon.pull(self.remote, ref)
            cpu1, threads1 = proc_cpu(daemon.pid), thread_cpu(daemon.pid)
            daemon.remove_and_settle(plugin, self.facts['digest'])
        finally:
            daemon.stop()
        per_name = {}
        for tid, (comm, t1) in threads1.items():
            t0 = threads0.get(tid, (comm, 0.0))[1]
            per_name[comm] = per_name.get(comm, 0.0) + (t1 - t0)
        per_name['exited'] = (cpu1[0] - cpu0[0]) - sum(per_name.values())
        self.add(f'{label}.wall', seconds)
        self.add(f'{label}.cpu_daemon', cpu1[0] - cpu0[0])
        self.add(f'{label}.cpu_helper', cpu1[1] - cpu0[1])
        for comm, t in per_name.items():
            if t >= 0.005:
                self.add(f'{label}.cpu.{comm}', t)
        busy = ', '.join(f'{c} {t:.2f}' for c, t in sorted(per_name.items()) if t >= 0.005)
        log(f'{self.name} round {rnd} {label}: {seconds:.3f} s (load {load:.2f}); CPU s: '
            f'helper {cpu1[1] - cpu0[1]:.2f}, {busy}')

    def run(self):
        for rnd in range(self.args.runs):
            order = self.builds if rnd % 2 == 0 else self.builds[::-1]
            for label, builddir in order:
                self.one(label, builddir, rnd)
        for key, values in sorted(self.samples.items()):
            result(f'{self.name}.ab.{key}.median', statistics.median(values))
            result(f'{self.name}.ab.{key}.min', min(values))
            result(f'{self.name}.ab.{key}.n', len(values))


# ---------------------------------------------------------------------------------------------
# perf: where the CPU time of each process goes

PERF_FREQ = 999


def perf_samples(script_text):
    """(comm, [(symbol, dso)] leaf first) per sample of `perf script -F comm,tid,ip,sym,dso`."""
    head, frames = None, []
    for line in script_text.splitlines():
        if not line.strip():
            if head is not None:
                yield head, frames
            head, frames = None, []
        elif head is None and not line[:1].isspace():
            head = line.rsplit(None, 1)[0].strip()
        else:
            m = re.match(r'\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)$', line)
            if m:
                frames.append((m.group(1), m.group(2)))
    if head is not None:
        yield head, frames


def perf_classify(frames):
    """A library for user-space samples; for kernel samples the system call they are in."""
    # DWARF call graphs list inlined functions as frames of their own, without a library
    real = [f for f in frames if f[1] != 'inlined']
    if not real:
        return 'unknown'
    base = real[0][1].rsplit('/', 1)[-1]
    if base.startswith('[kernel'):
        names = [sym for sym, _ in real]
        if 'do_syscall_64' in names:
            i = names.index('do_syscall_64')
            call = names[i - 1] if i > 0 else 'entry'
            if call in ('entry', 'x64_sys_call', 'syscall_trace_enter',
                        'syscall_exit_to_user_mode', 'exit_to_user_mode_loop'):
                return 'kernel: system call entry/exit (and seccomp filters, if any)'
            call = re.sub(r'^(__x64_sys_|__do_sys_|__se_sys_|ksys_|__sys_|do_sys_)', '', call)
            return f'kernel: {call}()'
        if any('page_fault' in sym for sym in names):
            return 'kernel: page faults'
        return 'kernel: interrupts, softirq, scheduler'
    for prefix, label in (('libz.', 'zlib (inflate)'), ('libcrypto.', 'OpenSSL (sha256)'),
                          ('libarchive.', 'libarchive'), ('libc.', 'libc (memcpy, malloc)')):
        if base.startswith(prefix):
            return label
    return base


def perf_breakdown(script_text, comms):
    counts = {}
    for comm, frames in perf_samples(script_text):
        counts.setdefault(comm, {}).setdefault(perf_classify(frames), 0)
        counts[comm][perf_classify(frames)] += 1
    lines = []
    for comm in comms:
        c = counts.get(comm, {})
        total = sum(c.values())
        lines.append(f'{comm}: {total} samples = {total / PERF_FREQ:.2f} CPU s')
        for label, n in sorted(c.items(), key=lambda kv: -kv[1])[:16]:
            lines.append(f'  {n / PERF_FREQ:7.3f} s {100 * n / total:5.1f}%  {label}')
    return '\n'.join(lines) + '\n'


def perf_breakdown_by_caller(script_text, comm, own_dso, top=25):
    """The samples of comm by (innermost function of own_dso on the stack, what the leaf is):
    which of our functions the time is spent under (needs DWARF call graphs for libraries)."""
    counts = {}
    total = 0
    for c, frames in perf_samples(script_text):
        if c != comm:
            continue
        total += 1
        own = next((sym for sym, dso in frames if dso.rsplit('/', 1)[-1] == own_dso), None)
        key = (own or f'(no {own_dso} frame)', perf_classify(frames))
        counts[key] = counts.get(key, 0) + 1
    lines = [f'{comm}: {total} samples = {total / PERF_FREQ:.2f} CPU s, by the innermost '
             f'{own_dso} function on the stack / the leaf']
    for (own, leaf), n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f'  {n / PERF_FREQ:7.3f} s {100 * n / max(total, 1):5.1f}%  {own} / {leaf}')
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------------------------
# the table

def fmt_s(x):
    return f'{x:.3f} s' if x < 10 else f'{x:.2f} s'


def fmt_mib(kb):
    return f'{kb / 1024:.1f} MiB'


def print_tables(res, sizes, runs, images):
    def get(key):
        return res.get(key)

    def med(size, key):
        return get(f'{size}.{key}.median')

    def mm(size, key):
        m, lo = med(size, key), get(f'{size}.{key}.min')
        if m is None:
            return 'missing'
        return f'{fmt_s(m)} ({fmt_s(lo)})'

    print(f'Times: median of {runs} runs after one warm-up round (min in parentheses); hot '
          'cache, everything on tmpfs, registry on 127.0.0.1.')
    print()
    print('| image | plugind pull | skopeo+umoci | plugind / skopeo+umoci | limit | '
          'plugind / limit (target ≤ 1.3) | download | sha256 | gunzip+untar (zlib inflate \\| '
          'tar -x) | sum of the three |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for s in sizes:
        pd, su, lim = med(s, 'plugind'), med(s, 'skopeo_umoci'), med(s, 'limit')
        r1 = pd / su
        r2 = pd / lim
        print(f'| {s} | {mm(s, "plugind")} | {mm(s, "skopeo_umoci")} | {r1:.2f}x '
              f'{"(faster)" if r1 < 1 else "(SLOWER)"} | {mm(s, "limit")} | {r2:.2f}x '
              f'{"(met)" if r2 <= 1.3 else "(NOT met)"} | {mm(s, "download")} | '
              f'{mm(s, "sha256")} | {mm(s, "gunzip_untar")} | {mm(s, "sum")} |')
    print()
    print('Peak RSS (maximum resident set):')
    print()
    print('| image | plugind VmHWM: idle / after 1 pull / after warm-up + all runs | '
          'plugind-transfer (the job\'s; a spare\'s, idle) | plugind-extract | skopeo copy | '
          'umoci unpack |')
    print('|---|---|---|---|---|---|')
    for s in sizes:
        print(f'| {s} | {fmt_mib(get(f"{s}.plugind.idle_vmhwm_kb"))} / '
              f'{fmt_mib(get(f"{s}.plugind.vmhwm_1pull_kb"))} / '
              f'{fmt_mib(get(f"{s}.plugind.vmhwm_kb.max"))} | '
              f'{fmt_mib(get(f"{s}.transfer.rss_kb"))} ({fmt_mib(get(f"{s}.transfer_spare.rss_kb"))}) | '
              f'{fmt_mib(get(f"{s}.helper.rss_kb"))} | {fmt_mib(get(f"{s}.skopeo.rss_kb.max"))} '
              f'| {fmt_mib(get(f"{s}.umoci.rss_kb.max"))} |')
    print()
    print('Context (medians): the other ways to do it, and the parts of the limit alone')
    print()
    print('| image | skopeo copy | umoci unpack | skopeo copy + gzip -dc\\|tar -x | '
          'plugind / (skopeo+tar) | gzip -dc\\|tar -x (GNU gzip) | zlib inflate alone | '
          'gzip -dc alone | tar -x of the plain tar | sha256 of the plain tar | '
          'sha256sum (coreutils) |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    for s in sizes:
        st = med(s, 'skopeo') + med(s, 'gzip_untar')
        print(f'| {s} | {fmt_s(med(s, "skopeo"))} | {fmt_s(med(s, "umoci"))} | {fmt_s(st)} | '
              f'{med(s, "plugind") / st:.2f}x | {fmt_s(med(s, "gzip_untar"))} | '
              f'{fmt_s(med(s, "inflate"))} | {fmt_s(med(s, "gunzip_gnu"))} | '
              f'{fmt_s(med(s, "untar"))} | {fmt_s(med(s, "sha256_tar"))} | '
              f'{fmt_s(med(s, "sha256sum"))} |')
    print()
    print(f'The floor of the whole work on this machine ({os.cpu_count()} CPUs; medians): the CPU '
          'time of each stage alone with the best tool (download into a file, with the '
          'registry\'s CPU for sending; sha256 of the blob; the best inflate; sha256 of the tar; '
          'tar -x), summed and divided by the number of cores; the floor is that or the slowest '
          'stage alone, whichever is longer. Nothing doing all of that work finishes sooner, so '
          'where the floor exceeds 1.3x the slowest stage that target cannot be met here. The '
          'bare pipeline does the same work at once with those tools (curl | tee BLOB '
          '>(sha256) | igzip -dc | tee >(sha256) | tar -x).')
    print()
    print('| image | CPU: download+store / sha256 / inflate / sha256 of the tar / tar -x | '
          'sum | sum / cores | slowest stage alone | floor | 1.3x the slowest stage | '
          'plugind | plugind / floor | bare pipeline (CPU) | plugind / bare pipeline |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    for s in sizes:
        if med(s, 'machine_floor') is None:
            continue
        cpus = ' / '.join(f'{med(s, k):.2f}' for k in ('download_store.cpu', 'sha256.cpu',
                                                        'inflate_best.cpu', 'sha256_tar.cpu',
                                                        'untar.cpu'))
        floor, lim, pd = med(s, 'machine_floor'), med(s, 'stage_limit'), med(s, 'plugind')
        print(f'| {s} | {cpus} s | {med(s, "stage_cpu_sum"):.2f} s | {fmt_s(med(s, "cpu_floor"))} | '
              f'{fmt_s(lim)} | {fmt_s(floor)} | {fmt_s(1.3 * lim)} '
              f'({"possible" if 1.3 * lim >= floor else "IMPOSSIBLE: below the floor"}) | '
              f'{fmt_s(pd)} | {pd / floor:.2f}x | {fmt_s(med(s, "bare_pipeline"))} '
              f'({med(s, "bare_pipeline.cpu"):.2f} s) | {pd / med(s, "bare_pipeline"):.2f}x |')
    print()
    print('plugind (medians): the resolve alone, the first pull of a fresh daemon, CPU seconds')
    print()
    print('| image | GetPrivileges (resolve only) | first pull, fresh daemon | '
          'CPU per pull: daemon / helper | CPU: skopeo / umoci | CPU: limit\'s inflate alone |')
    print('|---|---|---|---|---|---|')
    for s in sizes:
        print(f'| {s} | {fmt_s(med(s, "plugind.getprivileges"))} | '
              f'{fmt_s(get(f"{s}.plugind.first_pull_s"))} | '
              f'{med(s, "plugind.cpu_daemon"):.2f} / {med(s, "plugind.cpu_helper"):.2f} s | '
              f'{med(s, "skopeo.cpu"):.2f} / {med(s, "umoci.cpu"):.2f} s | '
              f'{med(s, "inflate.cpu"):.2f} s |')
    print()
    verdicts = []
    for s in sizes:
        pd, su, lim = med(s, 'plugind'), med(s, 'skopeo_umoci'), med(s, 'limit')
        st = med(s, 'skopeo') + med(s, 'gzip_untar')
        verdicts.append(f'{s}: beat skopeo+umoci: {"yes" if pd < su else "NO"} ({pd / su:.2f}x); '
                        f'within 1.3x of the limit: {"yes" if pd <= 1.3 * lim else "NO"} '
                        f'({pd / lim:.2f}x); 2x faster than skopeo+tar: '
                        f'{"yes" if 2 * pd <= st else "NO"} ({pd / st:.2f}x)'
                        + (f'; under 0.1 s: {"yes" if pd < 0.1 else "NO"}' if s == 'small' else ''))
    print('Targets (design.md): ' + '\n                     '.join(verdicts))
    print()
    for s in sizes:
        f = images[s]
        print(f'{s}: {f["files"]} files + {f["symlinks"]} symlinks + {f["dirs"]} dirs, '
              f'{f["data_bytes"] / MiB:.1f} MiB of file data, tar {f["tar_bytes"] / MiB:.1f} MiB, '
              f'gzip layer {f["gz_bytes"] / MiB:.1f} MiB ({f["gz_bytes"] / f["tar_bytes"]:.2f})')


# ---------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--work', required=True)
    p.add_argument('--builddir', required=True)
    p.add_argument('--srcdir', required=True)
    p.add_argument('--config-dir', required=True)
    p.add_argument('--runs', type=int, default=5)
    p.add_argument('--sizes', default='small,large')
    p.add_argument('--perf', choices=('fp', 'dwarf'), default=None,
                   help='one more pull per size under perf record -a (frame-pointer or DWARF '
                        'call graphs)')
    p.add_argument('--trace', action='store_true',
                   help='one more pull per size under perf trace -a (system calls that mark '
                        'the steps), written to BUILDDIR/bench-pull-trace-SIZE.txt')
    p.add_argument('--ab', default=None, metavar='LABEL=BUILDDIR,LABEL=BUILDDIR',
                   help='instead of the comparison with the other tools: two (or more) builds '
                        'of plugind pulling in alternation, --runs rounds (AbBench)')
    args = p.parse_args()

    sys.path.insert(0, os.path.join(args.srcdir, 'tests', 'integration'))
    import pd_registry as R
    from gi.repository import Gio

    sizes = [s for s in args.sizes.split(',') if s]
    for s in sizes:
        if s not in IMAGES:
            p.error(f'unknown size {s}')
    pids = PidFiles(os.path.join(args.work, 'pids'))
    images = {}
    for s in sizes:
        images[s] = build_image(s, args.work)
        for k in ('files', 'symlinks', 'dirs', 'data_bytes', 'tar_bytes', 'gz_bytes'):
            result(f'{s}.image.{k}', images[s][k])

    registry = R.Registry(os.path.join(args.work, 'registry'))
    pids.add('registry', registry.proc.pid)
    try:
        for s in sizes:
            push_image(R, registry, f'bench/{s}', images[s])
        log(f'pushed to {registry.url}')
        bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
        for s in sizes:
            if args.ab:
                builds = [tuple(b.split('=', 1)) for b in args.ab.split(',')]
                AbBench(args, bus, pids, registry, s, images[s], builds).run()
            else:
                SizeBench(args, bus, pids, registry, s, images[s]).run()
    finally:
        registry.stop()
        pids.remove('registry')


def table_main():
    """pull-bench.py --table RESULTS RUNS SIZES: the tables from RESULT lines."""
    path, runs, sizes = sys.argv[2], int(sys.argv[3]), sys.argv[4].split(',')
    res = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == 'RESULT':
                res[parts[1]] = float(parts[2])
    images = {s: {k: res[f'{s}.image.{k}'] for k in ('files', 'symlinks', 'dirs', 'data_bytes',
                                                      'tar_bytes', 'gz_bytes')}
              for s in sizes}
    for f in images.values():
        for k in f:
            f[k] = int(f[k])
    print_tables(res, sizes, runs, images)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--table':
        table_main()
    else:
        main()
