# SPDX-License-Identifier: LGPL-2.1-or-later
"""Registry fixtures for plugind's integration tests: the real distribution registry and friends.

Everything listens on loopback only (127.0.0.1, or 127.0.0.2 for a second FaultProxy host):

  TestCA        a throw-away CA (EC P-256) issuing server certificates with IP/DNS SANs
  Registry      /usr/bin/docker-registry (distribution 2.8) with optional TLS and htpasswd or
                token auth, its storage, config and log in a work directory
  TokenServer   a Docker registry token server (JWT ES256 with an x5c header), GET and OAuth2
                POST forms, with injectable faults and a record of every request
  FaultProxy    a streaming HTTP/1.1 reverse proxy in front of a registry that records every
                request and injects faults (error statuses, resets, truncation, corruption,
                redirects, slow bodies) on matching requests

and helpers that build plugin layers and configs and push them with the registry HTTP API v2
(handling Basic and Bearer challenges): plugind's own layout, or exactly Docker's (`docker
plugin create` and `push`: make_docker_layer, docker_plugin_config, docker_plugin_manifest).

What was checked against distribution 2.8.2 (tests/integration/check_pd_registry.py does it
again):
  - scopes: distribution's own token server splits `repository(plugin)` into type `repository`
    and class `plugin`, and the registry's verifier keys a token's access entries on type and
    name only, comparing them with the type `repository` of the request.  So the token for
    `repository(plugin):NAME:pull` must carry {"type": "repository", "class": "plugin", ...};
    an entry typed literally `repository(plugin)` is answered 401 insufficient_scope.
  - htpasswd: bcrypt hashes with the $2a$, $2b$ and $2y$ prefixes are all accepted (Go's bcrypt
    ignores the minor version), also over plain HTTP; python3-bcrypt's $2b$ output is used.
  - a config written as JSON is valid YAML for the registry, so no YAML library is needed.

Library module: stdlib, python3-cryptography and python3-bcrypt only.  Always run with
/usr/bin/python3.
"""

import array
import base64
import datetime
import fcntl
import gzip
import hashlib
import http.client
import http.server
import io
import ipaddress
import json
import lzma
import os
import posixpath
import re
import secrets
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import tarfile
import termios
import threading
import time
import urllib.parse

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = '127.0.0.1'
REGISTRY_BINARY = '/usr/bin/docker-registry'
PIECE = 64 * 1024  # every body is streamed in pieces of this size

MT_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
MT_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
MT_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
MT_OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
MT_PLUGIN_CONFIG = 'application/vnd.docker.plugin.v1+json'
MT_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar'
MT_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip'
MT_OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar'
MT_OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd'
MANIFEST_ACCEPT = ', '.join((MT_MANIFEST, MT_MANIFEST_LIST, MT_OCI_MANIFEST, MT_OCI_INDEX))

# RFC 7230 6.1 hop-by-hop headers, never forwarded by FaultProxy
HOP_BY_HOP = frozenset(('connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization',
                        'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'))


def free_port(host=LOOPBACK):
    """A TCP port that is free on host right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_loopback(host):
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f'{host} is not a loopback address')


def _sha256(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def _compact_json(obj):
    return json.dumps(obj, separators=(',', ':')).encode()


def _write(path, data, mode=0o644):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), 'wb') as f:
        f.write(data)
    return path


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_builder(subject, issuer, public_key, days=2):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=days)))


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class TestCA:
    """A throw-away certificate authority (EC P-256) in dirpath.

    ca_path is the CA certificate, alone in its directory cert_dir, which can therefore be
    given as-is to `skopeo --cert-dir` (it takes every *.crt there as a CA).
    """

    __test__ = False  # not a test class, whatever collects tests

    def __init__(self, dirpath):
        self.dirpath = dirpath
        self.cert_dir = os.path.join(dirpath, 'ca.d')
        os.makedirs(self.cert_dir, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._subject = _name('plugind test CA')
        cert = (_cert_builder(self._subject, self._subject, self._key.public_key(), days=3)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()),
                               critical=False)
                .sign(self._key, hashes.SHA256()))
        self.ca_path = _write(os.path.join(self.cert_dir, 'ca.crt'),
                              cert.public_bytes(serialization.Encoding.PEM))
        self._issued = 0

    def issue(self, hosts=(LOOPBACK, 'localhost')):
        """A server certificate for hosts (IP SANs for IP literals, DNS SANs otherwise).

        Returns (cert_path, key_path), PEM files in dirpath.
        """
        sans = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (_cert_builder(_name(hosts[0]), self._subject, key.public_key())
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._key.public_key()), critical=False)
                .sign(self._key, hashes.SHA256()))
        self._issued += 1
        base = os.path.join(self.dirpath, f'server{self._issued}')
        return (_write(base + '.crt', cert.public_bytes(serialization.Encoding.PEM)),
                _write(base + '.key', _pem_key(key), 0o600))


def _serve_in_thread(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1},
                              daemon=True)
    thread.start()
    return thread


class _Server(http.server.ThreadingHTTPServer):
    """A threaded HTTP server that knows its fixture (handlers reach it as server.fixture)."""

    daemon_threads = True

    def __init__(self, host, handler, fixture):
        _check_loopback(host)
        super().__init__((host, 0), handler)
        self.fixture = fixture

    def server_bind(self):
        """Bind without HTTPServer's getfqdn(), a reverse DNS lookup for 127.0.0.2."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


# ---------------------------------------------------------------------------------------------
# Token server

_SCOPE_RE = re.compile(r'^([a-z0-9]+)(?:\(([a-z0-9]+)\))?:(.+):([^:]+)$')


