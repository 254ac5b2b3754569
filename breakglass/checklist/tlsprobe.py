"""Looking at the site's TLS directly with Python's `ssl` (the tls.certificate, tls.expiry and
tls.version checks judge what this module saw).

    target(ctx)        host, port and scheme of the site ([checklist.web] / [app] base_url)
    handshake(ctx)     one verified handshake (SNI = host name, trust = [checklist.web] ca_bundle
                       or the system CAs); when verification fails, OpenSSL's verify code and a
                       second, unverified look that only reads the certificate for evidence
    old_tls_probe(ctx) a handshake that offers only TLS 1.0/1.1: does the server accept it?

Both are memoized through the CheckContext (one connection each per check run). Transport
failures raise CouldNotVerify: a site we could not reach is never a pass.
"""

from __future__ import annotations

import socket
import ssl
import urllib.parse
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from breakglass.checklist import web
from breakglass.errors import CouldNotVerify

if TYPE_CHECKING:
    from breakglass.checklist.model import CheckContext

# OpenSSL's X509_V_ERR_* codes (include/openssl/x509_vfy.h), as SSLCertVerificationError's
# verify_code. Each cause the user fixes differently gets its own finding code; the rest (e.g.
# 26, X509_V_ERR_INVALID_PURPOSE: a certificate not meant for TLS servers) is CERT_INVALID with
# OpenSSL's message. No CRL/OCSP is consulted (Python's default), so "revoked" never shows.
_VERIFY_CODES: dict[int, str] = {
    9: "CERT_NOT_YET_VALID",        # X509_V_ERR_CERT_NOT_YET_VALID
    10: "CERT_EXPIRED",             # X509_V_ERR_CERT_HAS_EXPIRED
    18: "CERT_SELF_SIGNED",         # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    19: "CERT_UNKNOWN_CA",          # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN (untrusted root sent)
    2: "CERT_UNKNOWN_CA",           # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
    20: "CERT_UNKNOWN_CA",          # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY (or a
                                    # missing intermediate: the message says both)
    21: "CERT_UNKNOWN_CA",          # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    62: "CERT_WRONG_HOST",          # X509_V_ERR_HOSTNAME_MISMATCH
    64: "CERT_WRONG_HOST",          # X509_V_ERR_IP_ADDRESS_MISMATCH
}


def verify_finding_code(verify_code: int) -> str:
    return _VERIFY_CODES.get(verify_code, "CERT_INVALID")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    base_url: str

    @property
    def https(self) -> bool:
        return self.scheme == "https"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"


def target(ctx: CheckContext) -> Target:
    base = web.required_site(ctx)
    parts = urllib.parse.urlsplit(base)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(parts.scheme, host, port, base)


