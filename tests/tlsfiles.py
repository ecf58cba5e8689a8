"""Certificates for TLS tests, made in the test with `cryptography` (through app.tls's
office CA): a server certificate for 127.0.0.1 and localhost, its CA, and a second CA
that signed nothing of ours (what an untrusted client trusts instead)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.tls import OfficeCA, make_office_ca


@dataclass(frozen=True)
class TLSFiles:
    office: OfficeCA  # the server's certificate and key, and the CA clients trust
    stranger: OfficeCA  # another CA, and a certificate and key of its own

    @property
    def env(self) -> dict[str, str]:
        """What makes `serve` speak TLS with the office certificate."""
        return {"MODELPROXY_TLS_CERT": str(self.office.cert),
                "MODELPROXY_TLS_KEY": str(self.office.key)}


def make_tls_files(folder: Path) -> TLSFiles:
    return TLSFiles(make_office_ca(folder / "office", ["localhost"], ["127.0.0.1"]),
                    make_office_ca(folder / "stranger", ["localhost"], ["127.0.0.1"]))