def _parse_scope(scope):
    """'type[(class)]:name:actions' -> access entry dict, or None when malformed.

    The class is split off the type, as distribution's token server does: the registry only
    compares type and name, and its type for repositories is plain `repository`.
    """
    m = _SCOPE_RE.match(scope)
    if not m:
        return None
    rtype, rclass, name, actions = m.groups()
    entry = {'type': rtype, 'name': name, 'actions': [a for a in actions.split(',') if a]}
    if rclass:
        entry['class'] = rclass
    return entry


def _basic_credentials(header):
    """(user, password) from an 'Authorization: Basic ...' value, else None."""
    scheme, _, value = (header or '').partition(' ')
    if scheme.lower() != 'basic':
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(':')
    return (user, password) if sep else None


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        """Quiet: requests are recorded in TokenServer.requests instead."""

    def _reply(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        creds = _basic_credentials(self.headers.get('Authorization'))
        self.server.fixture._handle(self, url.path, {
            'method': 'GET',
            'scopes': [s for value in query.get('scope', []) for s in value.split()],
            'service': query.get('service', [None])[0],
            'account': query.get('account', [None])[0],
            'client_id': query.get('client_id', [None])[0],
            'grant_type': None,
            'offline': query.get('offline_token', [''])[0].lower() == 'true',
            'authorization': 'Authorization' in self.headers,
            'user': creds[0] if creds else None,
        }, creds)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get('Content-Length') or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode(errors='replace'))

        def field(name):
            return form.get(name, [None])[0]

        grant = field('grant_type')
        creds = (field('username') or '', field('password') or '') if grant == 'password' else None
        self.server.fixture._handle(self, url.path, {
            'method': 'POST',
            'scopes': (field('scope') or '').split(),
            'service': field('service'),
            'account': field('username'),
            'client_id': field('client_id'),
            'grant_type': grant,
            'offline': field('access_type') == 'offline',
            'authorization': 'Authorization' in self.headers,
            'user': creds[0] if creds else None,
            'refresh_token': field('refresh_token'),
        }, creds)


class TokenServer:
    """A Docker registry token server on 127.0.0.1 (https://distribution.github.io/distribution/
    spec/auth/token/ and .../oauth/), for a Registry(token=...).

    users: {user: password}, or None to give anyone (anonymous or not) what they ask for.  With
    users, a request without valid credentials is answered 401.  Tokens are JWTs signed ES256
    with an x5c header holding the signing certificate, self-signed and given to the registry as
    its rootcertbundle (cert_path).  The access granted is exactly the scopes asked for, class
    split off the type (`repository(plugin):x:pull` -> type repository, class plugin), as
    distribution's own token server does: that token opens the plugin's repository, as a plugin
    pull from Docker Hub needs.

    GET  /token?service=&scope=...&account=[&offline_token=true]  (Basic credentials optional)
    POST /token  form grant_type=password (username, password) or refresh_token, scope, service
    Both answer {"token", "access_token", "expires_in", "issued_at"[, "refresh_token"]}.

    Faults, attributes to set at any time:
      fail_status          an int: every token request is answered with it and a JSON error body
      reject_plugin_scope  True: scopes of type `repository(plugin)` are left out of the token
                           (an empty access list, like old Harbor), so the registry answers 401
      expires_in           lifetime of the tokens issued, seconds (default 300)
    requests: one dict per request, in order: method, scopes, service, account, client_id,
    grant_type, offline, authorization (header present), user, status [, refresh_token].
    """

    def __init__(self, workdir, users=None, service='plugind-test-registry', host=LOOPBACK):
        self.users = users
        self.service = service
        self.issuer = 'plugind-test-token-issuer'
        self.fail_status = None
        self.reject_plugin_scope = False
        self.expires_in = 300
        self.requests = []
        self._refresh_tokens = {}
        self._lock = threading.Lock()
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name('plugind test token signer')
        cert = (_cert_builder(subject, subject, self._key.public_key(), days=3)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self._key, hashes.SHA256()))
        self._x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        os.makedirs(workdir, exist_ok=True)
        self.cert_path = _write(os.path.join(workdir, 'token-signer.crt'),
                                cert.public_bytes(serialization.Encoding.PEM))
        self._server = _Server(host, _TokenHandler, self)
        self.host = '%s:%d' % self._server.server_address[:2]
        self.realm = f'http://{self.host}/token'
        self._thread = _serve_in_thread(self._server)

    def make_token(self, access, subject=''):
        """A signed JWT granting access (a list of access entry dicts) to subject."""
        now = int(time.time())
        header = {'typ': 'JWT', 'alg': 'ES256', 'x5c': self._x5c}
        claims = {'iss': self.issuer, 'sub': subject, 'aud': self.service,
                  'exp': now + self.expires_in, 'nbf': now - 1, 'iat': now,
                  'jti': secrets.token_hex(16), 'access': access}
        signing_input = f'{_b64url(_compact_json(header))}.{_b64url(_compact_json(claims))}'
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(),
                                                   ec.ECDSA(hashes.SHA256())))
        return f'{signing_input}.{_b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}'

    def _grant(self, scopes):
        access = []
        for scope in scopes:
            entry = _parse_scope(scope)
            if entry is None:
                continue
            if self.reject_plugin_scope and entry.get('class') == 'plugin':
                continue
            access.append(entry)
        return access

    def _authenticate(self, creds):
        if self.users is None:
            return True
        return creds is not None and self.users.get(creds[0]) == creds[1]

    def _handle(self, handler, path, record, creds):
        status, body = self._respond(path, record, creds)
        record['status'] = status
        with self._lock:
            self.requests.append(record)
        handler._reply(status, body)

    def _respond(self, path, record, creds):
        if path != '/token':
            return 404, {'errors': [{'code': 'NOT_FOUND', 'message': 'no such endpoint'}]}
        if self.fail_status:
            return self.fail_status, {'errors': [{'code': 'UNAVAILABLE',
                                                  'message': 'injected token server failure'}]}
        if record['service'] not in (None, self.service):
            return 400, {'error': 'invalid_request', 'details': 'unknown service'}
        user = creds[0] if creds else ''
        if record['grant_type'] == 'refresh_token':
            with self._lock:
                user = self._refresh_tokens.get(record['refresh_token'])
            if user is None:
                return 400, {'error': 'invalid_grant', 'details': 'unknown refresh token'}
            record['user'] = user
        elif record['method'] == 'POST' and record['grant_type'] != 'password':
            return 400, {'error': 'unsupported_grant_type'}
        elif not self._authenticate(creds):
            return 401, {'details': 'incorrect username or password'}
        token = self.make_token(self._grant(record['scopes']), user)
        body = {'token': token, 'access_token': token, 'expires_in': self.expires_in,
                'issued_at': datetime.datetime.now(datetime.timezone.utc).strftime(
                    '%Y-%m-%dT%H:%M:%SZ')}
        if record['method'] == 'POST':
            body['scope'] = ' '.join(record['scopes'])
        if record['grant_type'] == 'refresh_token':
            body['refresh_token'] = record['refresh_token']
        elif record['offline']:
            refresh = secrets.token_urlsafe(24)
            with self._lock:
                self._refresh_tokens[refresh] = user
            body['refresh_token'] = refresh
        return 200, body

    def stop(self):
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# Registry

