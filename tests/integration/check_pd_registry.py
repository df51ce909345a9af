#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-check of pd_registry.py: every fixture exercised for real, against the real
docker-registry (distribution 2.8), skopeo, curl and openssl's trust of the test CA.

Not a meson test; run by hand after changing pd_registry.py:
    /usr/bin/python3 tests/integration/check_pd_registry.py
Prints one line per check and exits non-zero on the first failure.
"""

import base64
import contextlib
import gzip
import hashlib
import http.client
import io
import json
import lzma
import os
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pd_registry as R  # noqa: E402

USERS = {'alice': 'wonderland'}
AUTH = ('alice', 'wonderland')
CONFIG = {'Description': 'pd_registry self-check', 'Entrypoint': ['/bin/hello'],
          'Interface': {'Types': ['docker.volumedriver/1.0'], 'Socket': 'x.sock'}}


def check(cond, what):
    """Fail loudly unless cond; print what otherwise."""
    if not cond:
        raise AssertionError(what)
    print('ok  ', what)


def sha256(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def decompress(blob, media_type):
    if media_type == R.MT_LAYER_GZIP:
        return gzip.decompress(blob)
    if media_type == R.MT_OCI_LAYER_ZSTD:
        return subprocess.run(['zstd', '-q', '-d', '-c', '-'], input=blob, check=True,
                              stdout=subprocess.PIPE).stdout
    if blob.startswith(b'\xfd7zXZ\x00'):
        return lzma.decompress(blob)
    return blob


def two_layers(compressions):
    """Two layers (the second one whiting out and overriding the first) and their config."""
    first = [('dir', 'bin', 0o755), ('file', 'bin/hello', b'#!/bin/sh\necho hello\n', 0o755),
             ('dir', 'etc'), ('file', 'etc/motd', b'motd\n'), ('dir', 'var/cache'),
             ('file', 'var/cache/x', b'x')]
    second = [('whiteout', 'etc/motd'), ('opaque', 'var/cache'), ('symlink', 'bin/sh2', 'hello'),
              ('file', 'bin/tool', b'tool', 0o755), ('hardlink', 'bin/tool2', 'bin/tool')]
    l1 = R.make_layer(first, compressions[0])
    l2 = R.make_layer(second, compressions[1])
    config = R.make_plugin_config(CONFIG, [l1[1], l2[1]])
    return config, [(l1[0], l1[2]), (l2[0], l2[2])]


def check_layers():
    for compression, media_type in (('gzip', R.MT_LAYER_GZIP), ('zstd', R.MT_OCI_LAYER_ZSTD),
                                    ('xz', R.MT_OCI_LAYER_TAR), (None, R.MT_LAYER_TAR)):
        info = tarfile.TarInfo('dev/evil')
        info.type = tarfile.CHRTYPE
        blob, diff_id, mt = R.make_layer(
            [('dir', 'a', 0o700), ('file', 'a/f', b'data', 0o600), ('symlink', 'a/l', '/etc'),
             ('hardlink', 'a/h', 'a/f'), ('whiteout', 'a/gone'), ('opaque', 'a'),
             ('raw', info, None)], compression)
        raw = decompress(blob, mt)
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            members = {m.name: m for m in tar.getmembers()}
        check(mt == media_type and sha256(raw) == diff_id
              and list(members) == ['a', 'a/f', 'a/l', 'a/h', 'a/.wh.gone', 'a/.wh..wh..opq',
                                    'dev/evil']
              and members['a'].mode == 0o700 and members['a/f'].mode == 0o600
              and members['a/l'].issym() and members['a/l'].linkname == '/etc'
              and members['a/h'].islnk() and members['a/.wh.gone'].size == 0
              and members['dev/evil'].ischr(),
              f'make_layer({compression}): {mt}, diff_id and entries')
    config = json.loads(R.make_plugin_config({'A': 1}, ['sha256:' + '0' * 64]))
    check(config == {'A': 1, 'rootfs': {'type': 'layers', 'diff_ids': ['sha256:' + '0' * 64]}},
          'make_plugin_config adds rootfs')


def skopeo_raw(ref, *opts):
    out = subprocess.run(['skopeo', 'inspect', '--raw', *opts, 'docker://' + ref],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if out.returncode:
        raise AssertionError(f'skopeo inspect {ref}: {out.stderr.decode()}')
    return out.stdout


def check_push(name, reg, compressions, skopeo_opts, auth=None, ca=None):
    config, layers = two_layers(compressions)
    digest = R.push_plugin(reg.url, 'plugins/hello', '1.0', config, layers, auth=auth, ca=ca)
    data, media_type, got = R.get_manifest(reg.url, 'plugins/hello', '1.0', auth=auth, ca=ca)
    manifest = json.loads(data)
    check(got == digest and media_type == R.MT_MANIFEST
          and manifest['mediaType'] == R.MT_MANIFEST
          and manifest['config'] == {'mediaType': R.MT_PLUGIN_CONFIG, 'size': len(config),
                                     'digest': sha256(config)}
          and [(x['mediaType'], x['digest']) for x in manifest['layers']]
          == [(mt, sha256(blob)) for blob, mt in layers],
          f'{name}: push_plugin {compressions} and get_manifest agree')
    raw = skopeo_raw(reg.host + '/plugins/hello:1.0', *skopeo_opts)
    check(sha256(raw) == digest, f'{name}: skopeo inspect --raw gives digest {digest[:19]}…')
    return digest, len(data)


def check_registries(tmp, stack):
    ca = R.TestCA(os.path.join(tmp, 'ca'))
    cert, key = ca.issue()
    plain = stack.enter_context(R.Registry(os.path.join(tmp, 'plain')))
    tls = stack.enter_context(R.Registry(os.path.join(tmp, 'tls'), tls=(cert, key)))
    basic = stack.enter_context(R.Registry(os.path.join(tmp, 'basic'), htpasswd=USERS))
    tokens = stack.enter_context(R.TokenServer(os.path.join(tmp, 'token'), users=USERS))
    bearer = stack.enter_context(R.Registry(os.path.join(tmp, 'token'), token=tokens))
    check(all(r.host.startswith('127.0.0.1:') for r in (plain, tls, basic, bearer))
          and tls.url.startswith('https://') and plain.url.startswith('http://'),
          'four registries up on 127.0.0.1')

    curl = ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', tls.url + '/v2/']
    out = subprocess.run(curl + ['--cacert', ca.ca_path], stdout=subprocess.PIPE, check=True)
    check(out.stdout == b'200', 'TLS registry: curl --cacert CA gets 200')
    check(subprocess.run(curl, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).returncode == 60,
          'TLS registry: curl without the CA fails verification (60)')
    context = ssl.create_default_context(cafile=ca.ca_path)
    status, _, _ = R._http_request('GET', tls.url.replace('127.0.0.1', 'localhost') + '/v2/',
                                   context=context)
    check(status == 200, 'TLS registry: python ssl verifies the DNS SAN localhost too')

    plain_digest, plain_size = check_push('plain', plain, ('gzip', 'zstd'), ['--tls-verify=false'])
    check_push('tls', tls, ('xz', None), ['--cert-dir', ca.cert_dir], ca=ca.ca_path)
    check_push('htpasswd', basic, ('gzip', None), ['--tls-verify=false', '--creds',
                                                   'alice:wonderland'], auth=AUTH)
    check_push('token', bearer, ('zstd', 'gzip'), ['--tls-verify=false', '--creds',
                                                   'alice:wonderland'], auth=AUTH)
    try:
        R.get_manifest(basic.url, 'plugins/hello', '1.0', auth=('alice', 'wrong'))
        failed = None
    except R.RegistryError as e:
        failed = e.status
    check(failed == 401, 'htpasswd: a wrong password gets 401')

    index = R.push_index(plain.url, 'plugins/hello', 'multi', [
        (plain_digest, plain_size, R.MT_MANIFEST, {'os': 'linux', 'architecture': 'amd64'})])
    raw = skopeo_raw(plain.host + '/plugins/hello:multi', '--tls-verify=false')
    check(sha256(raw) == index and json.loads(raw)['mediaType'] == R.MT_OCI_INDEX,
          'push_index: skopeo reads back the OCI index')
    raw_digest = R.push_manifest_raw(plain.url, 'plugins/hello', None, raw, R.MT_OCI_INDEX)
    check(raw_digest == index, 'push_manifest_raw by digest')
    return ca, plain, tls, bearer, tokens


def token_get(tokens, scope, auth=AUTH, extra=()):
    query = urllib.parse.urlencode([('service', tokens.service), ('scope', scope), *extra])
    headers = {}
    if auth:
        headers['Authorization'] = 'Basic ' + base64.b64encode(
            ('%s:%s' % auth).encode()).decode()
    return R._http_request('GET', f'{tokens.realm}?{query}', headers=headers)


def claims_of(token):
    payload = token.split('.')[1]
    return json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))


def manifest_with(reg, token, repo='test/x'):
    status, headers, _ = R._http_request('GET', f'{reg.url}/v2/{repo}/manifests/1.0', headers={
        'Authorization': 'Bearer ' + token, 'Accept': R.MANIFEST_ACCEPT})
    return status, headers


def check_tokens(tmp, reg, tokens):
    config, layers = two_layers(('gzip', 'gzip'))
    R.push_plugin(reg.url, 'test/x', '1.0', config, layers, auth=AUTH)
    tokens.requests.clear()

    status, _, body = token_get(tokens, 'repository(plugin):test/x:pull')
    reply = json.loads(body)
    claims = claims_of(reply['token'])
    check(status == 200 and reply['token'] == reply['access_token']
          and reply['expires_in'] == 300 and reply['issued_at'].endswith('Z')
          and claims['access'] == [{'type': 'repository', 'class': 'plugin', 'name': 'test/x',
                                    'actions': ['pull']}]
          and claims['sub'] == 'alice' and claims['aud'] == tokens.service,
          'token for repository(plugin):test/x:pull: type repository, class plugin')
    check(manifest_with(reg, reply['token'])[0] == 200,
          'registry accepts the repository(plugin) token for a manifest GET')
    check(manifest_with(reg, reply['token'], 'other/y')[0] == 401,
          'the token does not open another repository')

    tokens.reject_plugin_scope = True
    _, _, body = token_get(tokens, 'repository(plugin):test/x:pull')
    status, headers = manifest_with(reg, json.loads(body)['token'])
    check(status == 401 and 'insufficient_scope' in headers['WWW-Authenticate'],
          'reject_plugin_scope: empty access, registry answers 401 insufficient_scope')
    _, _, body = token_get(tokens, 'repository:test/x:pull')
    check(manifest_with(reg, json.loads(body)['token'])[0] == 200,
          'reject_plugin_scope: the plain repository: scope still works')
    tokens.reject_plugin_scope = False

    status, _, _ = token_get(tokens, 'repository:test/x:pull', auth=('alice', 'nope'))
    check(status == 401, 'token server: wrong password gets 401')
    status, _, _ = token_get(tokens, 'repository:test/x:pull', auth=None)
    check(status == 401, 'token server with users: anonymous gets 401')

    form = urllib.parse.urlencode({'grant_type': 'password', 'username': 'alice',
                                   'password': 'wonderland', 'service': tokens.service,
                                   'scope': 'repository:test/x:pull', 'client_id': 'check',
                                   'access_type': 'offline'})
    ctype = {'Content-Type': 'application/x-www-form-urlencoded'}
    status, _, body = R._http_request('POST', tokens.realm, form, ctype)
    reply = json.loads(body)
    check(status == 200 and manifest_with(reg, reply['access_token'])[0] == 200
          and reply.get('refresh_token'), 'POST grant_type=password gives a working token')
    form = urllib.parse.urlencode({'grant_type': 'refresh_token', 'service': tokens.service,
                                   'refresh_token': reply['refresh_token'], 'client_id': 'check',
                                   'scope': 'repository:test/x:pull'})
    status, _, body = R._http_request('POST', tokens.realm, form, ctype)
    check(status == 200 and manifest_with(reg, json.loads(body)['token'])[0] == 200,
          'POST grant_type=refresh_token gives a working token')

    with R.TokenServer(os.path.join(tmp, 'anonymous')) as anonymous:
        status, _, body = token_get(anonymous, 'repository(plugin):test/x:pull', auth=None)
        check(status == 200 and claims_of(json.loads(body)['token'])['access'][0]['class']
              == 'plugin' and anonymous.requests[0]['user'] is None,
              'TokenServer(users=None): anonymous requests get what they ask for')

    tokens.fail_status = 500
    status, _, body = token_get(tokens, 'repository:test/x:pull')
    check(status == 500 and json.loads(body)['errors'], 'fail_status=500: JSON error, 500')
    tokens.fail_status = None

    seen = [(r['method'], r['scopes'], r['user'], r['grant_type'], r['status'])
            for r in tokens.requests]
    check(seen[0] == ('GET', ['repository(plugin):test/x:pull'], 'alice', None, 200)
          and seen[-3:] == [('POST', ['repository:test/x:pull'], 'alice', 'password', 200),
                            ('POST', ['repository:test/x:pull'], 'alice', 'refresh_token', 200),
                            ('GET', ['repository:test/x:pull'], 'alice', None, 500)]
          and tokens.requests[0]['authorization'], f'{len(seen)} token requests recorded')


class Reply:
    """An http.client exchange through a proxy: status, headers, body, error (exception)."""

    def __init__(self, host, method, path, headers=None, body=None, timeout=30):
        conn = http.client.HTTPConnection(*host.split(':'), timeout=timeout)
        self.status = self.headers = None
        self.body = b''
        self.error = None
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            self.status, self.headers = resp.status, resp.headers
            pieces = []
            try:
                while piece := resp.read1(65536):
                    pieces.append(piece)
            finally:
                self.body = b''.join(pieces)
            if resp.length:
                self.error = http.client.IncompleteRead(self.body, resp.length)
        except (OSError, http.client.HTTPException) as e:
            self.error = e
        finally:
            conn.close()


def check_proxy(plain, tls, ca):
    data = os.urandom(1024 * 1024 + 123)
    digest = R.push_blob(plain.url, 'blobs/one', data)
    blob = f'/v2/blobs/one/blobs/{digest}'
    size = len(data)
    with R.FaultProxy(plain.url) as proxy, R.FaultProxy(plain.url, host='127.0.0.2') as other:
        r = Reply(proxy.host, 'GET', blob)
        check(r.status == 200 and r.body == data, 'proxy: blob passes through intact')
        r = Reply(proxy.host, 'HEAD', blob)
        check(r.status == 200 and r.headers['Content-Length'] == str(size) and r.body == b'',
              'proxy: HEAD keeps Content-Length, no body')

        proxy.add_fault('GET', r'^/v2/$', 'status', count=2, status=500)
        check([Reply(proxy.host, 'GET', '/v2/').status for _ in range(3)] == [500, 500, 200],
              'status fault: 500, 500, then the registry again')
        proxy.add_fault(None, '/blobs/', 'status', status=429, headers={'Retry-After': '1'})
        r = Reply(proxy.host, 'GET', blob)
        check(r.status == 429 and r.headers['Retry-After'] == '1',
              'status fault: 429 with Retry-After: 1')

        proxy.add_fault('GET', '/blobs/sha256:', 'reset', after=1000)
        r = Reply(proxy.host, 'GET', blob)
        check(isinstance(r.error, ConnectionResetError) and r.status == 200
              and r.body == data[:1000], 'reset fault: status, headers, 1000 bytes, then RST')
        proxy.add_fault('GET', '/blobs/sha256:', 'truncate', after=1000)
        r = Reply(proxy.host, 'GET', blob)
        check(isinstance(r.error, http.client.IncompleteRead) and r.body == data[:1000]
              and r.error.expected == size - 1000, 'truncate fault: 1000 bytes then FIN')
        proxy.add_fault('GET', '/blobs/sha256:', 'corrupt')
        r = Reply(proxy.host, 'GET', blob)
        check(r.status == 200 and len(r.body) == size and sha256(r.body) != digest
              and r.body[size // 2] == data[size // 2] ^ 0xff, 'corrupt fault: middle byte flipped')

        proxy.add_fault('GET', '/blobs/', 'redirect-loop', count=2)
        locations = [Reply(proxy.host, 'GET', blob + '?x=1').headers['Location'] for _ in (1, 2)]
        check(locations == [proxy.url + blob + '?x=1'] * 2
              and Reply(proxy.host, 'GET', blob).status == 200,
              'redirect-loop fault: 307 to the same URL, twice, then 200')
        proxy.add_fault('GET', '/blobs/', 'redirect', location=other.url)
        r = Reply(proxy.host, 'GET', blob, headers={'Authorization': 'Bearer secret'})
        target = urllib.parse.urlsplit(r.headers['Location'])
        follow = Reply(target.netloc, 'GET', target.path)
        check(r.status == 307 and target.netloc == other.host and other.host.startswith('127.0.0.2')
              and follow.body == data and 'authorization' not in other.requests[-1]['headers'],
              'redirect fault: 307 to a proxy on 127.0.0.2 serving the blob')

        proxy.add_fault('GET', '/blobs/', 'trickle', chunk=16384, delay=0.02)
        start = time.monotonic()
        r = Reply(proxy.host, 'GET', blob)
        took = time.monotonic() - start
        check(r.body == data and took >= 64 * 0.02, f'trickle fault: intact, {took:.2f} s')

        r = Reply(proxy.host, 'GET', blob, headers={'Range': 'bytes=1000-'})
        check(r.status == 206 and r.headers['Content-Range'] == f'bytes 1000-{size - 1}/{size}'
              and r.body == data[1000:] and proxy.requests[-1]['headers']['range'] == 'bytes=1000-',
              'Range through the proxy: 206 with the right Content-Range')
        proxy.add_fault('GET', '/blobs/', 'truncate', after=10)
        r = Reply(proxy.host, 'GET', blob, headers={'Range': 'bytes=5000-'})
        check(r.body == data[5000:5010] and isinstance(r.error, http.client.IncompleteRead),
              'truncate fault on a Range request')
        proxy.add_fault('GET', '/blobs/', 'corrupt', offset=0)
        r = Reply(proxy.host, 'GET', blob, headers={'Range': 'bytes=5000-'})
        check(r.status == 206 and r.body[0] == data[5000] ^ 0xff and r.body[1:] == data[5001:],
              'corrupt fault on a Range request')

        proxy.clear_faults()
        check(Reply(proxy.host, 'GET', blob).body == data, 'clear_faults')
        check_chunked_upload(proxy)
        big = os.urandom(32 * 1024 * 1024)
        big_digest = R.push_blob(proxy.url, 'blobs/big', big)
        start = time.monotonic()
        r = Reply(proxy.host, 'GET', f'/v2/blobs/big/blobs/{big_digest}')
        took = time.monotonic() - start
        check(sha256(r.body) == big_digest,
              f'32 MiB through the proxy both ways (down at {32 / took:.0f} MiB/s)')
        faults = [rec['fault'] for rec in proxy.requests if rec['fault']]
        check(len(faults) == 12 and all(rec['status'] for rec in proxy.requests),
              f'{len(proxy.requests)} proxy requests recorded, {len(faults)} with a fault')

    with R.FaultProxy(tls.url, ca=ca.ca_path) as proxy:
        config, layers = two_layers(('gzip', 'gzip'))
        digest = R.push_plugin(proxy.url, 'via/proxy', '1.0', config, layers)
        puts = [rec for rec in proxy.requests if rec['method'] == 'PUT']
        check(R.get_manifest(tls.url, 'via/proxy', '1.0', ca=ca.ca_path)[2] == digest
              and len(puts) == 4 and all('/uploads/' in p['path'] for p in puts[:3]),
              'https upstream: push_plugin through the proxy, upload Locations rewritten')


def check_chunked_upload(proxy):
    data = os.urandom(300 * 1024)
    digest = sha256(data)
    r = Reply(proxy.host, 'POST', '/v2/blobs/chunked/blobs/uploads/')
    location = urllib.parse.urlsplit(r.headers['Location'])
    check(r.status == 202 and location.netloc == proxy.host,
          'upload POST: Location rewritten to the proxy')
    conn = http.client.HTTPConnection(*proxy.host.split(':'), timeout=30)
    conn.request('PATCH', f'{location.path}?{location.query}',
                 body=(data[i:i + 70000] for i in range(0, len(data), 70000)),
                 headers={'Content-Type': 'application/octet-stream'}, encode_chunked=True)
    resp = conn.getresponse()
    resp.read()
    location = urllib.parse.urlsplit(resp.headers['Location'])
    conn.request('PUT', f'{location.path}?{location.query}&digest={digest}', body=b'')
    put = conn.getresponse()
    put.read()
    conn.close()
    check(resp.status == 202 and put.status == 201 and put.headers['Docker-Content-Digest']
          == digest, 'chunked PATCH upload through the proxy, one keep-alive connection')


def main():
    start = time.monotonic()
    registries = []
    with tempfile.TemporaryDirectory(prefix='pd-registry-check-') as tmp:
        with contextlib.ExitStack() as stack:
            check_layers()
            ca, plain, tls, bearer, tokens = check_registries(tmp, stack)
            registries = [plain, tls, bearer]
            check_tokens(tmp, bearer, tokens)
            check_proxy(plain, tls, ca)
        check(all(r.proc is None for r in registries), 'registries stopped')
    check(not os.path.exists(tmp), 'temp dir removed')
    print(f'all checks passed in {time.monotonic() - start:.1f} s')


if __name__ == '__main__':
    main()
