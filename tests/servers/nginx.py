"""nginx for tests: a real ``nginx`` master (Debian package nginx-light) on loopback ports, with
certificates from a test CA made by the ``cryptography`` package.

Fixtures
--------
``test_ca`` (session)
    A private CA and leaf certificates, as PEM files in a temp dir. ``test_ca.bundle`` is the
    CA's certificate (a [checklist.web] ca_bundle); ``test_ca.cert(NAME)`` -> (cert path, key
    path) for NAME in ``CERTS``:

    ========== ==================================================================
    good       localhost + 127.0.0.1, valid for a year, signed by the CA
    expired    localhost, expired yesterday, signed by the CA
    expiring   localhost, expires in 5 days, signed by the CA
    notyet     localhost, valid from the day after tomorrow, signed by the CA
    wronghost  www.example.test only, signed by the CA
    selfsigned localhost, self-signed (its own issuer)
    unknownca  localhost, signed by another CA that no bundle holds
    clientonly localhost, signed by the CA, but for TLS clients only (EKU clientAuth)
    ========== ==================================================================
``nginx_factory`` (session)
    ``start(servers)`` -> a new ``Nginx`` serving one ``server {}`` block per entry of
    ``servers`` (name -> ``Server(body, cert=None|NAME)``), each on its own free loopback port
    (a cert: ``listen … ssl``). In a body, ``PORT(name)`` is replaced by that server's port, so a
    redirect can name its target. ``nginx.port(name)``, ``nginx.url(name, path)``. All are
    stopped at session end.

How it runs: ``nginx -p PREFIX -c nginx.conf -e error.log -g 'daemon off; pid …;'`` — a
non-daemon master whose PID we hold, so SIGTERM (fast shutdown) stops it and its workers. Every
temp path is under PREFIX. As root (CI), workers run as ``nobody`` (the ``user`` directive; the
master reads the keys before dropping privileges); otherwise the directive is left out (nginx
would ignore it with a warning).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import socket
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers._util import (
    LOOPBACK,
    ProcessBook,
    ServerStartError,
    free_port,
    is_root,
    private_tmpdir,
    remove_tree,
    teardown_on_sigterm,
    wait_until,
)

NGINX = "/usr/sbin/nginx"
CERTS = ("good", "expired", "expiring", "notyet", "wronghost", "selfsigned", "unknownca",
         "clientonly")

_MAIN = """\
{user}worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type text/plain;
    server_tokens off;
{servers}
}}
"""


@dataclass(frozen=True)
class Server:
    """One ``server {}`` block: its directives (``location``s, ``ssl_protocols``…) and the
    certificate it serves (a name from CERTS; None: plain HTTP)."""

    body: str
    cert: str | None = None


@dataclass
class TestCA:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    base_dir: Path

    @property
    def bundle(self) -> Path:
        return self.base_dir / "ca.pem"

    def cert(self, name: str) -> tuple[Path, Path]:
        if name not in CERTS:
            raise KeyError(name)
        return self.base_dir / f"{name}.pem", self.base_dir / f"{name}.key"


def make_test_ca(base: Path) -> TestCA:
    """Write ca.pem and NAME.pem/NAME.key for every NAME in CERTS (EC P-256 keys: instant)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "breakglass tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - day).not_valid_after(now + 3650 * day)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                             False, False), critical=True)
                .sign(key, hashes.SHA256()))
        return cert, key

    def leaf(file: str, sans: list[x509.GeneralName], not_before: dt.datetime,
             not_after: dt.datetime, issuer: tuple[x509.Certificate,
                                                    ec.EllipticCurvePrivateKey] | None,
             usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cn = str(sans[0].value)
        builder = (x509.CertificateBuilder().subject_name(name(cn))
                   .issuer_name(issuer[0].subject if issuer else name(cn))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([usage]),
                                  critical=False))
        cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
        (base / f"{file}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path = base / f"{file}.key"
        key_path.touch(mode=0o600)
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))

    root = ca("breakglass test CA")
    other = ca("some other CA")
    (base / "ca.pem").write_bytes(root[0].public_bytes(serialization.Encoding.PEM))
    local = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
    leaf("good", local, now - day, now + 365 * day, root)
    leaf("expired", local, now - 90 * day, now - day, root)
    leaf("expiring", local, now - 80 * day, now + 5 * day, root)
    leaf("notyet", local, now + 2 * day, now + 365 * day, root)
    leaf("wronghost", [x509.DNSName("www.example.test")], now - day, now + 365 * day, root)
    leaf("selfsigned", local, now - day, now + 365 * day, None)
    leaf("unknownca", local, now - day, now + 365 * day, other)
    leaf("clientonly", local, now - day, now + 365 * day, root, ExtendedKeyUsageOID.CLIENT_AUTH)
    return TestCA(base)