class Registry:
    """The real distribution registry (docker-registry serve) on 127.0.0.1, started at once.

    workdir gets registry.yml, registry.log, htpasswd and storage/ (the filesystem driver's root,
    also storage_dir).  tls: (cert_path, key_path) to serve HTTPS.  htpasswd: {user: password}
    for Basic auth (bcrypt file).  token: a TokenServer for Bearer auth.  Deleting is enabled.
    stop() and start() may be called again (same port, same storage) to take it down and up.
    """

    def __init__(self, workdir, tls=None, htpasswd=None, token=None, start_timeout=20):
        if htpasswd is not None and token is not None:
            raise ValueError('htpasswd and token auth are exclusive')
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.tls = tls
        self.storage_dir = os.path.join(workdir, 'storage')
        self.config_path = os.path.join(workdir, 'registry.yml')
        self.log_path = os.path.join(workdir, 'registry.log')
        self.start_timeout = start_timeout
        self.proc = None
        self._auth = None
        if htpasswd is not None:
            lines = b''.join(b'%s:%s\n' % (user.encode(), bcrypt.hashpw(pw.encode(),
                                                                       bcrypt.gensalt(rounds=5)))
                             for user, pw in htpasswd.items())
            path = _write(os.path.join(workdir, 'htpasswd'), lines, 0o600)
            self._auth = {'htpasswd': {'realm': 'plugind-test-registry', 'path': path}}
        elif token is not None:
            self._auth = {'token': {'realm': token.realm, 'service': token.service,
                                    'issuer': token.issuer, 'rootcertbundle': token.cert_path}}
        self.port = None
        self.start()

    @property
    def host(self):
        """'127.0.0.1:PORT'."""
        return f'{LOOPBACK}:{self.port}'

    @property
    def url(self):
        """'http://127.0.0.1:PORT' or 'https://...'."""
        return f'{"https" if self.tls else "http"}://{self.host}'

    def _write_config(self):
        http_cfg = {'addr': self.host, 'secret': 'plugind-test-secret',
                    'headers': {'X-Content-Type-Options': ['nosniff']}}
        if self.tls:
            http_cfg['tls'] = {'certificate': self.tls[0], 'key': self.tls[1]}
        config = {
            'version': '0.1',
            'log': {'level': 'info', 'formatter': 'text', 'fields': {'service': 'registry'}},
            'storage': {'filesystem': {'rootdirectory': self.storage_dir},
                        'delete': {'enabled': True}},
            'http': http_cfg,
        }
        if self._auth:
            config['auth'] = self._auth
        # JSON is YAML: the registry reads it as its YAML config
        _write(self.config_path, json.dumps(config, indent=2).encode())

    def start(self):
        """Start the registry (on a new free port the first time) and wait until it answers."""
        fixed_port = self.port is not None
        for _ in range(1 if fixed_port else 3):
            if not fixed_port:
                self.port = free_port()
            self._write_config()
            with open(self.log_path, 'ab') as log:
                self.proc = subprocess.Popen([REGISTRY_BINARY, 'serve', self.config_path],
                                             stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT)
            if self._wait_ready():
                return
            self.stop()
            if 'address already in use' not in self.log():
                break
        raise RuntimeError(f'docker-registry did not start on {self.host}:\n{self.log()}')

    def _wait_ready(self):
        context = ssl._create_unverified_context() if self.tls else None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                status, _, _ = _http_request('GET', self.url + '/v2/', context=context,
                                             timeout=2)
                if status in (200, 401):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log(self):
        """The registry's log so far."""
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def stop(self):
        """SIGTERM, wait up to 5 s, then SIGKILL."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# Fault-injecting reverse proxy

FAULT_KINDS = ('status', 'reset', 'truncate', 'corrupt', 'redirect-loop', 'redirect', 'trickle')


class Fault:
    """A fault to inject: see FaultProxy.add_fault.  hits counts the requests it was applied to."""

    def __init__(self, method, path_regex, kind, count, params):
        if kind not in FAULT_KINDS:
            raise ValueError(f'unknown fault kind {kind!r}')
        if kind == 'status' and 'status' not in params:
            raise ValueError("a 'status' fault needs status=")
        if kind == 'redirect' and 'location' not in params:
            raise ValueError("a 'redirect' fault needs location=")
        self.method = method
        self.path_re = re.compile(path_regex)
        self.kind = kind
        self.remaining = count
        self.params = params
        self.hits = 0

    def __repr__(self):
        return (f'Fault({self.method!r}, {self.path_re.pattern!r}, {self.kind!r}, '
                f'remaining={self.remaining}, hits={self.hits}, {self.params})')


class _BodyWriter:
    """Writes a response body to the client, chunk-encoded or as is."""

    def __init__(self, wfile, chunked):
        self.wfile = wfile
        self.chunked = chunked

    def write(self, data):
        if not data:
            return
        if self.chunked:
            self.wfile.write(b'%x\r\n%b\r\n' % (len(data), data))
        else:
            self.wfile.write(data)

    def finish(self):
        if self.chunked:
            self.wfile.write(b'0\r\n\r\n')


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        """Quiet: requests are recorded in FaultProxy.requests instead."""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.fixture._lock:
            self.server.fixture._connections.add(self.connection)

    def finish(self):
        with self.server.fixture._lock:
            self.server.fixture._connections.discard(self.connection)
        super().finish()

    def _request_body(self):
        """The request body in pieces (Content-Length or chunked), read as it is consumed."""
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            while True:
                size = int(self.rfile.readline(1024).split(b';')[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b'\r\n', b'\n', b''):
                        pass
                    return
                while size:
                    piece = self.rfile.read(min(size, PIECE))
                    if not piece:
                        raise ConnectionError('client closed the connection mid-body')
                    size -= len(piece)
                    yield piece
                self.rfile.readline(1024)
        else:
            left = int(self.headers.get('Content-Length') or 0)
            while left:
                piece = self.rfile.read(min(left, PIECE))
                if not piece:
                    raise ConnectionError('client closed the connection mid-body')
                left -= len(piece)
                yield piece

    def _send_head(self, status, reason, headers):
        if self.close_connection:
            headers = headers + [('Connection', 'close')]
        lines = [f'HTTP/1.1 {status} {reason}'] + [f'{k}: {v}' for k, v in headers]
        self.wfile.write(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1'))

    def _answer_locally(self, status, headers, body, drain=True):
        """Answer without upstream; drain: read the request body first, to keep the
        connection usable."""
        if drain:
            for _ in self._request_body():
                pass
        headers = headers + [('Content-Length', str(len(body)))]
        self._send_head(status, http.client.responses.get(status, 'Fault'), headers)
        if self.command != 'HEAD':
            self.wfile.write(body)
        return status

    def _reset(self):
        """Close the client connection abruptly: RST instead of FIN, once what was written is
        acknowledged by the client's kernel (closing with unsent data would discard it)."""
        self.close_connection = True
        sock = self.connection
        deadline = time.monotonic() + 2
        unsent = array.array('i', [1])
        while time.monotonic() < deadline:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, unsent)
            if unsent[0] == 0:
                break
            time.sleep(0.005)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        os.close(sock.detach())

    def _forward(self, upstream):
        """Send this request, body streamed, to the upstream connection; return its response."""
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        hop = HOP_BY_HOP | {t.strip().lower()
                            for t in self.headers.get('Connection', '').split(',')}
        for name, value in self.headers.items():
            if name.lower() not in hop and name.lower() not in ('host', 'expect'):
                upstream.putheader(name, value)
        upstream.putheader('Host', self.server.fixture.upstream_netloc)
        chunked = 'chunked' in self.headers.get('Transfer-Encoding', '').lower()
        if chunked:
            upstream.putheader('Transfer-Encoding', 'chunked')
        has_body = chunked or int(self.headers.get('Content-Length') or 0) > 0
        upstream.endheaders(self._request_body() if has_body else None, encode_chunked=chunked)
        return upstream.getresponse()

    def _relay(self, resp, fault):
        """Send the upstream response to the client, applying fault."""
        proxy = self.server.fixture
        headers = []
        for name, value in resp.getheaders():
            if name.lower() in HOP_BY_HOP:
                continue
            if name.lower() == 'location':
                value = proxy._rewrite_location(value)
            headers.append((name, value))
        has_body = self.command != 'HEAD' and resp.status >= 200 and resp.status not in (204, 304)
        length = resp.getheader('Content-Length')
        chunked = has_body and length is None
        if chunked:
            headers.append(('Transfer-Encoding', 'chunked'))
        kind = fault.kind if fault else None
        params = fault.params if fault else {}
        if kind == 'trickle':
            time.sleep(params.get('pause', 0))
        total = int(length) if length is not None else 0
        cut_at = params.get('after', total // 2) if kind in ('reset', 'truncate') else None
        flip_at = params.get('offset', total // 2) if kind == 'corrupt' else None
        self._send_head(resp.status, resp.reason, headers)
        body = _BodyWriter(self.wfile, chunked)
        sent = 0
        while has_body:
            piece = resp.read1(PIECE)
            if not piece:
                break
            if flip_at is not None and sent <= flip_at < sent + len(piece):
                i = flip_at - sent
                piece = piece[:i] + bytes([piece[i] ^ 0xff]) + piece[i + 1:]
            if cut_at is not None and sent + len(piece) >= cut_at:
                body.write(piece[:cut_at - sent])
                break
            if kind == 'trickle':
                step = params.get('chunk', 1024)
                for i in range(0, len(piece), step):
                    if sent or i:
                        time.sleep(params.get('delay', 0.05))
                    body.write(piece[i:i + step])
            else:
                body.write(piece)
            sent += len(piece)
        if kind == 'reset':
            self._reset()
        elif kind == 'truncate' or (has_body and length is not None and sent != total):
            self.close_connection = True  # FIN once the handler returns, body left short
        else:
            body.finish()

    def _proxy(self):
        proxy = self.server.fixture
        url = urllib.parse.urlsplit(self.path)
        record = {'method': self.command, 'path': url.path, 'query': url.query,
                  'headers': {k.lower(): ', '.join(self.headers.get_all(k))
                              for k in set(self.headers.keys())},
                  'fault': None, 'status': None}
        fault = proxy._take_fault(self.command, url.path)
        record['fault'] = fault.kind if fault else None
        with proxy._lock:
            proxy.requests.append(record)
        if fault and fault.kind == 'status':
            p = fault.params
            body = p.get('body', _compact_json({'errors': [
                {'code': 'UNAVAILABLE', 'message': 'injected fault', 'detail': p['status']}]}))
            record['status'] = self._answer_locally(
                p['status'], [('Content-Type', 'application/json')]
                + list(p.get('headers', {}).items()), body)
            return
        if fault and fault.kind in ('redirect', 'redirect-loop'):
            if fault.kind == 'redirect-loop':
                location = proxy.url + self.path
            else:
                location = fault.params['location']
                if not urllib.parse.urlsplit(location).path:
                    location += self.path
            record['status'] = self._answer_locally(307, [('Location', location)], b'')
            return
        upstream = proxy._connect()
        try:
            try:
                resp = self._forward(upstream)
            except (OSError, http.client.HTTPException) as e:
                self.close_connection = True
                record['status'] = self._answer_locally(502, [('Content-Type', 'text/plain')],
                                                        f'upstream: {e}\n'.encode(), drain=False)
                return
            record['status'] = resp.status
            self._relay(resp, fault)
        except (OSError, http.client.HTTPException):
            self.close_connection = True
        finally:
            upstream.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _proxy


class FaultProxy:
    """A streaming HTTP/1.1 reverse proxy on host (loopback; 127.0.0.2 also works on Linux) in
    front of upstream_url (http or https; ca: a CA file to verify an https upstream, None to not
    verify).  The client talks plain HTTP to url.

    Requests are forwarded, each on a new upstream connection, with their headers (less
    hop-by-hop ones; Host becomes upstream's) and bodies (Content-Length or chunked) streamed
    both ways in 64 KiB pieces, Range requests included.  Location headers that
    point at the upstream are rewritten to point at the proxy, so that upload sessions keep
    going through it; WWW-Authenticate is left alone.

    requests: one dict per request, in order: method, path, query, headers (lower-case names),
    fault (kind applied or None), status (of the status line sent; None until then).
    """

    def __init__(self, upstream_url, ca=None, host=LOOPBACK, timeout=60):
        up = urllib.parse.urlsplit(upstream_url)
        _check_loopback(up.hostname)
        self.upstream_url = f'{up.scheme}://{up.netloc}'
        self.upstream_netloc = up.netloc
        self._upstream = (up.scheme, up.hostname, up.port or (443 if up.scheme == 'https'
                                                               else 80))
        self._context = None
        if up.scheme == 'https':
            self._context = (ssl.create_default_context(cafile=ca) if ca
                             else ssl._create_unverified_context())
        self.timeout = timeout
        self.requests = []
        self._faults = []
        self._connections = set()
        self._lock = threading.Lock()
        self._server = _Server(host, _ProxyHandler, self)
        self.host = '%s:%d' % self._server.server_address[:2]
        self.url = f'http://{self.host}'
        self._thread = _serve_in_thread(self._server)

    def add_fault(self, method, path_regex, kind, count=1, **params):
        """Inject a fault on the first count (None: every) requests whose method matches (None:
        any) and whose path (without the query) matches path_regex (re.search).  Faults are
        tried in the order added.  Returns the Fault.  kind and its params:

          status         answer params['status'] without contacting upstream, with the extra
                         headers= dict (e.g. {'Retry-After': '1'}) and a small JSON body (body=)
          reset          forward, send status line, headers and after= body bytes (default half
                         the Content-Length), then close with a TCP RST
          truncate       same, but close cleanly (FIN) with the full Content-Length announced
          corrupt        forward, flipping the body byte at offset= (default the middle)
          redirect-loop  answer 307 with Location: this same URL
          redirect       answer 307 to location= (a URL without a path gets the request's path
                         and query appended, e.g. another FaultProxy's url)
          trickle        forward, after pause= seconds (default 0) before the answer, the body
                         in chunk= byte pieces (default 1024) with delay= seconds (default
                         0.05) between them
        """
        fault = Fault(method, path_regex, kind, count, params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self):
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method, path):
        with self._lock:
            for fault in self._faults:
                if fault.remaining == 0 or (fault.method and fault.method != method):
                    continue
                if fault.path_re.search(path):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def _connect(self):
        scheme, host, port = self._upstream
        if scheme == 'https':
            return http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                               context=self._context, blocksize=PIECE)
        return http.client.HTTPConnection(host, port, timeout=self.timeout, blocksize=PIECE)

    def _rewrite_location(self, location):
        if location.startswith(self.upstream_url + '/') or location == self.upstream_url:
            return self.url + location[len(self.upstream_url):]
        return location

    def stop(self):
        """Stop serving; cut the client connections still open."""
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# Layers and configs