@dataclass(frozen=True)
class CertInfo:
    """What the certificate says publicly (never anything secret: it is sent to everyone)."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime

    def evidence(self) -> dict[str, Any]:
        return {"subject": self.subject, "issuer": self.issuer, "sans": list(self.sans),
                "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat()}


@dataclass(frozen=True)
class Handshake:
    host: str
    port: int
    #: the protocol a normal (modern client) handshake negotiated, e.g. "TLSv1.3"
    version: str | None
    cert: CertInfo | None
    #: None when the certificate verified; else OpenSSL's code and message
    verify_code: int | None = None
    verify_message: str | None = None

    @property
    def verified(self) -> bool:
        return self.verify_code is None


def parse_cert(der: bytes) -> CertInfo:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple([f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)]
                     + [f"IP:{ip}" for ip in ext.get_values_for_type(x509.IPAddress)])
    except x509.ExtensionNotFound:
        sans = ()
    return CertInfo(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), sans,
                    cert.not_valid_before_utc, cert.not_valid_after_utc)


def _timeout(ctx: CheckContext) -> float:
    return ctx.config.checklist.web.timeout.total_seconds()


def _connect(ctx: CheckContext, t: Target) -> socket.socket:
    try:
        return socket.create_connection((t.host, t.port), timeout=_timeout(ctx))
    except OSError as exc:
        raise CouldNotVerify(f"{t.netloc}: cannot connect ({exc})", code="SITE_UNREACHABLE",
                             action=f"check that {t.base_url} is up and reachable from "
                                    "here") from exc


def _tls_error(t: Target, exc: Exception) -> CouldNotVerify:
    return CouldNotVerify(f"{t.netloc}: TLS handshake failed ({exc})", code="TLS_HANDSHAKE_FAILED",
                          action=f"check that {t.netloc} serves TLS (`openssl s_client -connect "
                                 f"{t.netloc} -servername {t.host}`)")


def handshake(ctx: CheckContext) -> Handshake:
    t = target(ctx)
    return ctx.fact(f"tls:handshake:{t.netloc}", lambda: _handshake(ctx, t))


def _handshake(ctx: CheckContext, t: Target) -> Handshake:
    try:
        with _connect(ctx, t) as sock, \
                web.ssl_context(ctx).wrap_socket(sock, server_hostname=t.host) as tls:
            der = tls.getpeercert(binary_form=True)
            return Handshake(t.host, t.port, tls.version(), parse_cert(der) if der else None)
    except ssl.SSLCertVerificationError as exc:
        failure = exc
    except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
        raise _tls_error(t, exc) from exc
    # Verification failed: look again without verifying, only to read the certificate for the
    # evidence (subject, issuer, names, dates). Nothing is sent over this connection.
    peek = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    peek.check_hostname = False
    peek.verify_mode = ssl.CERT_NONE
    cert: CertInfo | None = None
    version: str | None = None
    try:
        with _connect(ctx, t) as sock, peek.wrap_socket(sock, server_hostname=t.host) as tls:
            der = tls.getpeercert(binary_form=True)
            cert, version = (parse_cert(der) if der else None), tls.version()
    except (OSError, ValueError):
        pass  # the evidence is then thinner; the verdict (the verify error) stands
    return Handshake(t.host, t.port, version, cert, failure.verify_code,
                     failure.verify_message)


@dataclass(frozen=True)
class OldTlsProbe:
    #: False: this machine's OpenSSL cannot even offer TLS 1.0/1.1, so nothing was learned
    offered: bool
    #: the old version the server accepted ("TLSv1", "TLSv1.1"), or None when it refused
    accepted: str | None
    #: how the server refused (the alert), or why we could not offer
    detail: str


#: A ClientHello's legacy_version (RFC 8446 §4.1.2; RFC 5246 §7.4.1.2): 0x0301 = TLS 1.0,
#: 0x0302 = TLS 1.1. A hello that offers at most 1.1 carries one of these and no
#: supported_versions extension.
_OLD_HELLO_VERSIONS = (b"\x03\x01", b"\x03\x02")


def _old_tls_context() -> ssl.SSLContext:
    """A client context that offers TLS 1.0 and 1.1 only, without verifying (this probe asks
    which protocol the server accepts; tls.certificate judges the certificate).

    OpenSSL 3 puts TLS 1.0/1.1 below its default security level 1 (their handshake signatures
    use SHA-1/MD5), so a client at the default level refuses to *offer* them and the probe
    would "pass" without having asked anything: "DEFAULT:@SECLEVEL=0" lets it offer them
    (OpenSSL 3.0 man page SSL_CTX_set_security_level, "Default callback behaviour"). Setting
    minimum/maximum_version also overrides a distribution's MinProtocol in openssl.cnf."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # Python deprecates the old versions: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def can_offer_old_tls(ctx: ssl.SSLContext, host: str) -> tuple[bool, str]:
    """Build a ClientHello in memory and check that it really offers TLS <= 1.1: an OpenSSL
    built without them (or a policy we cannot lower) must make the probe UNVERIFIED, never a
    pass."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass  # the hello is written; it waits for the server: what we want
    except (ssl.SSLError, ValueError) as exc:
        return False, f"local OpenSSL ({ssl.OPENSSL_VERSION}) cannot offer TLS 1.0/1.1: {exc}"
    hello = outgoing.read()
    # record: type(1) version(2) length(2); handshake: type(1) length(3) legacy_version(2)
    if len(hello) < 11 or hello[0] != 0x16 or hello[5] != 0x01 \
            or hello[9:11] not in _OLD_HELLO_VERSIONS:
        return False, (f"local OpenSSL ({ssl.OPENSSL_VERSION}) did not produce a TLS 1.0/1.1 "
                       "ClientHello")
    return True, ""


def old_tls_probe(ctx: CheckContext) -> OldTlsProbe:
    t = target(ctx)
    return ctx.fact(f"tls:old:{t.netloc}", lambda: _old_tls_probe(ctx, t))


def _old_tls_probe(ctx: CheckContext, t: Target) -> OldTlsProbe:
    probe = _old_tls_context()
    offered, why = can_offer_old_tls(probe, t.host)
    if not offered:
        return OldTlsProbe(False, None, why)
    with _connect(ctx, t) as sock:
        try:
            with probe.wrap_socket(sock, server_hostname=t.host) as tls:
                return OldTlsProbe(True, tls.version(), "handshake completed")
        except TimeoutError as exc:
            raise _tls_error(t, exc) from exc
        except (ssl.SSLError, ConnectionError) as exc:
            # A protocol_version / handshake_failure alert, or a reset: the server refused
            # the old protocol (we connected, and offered a well-formed TLS 1.0/1.1 hello).
            return OldTlsProbe(True, None, getattr(exc, "reason", None) or type(exc).__name__)
