"""TLS for `serve`: the certificate and key checked before start, the server's SSLContext,
and a small office CA (`modelproxy tls self-signed`) for an office that has none.

No Flask, no gevent: the settings check and the CLI use it as much as the server does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.errors import SettingsError

__all__ = ["OfficeCA", "certificate_notice", "check_pair", "make_office_ca",
           "server_context"]

CERT_SETTING, KEY_SETTING = "MODELPROXY_TLS_CERT", "MODELPROXY_TLS_KEY"
EXPIRY_WARNING_DAYS = 30
SERVER_CERT_DAYS = 825  # the longest validity Apple's clients accept for a server cert
CA_DAYS = 3650


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None


def _certificates(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(_read(path, CERT_SETTING))
    except ValueError:
        raise SettingsError(f"{CERT_SETTING}: {path} holds no PEM certificate (a file with "
                            "-----BEGIN CERTIFICATE----- blocks: the server's first, then "
                            "any intermediate CAs)") from None


def _private_key(path: Path) -> object:
    data = _read(path, KEY_SETTING)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted: serve starts unattended, so no passphrase can be asked
        raise SettingsError(f"{KEY_SETTING}: {path} is encrypted with a passphrase; serve "
                            "needs it unencrypted (openssl pkey -in KEY -out PLAIN), "
                            "readable only by the server's user") from None
    except (ValueError, serialization.UnsupportedAlgorithm):
        raise SettingsError(f"{KEY_SETTING}: {path} holds no PEM private key (a file with "
                            "-----BEGIN PRIVATE KEY----- or similar)") from None


def _public_bytes(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def check_pair(cert: Path | None, key: Path | None) -> None:
    """Both or neither, each readable PEM, and the key the certificate's: else SettingsError
    naming the setting. Checked when the settings are loaded, so serve never starts with
    a pair that would fail each client's handshake instead."""
    if cert is None and key is None:
        return
    if cert is None or key is None:
        given, missing = (CERT_SETTING, KEY_SETTING) if key is None else (KEY_SETTING,
                                                                         CERT_SETTING)
        raise SettingsError(f"{missing}: not set, but {given} is; TLS needs both the "
                            "certificate and its private key (--tls-cert and --tls-key)")
    leaf = _certificates(cert)[0]
    private = _private_key(key)
    if _public_bytes(leaf.public_key()) != _public_bytes(private.public_key()):  # type: ignore[attr-defined]
        raise SettingsError(f"{KEY_SETTING}: the key in {key} is not the private key of the "
                            f"certificate in {cert} ({CERT_SETTING})")


def certificate_notice(cert: Path, now: dt.datetime | None = None) -> str | None:
    """A warning for a server certificate that has expired or soon will; else None."""
    leaf = _certificates(cert)[0]
    now = now or dt.datetime.now(dt.UTC)
    ends = leaf.not_valid_after_utc
    if ends <= now:
        return (f"the TLS certificate {cert} expired on {ends:%Y-%m-%d}: clients will refuse "
                "to connect; replace it and restart")
    if ends - now <= dt.timedelta(days=EXPIRY_WARNING_DAYS):
        return f"the TLS certificate {cert} expires on {ends:%Y-%m-%d}: replace it before then"
    return None


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The server's TLS: 1.2 at least, HTTP/1.1 offered by ALPN (the only HTTP it speaks)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


# --- an office CA -----------------------------------------------------------------------


@dataclass(frozen=True)
class OfficeCA:
    """Where `make_office_ca` wrote: clients trust `ca_cert`; serve uses `cert` and `key`."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ModelProxy")])


def _write(path: Path, data: bytes, secret: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_office_ca(out: Path, hosts: list[str], ips: list[str] | None = None,
                   days: int = SERVER_CERT_DAYS) -> OfficeCA:
    """A server certificate for `hosts` (DNS names) and `ips`, signed by the office CA in
    `out` (made there first if there is none: clients trust it once, and a server
    certificate made again later, to renew it, is signed by the same CA). Keys are 0600."""
    addresses = [ipaddress.ip_address(ip) for ip in ips or []]
    if not hosts and not addresses:
        raise SettingsError("name the server: at least one --host or --ip")
    first = hosts[0] if hosts else str(addresses[0])
    out.mkdir(parents=True, exist_ok=True)
    paths = OfficeCA(out / "ca.pem", out / "ca.key", out / "server.pem", out / "server.key")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # clocks a little behind
    ca, ca_key = _office_ca(paths, first, now)
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(h) for h in hosts] + [x509.IPAddress(a) for a in addresses]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    server = (x509.CertificateBuilder().subject_name(_name(first))
              .issuer_name(ca.subject).public_key(key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                           False, False), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                             critical=False)
              .add_extension(x509.SubjectAlternativeName(names), critical=False)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                  ca_ski), critical=False)
              .sign(ca_key, hashes.SHA256()))
    _write(paths.key, _key_pem(key), secret=True)
    _write(paths.cert, server.public_bytes(serialization.Encoding.PEM), secret=False)
    return paths


def _office_ca(paths: OfficeCA, first: str, now: dt.datetime
               ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA in `paths` if there is one, else a new one written there."""
    if paths.ca_cert.exists() and paths.ca_key.exists():
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
        return x509.load_pem_x509_certificate(paths.ca_cert.read_bytes()), key  # type: ignore[return-value]
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"ModelProxy office CA ({first})")
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + dt.timedelta(days=CA_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                         critical=False)
          .sign(key, hashes.SHA256()))
    _write(paths.ca_key, _key_pem(key), secret=True)
    _write(paths.ca_cert, ca.public_bytes(serialization.Encoding.PEM), secret=False)
    return ca, key