LAYER_MTIME = 1700000000


def make_layer(entries, compression='gzip'):
    """A layer blob.  Returns (blob_bytes, diff_id, media_type).

    entries, in tar order (paths used as given; no parent directories are added):
      ('file', path, data[, mode=0o644])   ('dir', path[, mode=0o755])
      ('symlink', path, target)             ('hardlink', path, target)
      ('whiteout', path)    an empty file .wh.<base> next to path
      ('opaque', dirpath)   dirpath/.wh..wh..opq
      ('raw', tarinfo, data_or_None)       a TarInfo added as is (hostile entries)
    compression: 'gzip' (Docker media type), 'zstd' (OCI, needs the zstd command), 'xz' (OCI
    plain tar media type: no standard one exists, a Docker-style puller sniffs), None (Docker
    plain tar).  diff_id is the sha256 of the uncompressed tar.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for kind, *args in entries:
            data = None
            if kind == 'raw':
                info, data = args
            else:
                info = tarfile.TarInfo()
                info.mtime = LAYER_MTIME
                info.mode = 0o644
                if kind == 'file':
                    info.name, data = args[0], args[1]
                    info.mode = args[2] if len(args) > 2 else 0o644
                elif kind == 'dir':
                    info.name, info.type = args[0], tarfile.DIRTYPE
                    info.mode = args[1] if len(args) > 1 else 0o755
                elif kind in ('symlink', 'hardlink'):
                    info.name, info.linkname = args
                    info.type = tarfile.SYMTYPE if kind == 'symlink' else tarfile.LNKTYPE
                    info.mode = 0o777 if kind == 'symlink' else 0o644
                elif kind == 'whiteout':
                    head, base = posixpath.split(args[0].rstrip('/'))
                    info.name, data = posixpath.join(head, '.wh.' + base), b''
                elif kind == 'opaque':
                    info.name, data = posixpath.join(args[0], '.wh..wh..opq'), b''
                else:
                    raise ValueError(f'unknown layer entry kind {kind!r}')
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    diff_id = _sha256(raw)
    if compression == 'gzip':
        return gzip.compress(raw, mtime=0), diff_id, MT_LAYER_GZIP
    if compression == 'zstd':
        if shutil.which('zstd') is None:
            raise RuntimeError('make_layer: the zstd command is not installed (apt install zstd)')
        blob = subprocess.run(['zstd', '-q', '-c', '-'], input=raw, stdout=subprocess.PIPE,
                              check=True).stdout
        return blob, diff_id, MT_OCI_LAYER_ZSTD
    if compression == 'xz':
        return lzma.compress(raw, format=lzma.FORMAT_XZ), diff_id, MT_OCI_LAYER_TAR
    if compression is None:
        return raw, diff_id, MT_LAYER_TAR
    raise ValueError(f'unknown compression {compression!r}')


def make_plugin_config(config_dict, diff_ids):
    """The plugin config blob: config_dict plus rootfs {type: layers, diff_ids}, compact JSON."""
    config = dict(config_dict)
    config['rootfs'] = {'type': 'layers', 'diff_ids': list(diff_ids)}
    return _compact_json(config)


# ---------------------------------------------------------------------------------------------
# Images as Docker Engine makes them: `docker plugin create` (moby's CreateFromContext) and
# `docker plugin push`, checked byte for byte against the image Docker 20.10 made in
# tests/integration/docker-made/ (test_docker_made.py)

DOCKER_VERSION = '20.10.24+dfsg1'
# the file type bits moby's archive package keeps in a tar header's mode field
_GO_TYPE_BITS = {'file': 0o100000, 'hardlink': 0o100000, 'dir': 0o040000, 'symlink': 0o120000}
_GO_TYPEFLAGS = {'file': b'0', 'hardlink': b'1', 'dir': b'5', 'symlink': b'2'}


def _go_ustar_header(name, kind, mode, size=0, linkname='', mtime=LAYER_MTIME):
    """A ustar header as Go's archive/tar writes it for root's files: octal fields zero-padded
    and NUL-terminated, magic "ustar\\0" "00", owner names, device numbers 0."""
    header = bytearray(512)

    def put(offset, data):
        header[offset:offset + len(data)] = data

    def octal(value, width):
        return b'%0*o\0' % (width - 1, value)

    raw_name = name.encode()
    if len(raw_name) > 100 or len(linkname.encode()) > 100:
        raise ValueError(f'{name}: names over 100 bytes are not supported here')
    put(0, raw_name)
    put(100, octal(mode | _GO_TYPE_BITS[kind], 8))
    put(108, octal(0, 8))
    put(116, octal(0, 8))
    put(124, octal(size, 12))
    put(136, octal(mtime, 12))
    put(148, b' ' * 8)
    put(156, _GO_TYPEFLAGS[kind])
    put(157, linkname.encode())
    put(257, b'ustar\x0000')
    put(265, b'root')
    put(297, b'root')
    put(329, octal(0, 8))
    put(337, octal(0, 8))
    put(148, b'%06o\0 ' % sum(header))
    return bytes(header)


def docker_layer_tar(entries, mtime=LAYER_MTIME):
    """The uncompressed layer `docker plugin create` makes of a context's rootfs/.

    entries: the rootfs below rootfs/, as make_layer's ('file', path, data[, mode]),
    ('dir', path[, mode]), ('symlink', path, target) and ('hardlink', path, target) (the
    target's mode is the entry's). Written as the docker client walks the directory (a first
    entry "." for rootfs/ itself, then depth first in name order) and dockerd renames the
    entries: no "./" and no trailing "/", the file type bits in the mode field, and the archive
    ends right after its two zero blocks (Go pads no record)."""
    modes = {}
    for kind, path, *args in entries:
        if kind == 'file':
            modes[path] = args[1] if len(args) > 1 else 0o644
    out = [_go_ustar_header('.', 'dir', 0o755, mtime=mtime)]
    for kind, path, *args in sorted(entries, key=lambda e: e[1].split('/')):
        if kind == 'file':
            data = args[0]
            out.append(_go_ustar_header(path, kind, modes[path], len(data), mtime=mtime))
            out.append(data + b'\0' * (-len(data) % 512))
        elif kind == 'dir':
            out.append(_go_ustar_header(path, kind, args[0] if args else 0o755, mtime=mtime))
        elif kind == 'symlink':
            out.append(_go_ustar_header(path, kind, 0o777, linkname=args[0], mtime=mtime))
        elif kind == 'hardlink':
            out.append(_go_ustar_header(path, kind, modes[args[0]], linkname=args[0],
                                        mtime=mtime))
        else:
            raise ValueError(f'docker_layer_tar: no entry kind {kind!r} in a Docker context')
    out.append(b'\0' * 1024)
    return b''.join(out)


def make_docker_layer(entries, mtime=LAYER_MTIME):
    """A layer as `docker plugin create` makes it: docker_layer_tar() gzipped with the header
    Go's compress/gzip writes (no name, mtime 0, OS 255; the deflate stream itself differs).
    Returns (blob, diff_id, media_type) as make_layer does, diff_id being what Docker writes into
    the config: the blob's own digest."""
    blob = bytearray(gzip.compress(docker_layer_tar(entries, mtime), compresslevel=6, mtime=0))
    blob[8:10] = b'\0\xff'  # XFL 0, OS "unknown": no checksum covers the header
    blob = bytes(blob)
    return blob, _sha256(blob), MT_LAYER_GZIP