@dataclass
class Nginx:
    base_dir: Path
    ports: dict[str, int]
    pid: int
    _book: ProcessBook = field(default_factory=ProcessBook, repr=False)
    _tls: frozenset[str] = frozenset()

    def port(self, name: str) -> int:
        return self.ports[name]

    def url(self, name: str, path: str = "") -> str:
        scheme = "https" if name in self._tls else "http"
        return f"{scheme}://localhost:{self.ports[name]}{path}"

    def close(self) -> None:
        self._book.stop_all()
        remove_tree(self.base_dir)


def _accepts(port: int) -> bool:
    # The master binds every listen socket before it forks the worker; a connection made
    # before the worker accepts waits in the kernel's backlog, so "connects" means "will serve".
    with socket.create_connection((LOOPBACK, port), timeout=1):
        return True


def start_nginx(ca: TestCA, servers: Mapping[str, Server],
                ports: Mapping[str, int] | None = None) -> Nginx:
    """``ports``: name -> a fixed port for some servers (a tool that only scans ports 80 and 443,
    bench/check_observatory.py); the others get free ones."""
    if not Path(NGINX).exists():
        raise ServerStartError("nginx not found: apt-get install nginx-light")
    last: ServerStartError | None = None
    for _ in range(3):  # another process may take a free port before nginx binds it
        base = private_tmpdir("bg-nginx-")
        book = ProcessBook()
        try:
            return _start_once(ca, servers, base, book, ports or {})
        except ServerStartError as exc:
            last = exc
            book.stop_all()
            remove_tree(base)
        except BaseException:
            book.stop_all()
            remove_tree(base)
            raise
    assert last is not None
    raise last


def _start_once(ca: TestCA, servers: Mapping[str, Server], base: Path,
                book: ProcessBook, fixed: Mapping[str, int]) -> Nginx:
    ports = {name: fixed.get(name) or free_port() for name in servers}
    blocks = []
    for name, server in servers.items():
        body = server.body
        for other, port in ports.items():
            body = body.replace(f"PORT({other})", str(port))
        lines = [f"listen {LOOPBACK}:{ports[name]}{' ssl' if server.cert else ''};",
                 "server_name localhost;"]
        if server.cert:
            cert, key = ca.cert(server.cert)
            lines += [f"ssl_certificate {cert};", f"ssl_certificate_key {key};"]
        blocks.append("    server {  # " + name + "\n"
                      + "".join(f"        {line}\n" for line in [*lines, *body.splitlines()])
                      + "    }")
    (base / "tmp").mkdir()
    user = ""
    if is_root():
        user = "user nobody nogroup;\n"
        base.chmod(0o711)  # workers (nobody) reach tmp/; the keys stay 0600 root
    conf = base / "nginx.conf"
    conf.write_text(_MAIN.format(user=user, prefix=base, servers="\n".join(blocks)))
    log = base / "error.log"
    proc = book.add_popen(subprocess.Popen(
        [NGINX, "-p", str(base), "-c", str(conf), "-e", str(log),
         "-g", f"daemon off; pid {base}/nginx.pid;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        cwd=base, start_new_session=True))
    for port in ports.values():
        wait_until(functools.partial(_accepts, port), what="nginx", proc=proc, log=log,
                   timeout=10)
    tls = frozenset(name for name, server in servers.items() if server.cert)
    return Nginx(base, ports, proc.pid, book, tls)


class NginxFactory:
    def __init__(self, ca: TestCA) -> None:
        self.ca = ca
        self._servers: list[Nginx] = []

    def start(self, servers: Mapping[str, Server]) -> Nginx:
        server = start_nginx(self.ca, servers)
        self._servers.append(server)
        return server

    def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()


@pytest.fixture(scope="session")
def test_ca() -> Iterator[TestCA]:
    base = private_tmpdir("bg-ca-")
    try:
        yield make_test_ca(base)
    finally:
        remove_tree(base)


@pytest.fixture(scope="session")
def nginx_factory(test_ca: TestCA) -> Iterator[NginxFactory]:
    teardown_on_sigterm()
    factory = NginxFactory(test_ca)
    try:
        yield factory
    finally:
        factory.close()


__all__ = ["CERTS", "Nginx", "NginxFactory", "Server", "TestCA", "make_test_ca", "start_nginx"]