def _go_json(obj):
    """Go's json.Encoder: compact, non-ASCII as UTF-8, <, >, & and U+2028/2029 escaped."""
    text = json.dumps(obj, separators=(',', ':'), ensure_ascii=False)
    for char, escaped in (('<', '\\u003c'), ('>', '\\u003e'), ('&', '\\u0026'),
                          ('\u2028', '\\u2028'), ('\u2029', '\\u2029')):
        text = text.replace(char, escaped)
    return text.encode()


def docker_plugin_config(context_config, diff_ids, docker_version=DOCKER_VERSION):
    """The config blob `docker plugin create` makes of a context's config.json (a dict in
    Docker's spelling): moby's types.PluginConfig as Go's json.Encoder writes it, every field in
    the struct's order, zero values for what the context lacks (null for lists and for Env
    values, mount sources and device paths), DockerVersion, rootfs, and a trailing newline."""
    c = context_config

    def fields(d, names, defaults=None):
        d = d or {}
        out = {}
        for name in names:
            if name in d:
                out[name] = d[name]
            elif defaults is not None and name in defaults:
                out[name] = defaults[name]
            else:
                out[name] = None
        return out

    args = fields(c.get('Args'), ('Description', 'Name', 'Settable', 'Value'),
                  {'Description': '', 'Name': ''})
    interface = c.get('Interface') or {}
    config = {
        'Args': args,
        'Description': c.get('Description', ''),
        'DockerVersion': docker_version,
        'Documentation': c.get('Documentation', ''),
        'Entrypoint': c.get('Entrypoint'),
        'Env': None if c.get('Env') is None else [
            fields(e, ('Description', 'Name', 'Settable', 'Value'), {'Description': '',
                                                                     'Name': ''})
            for e in c['Env']],
        'Interface': dict(([('ProtocolScheme', interface['ProtocolScheme'])]
                           if interface.get('ProtocolScheme') else []) +
                          [('Socket', interface.get('Socket', '')),
                           ('Types', interface.get('Types'))]),
        'IpcHost': c.get('IpcHost', False),
        'Linux': {
            'AllowAllDevices': (c.get('Linux') or {}).get('AllowAllDevices', False),
            'Capabilities': (c.get('Linux') or {}).get('Capabilities'),
            'Devices': None if (c.get('Linux') or {}).get('Devices') is None else [
                fields(d, ('Description', 'Name', 'Path', 'Settable'),
                       {'Description': '', 'Name': ''})
                for d in c['Linux']['Devices']],
        },
        'Mounts': None if c.get('Mounts') is None else [
            fields(m, ('Description', 'Destination', 'Name', 'Options', 'Settable', 'Source',
                       'Type'), {'Description': '', 'Destination': '', 'Name': '', 'Type': ''})
            for m in c['Mounts']],
        'Network': {'Type': (c.get('Network') or {}).get('Type', '')},
        'PidHost': c.get('PidHost', False),
        'PropagatedMount': c.get('PropagatedMount', ''),
        'User': {k: v for k, v in (c.get('User') or {}).items() if k in ('GID', 'UID') and v},
        'WorkDir': c.get('WorkDir', ''),
        'rootfs': {'diff_ids': list(diff_ids), 'type': 'layers'},
    }
    return _go_json(config) + b'\n'


def docker_plugin_manifest(config_bytes, layers):
    """The manifest `docker plugin push` sends (moby's buildManifest and writeManifest): compact
    JSON, schemaVersion, config, layers, then mediaType. layers: [(blob, media_type)]."""
    def descriptor(data, media_type):
        return {'mediaType': media_type, 'digest': _sha256(data), 'size': len(data)}

    return _go_json({'schemaVersion': 2,
                     'config': descriptor(config_bytes, MT_PLUGIN_CONFIG),
                     'layers': [descriptor(blob, media_type) for blob, media_type in layers],
                     'mediaType': MT_MANIFEST})


# ---------------------------------------------------------------------------------------------
# Registry HTTP API v2 client

class RegistryError(Exception):
    """An unexpected registry answer: status and body attributes."""

    def __init__(self, method, url, status, body):
        super().__init__(f'{method} {url}: {status} {body[:500]!r}')
        self.status = status
        self.body = body


def _http_request(method, url, body=None, headers=None, context=None, timeout=60):
    """One request on a new connection: (status, headers, body)."""
    u = urllib.parse.urlsplit(url)
    if u.scheme == 'https':
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout,
                                           context=context or ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, (u.path or '/') + (f'?{u.query}' if u.query else ''), body=body,
                     headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def _parse_challenge(value):
    """'Bearer realm="...",service="..."' -> ('bearer', {realm:, service:})."""
    scheme, _, rest = value.strip().partition(' ')
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class _Session:
    """Requests to one registry, answering Basic and Bearer challenges (tokens reused)."""

    def __init__(self, base_url, auth, ca):
        self.base_url = base_url.rstrip('/')
        self.auth = auth
        self.context = ssl.create_default_context(cafile=ca) if ca else None
        self.authorization = None

    def _basic(self):
        return 'Basic ' + base64.b64encode(f'{self.auth[0]}:{self.auth[1]}'.encode()).decode()

    def _authenticate(self, challenge):
        scheme, params = _parse_challenge(challenge or '')
        if scheme == 'basic' and self.auth:
            self.authorization = self._basic()
            return True
        if scheme != 'bearer' or 'realm' not in params:
            return False
        query = [('service', params['service'])] if 'service' in params else []
        query += [('scope', s) for s in params.get('scope', '').split()]
        url = params['realm'] + ('?' + urllib.parse.urlencode(query) if query else '')
        headers = {'Authorization': self._basic()} if self.auth else {}
        status, _, body = _http_request('GET', url, headers=headers, context=self.context)
        if status != 200:
            raise RegistryError('GET', url, status, body)
        reply = json.loads(body)
        self.authorization = 'Bearer ' + (reply.get('token') or reply['access_token'])
        return True

    def request(self, method, path_or_url, body=None, headers=None, ok=(200,)):
        """(status, headers, body); RegistryError unless status is in ok."""
        url = urllib.parse.urljoin(self.base_url + '/', path_or_url)
        for attempt in range(2):
            hdrs = dict(headers or {})
            if self.authorization:
                hdrs['Authorization'] = self.authorization
            status, resp_headers, data = _http_request(method, url, body, hdrs, self.context)
            if (status != 401 or attempt
                    or not self._authenticate(resp_headers.get('WWW-Authenticate'))):
                break
        if status not in ok:
            raise RegistryError(method, url, status, data)
        return status, resp_headers, data


def _push_blob(session, repo, data):
    digest = _sha256(data)
    status, _, _ = session.request('HEAD', f'/v2/{repo}/blobs/{digest}', ok=(200, 404))
    if status == 200:
        return digest
    _, headers, _ = session.request('POST', f'/v2/{repo}/blobs/uploads/', ok=(202,))
    location = headers['Location']
    location += ('&' if '?' in location else '?') + urllib.parse.urlencode({'digest': digest})
    session.request('PUT', location, body=data,
                    headers={'Content-Type': 'application/octet-stream'}, ok=(201,))
    return digest


def _push_manifest(session, repo, ref, data, media_type):
    digest = _sha256(data)
    _, headers, _ = session.request('PUT', f'/v2/{repo}/manifests/{ref or digest}', body=data,
                                    headers={'Content-Type': media_type}, ok=(201,))
    answered = headers.get('Docker-Content-Digest')
    if answered and answered != digest:
        raise RuntimeError(f'registry says manifest digest {answered}, expected {digest}')
    return digest


def push_blob(base_url, repo, data, auth=None, ca=None):
    """Upload data as a blob of repo (POST then monolithic PUT; skipped if HEAD finds it).
    Returns its digest.  auth: (user, password) or None; ca: CA file for https."""
    return _push_blob(_Session(base_url, auth, ca), repo, data)


def push_manifest_raw(base_url, repo, tag, data, media_type, auth=None, ca=None):
    """PUT data as a manifest of repo under tag (None: by its digest).  Returns its digest."""
    return _push_manifest(_Session(base_url, auth, ca), repo, tag, data, media_type)


def push_plugin(base_url, repo, tag, config_bytes, layers, auth=None, ca=None,
                manifest_media_type=MT_MANIFEST, config_media_type=MT_PLUGIN_CONFIG,
                docker_made=False):
    """Push a plugin: the blobs, then a schema 2 manifest {schemaVersion, mediaType, config,
    layers} in 3-space indented JSON (as Docker's image push writes it), or with docker_made
    the manifest `docker plugin push` writes (docker_plugin_manifest()).

    layers: [(blob_bytes, media_type)].  Returns the manifest digest."""
    session = _Session(base_url, auth, ca)
    if docker_made:
        for blob in [config_bytes] + [blob for blob, _ in layers]:
            _push_blob(session, repo, blob)
        return _push_manifest(session, repo, tag, docker_plugin_manifest(config_bytes, layers),
                              MT_MANIFEST)

    def descriptor(data, media_type):
        return {'mediaType': media_type, 'size': len(data),
                'digest': _push_blob(session, repo, data)}

    manifest = {'schemaVersion': 2, 'mediaType': manifest_media_type,
                'config': descriptor(config_bytes, config_media_type),
                'layers': [descriptor(blob, media_type) for blob, media_type in layers]}
    data = json.dumps(manifest, indent=3).encode()
    return _push_manifest(session, repo, tag, data, manifest_media_type)


def push_index(base_url, repo, tag, entries, auth=None, ca=None, media_type=MT_OCI_INDEX):
    """Push an image index (or Docker manifest list, by media_type) under tag.

    entries: [(manifest_digest, size, manifest_media_type, platform dict or None)], the
    manifests already pushed to repo.  Returns the index digest."""
    manifests = []
    for digest, size, entry_type, platform in entries:
        manifests.append({'mediaType': entry_type, 'size': size, 'digest': digest})
        if platform:
            manifests[-1]['platform'] = platform
    data = json.dumps({'schemaVersion': 2, 'mediaType': media_type, 'manifests': manifests},
                      indent=3).encode()
    return _push_manifest(_Session(base_url, auth, ca), repo, tag, data, media_type)


def get_manifest(base_url, repo, ref, auth=None, ca=None, accept=MANIFEST_ACCEPT):
    """GET a manifest by tag or digest.  Returns (bytes, media_type, digest of the bytes)."""
    _, headers, data = _Session(base_url, auth, ca).request(
        'GET', f'/v2/{repo}/manifests/{ref}', headers={'Accept': accept})
    return data, headers.get('Content-Type'), _sha256(data)
