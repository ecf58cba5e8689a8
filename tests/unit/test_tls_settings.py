"""The TLS settings are checked when they are loaded: both or neither, each file readable
PEM, the key the certificate's. Each refusal names the setting."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.errors import SettingsError
from app.settings import load_settings
from app.tls import certificate_notice, make_office_ca
from tests.tlsfiles import TLSFiles, make_tls_files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("certs"))


def load(**environ: str):
    return load_settings(environ=environ, env_file=None)


def test_a_good_pair_loads(files: TLSFiles) -> None:
    settings = load(**files.env)
    assert settings.tls_cert == files.office.cert and settings.tls_key == files.office.key


def test_flags_name_the_files_too(files: TLSFiles) -> None:
    settings = load_settings({"tls_cert": str(files.office.cert),
                              "tls_key": str(files.office.key)}, environ={}, env_file=None)
    assert settings.tls_cert == files.office.cert


@pytest.mark.parametrize(("given", "missing"), [("MODELPROXY_TLS_CERT", "MODELPROXY_TLS_KEY"),
                                                ("MODELPROXY_TLS_KEY", "MODELPROXY_TLS_CERT")])
def test_one_without_the_other_is_refused(files: TLSFiles, given: str, missing: str) -> None:
    with pytest.raises(SettingsError, match=f"^{missing}: not set, but {given} is"):
        load(**{given: files.env[given]})


def test_a_missing_certificate_file_is_named(files: TLSFiles, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^MODELPROXY_TLS_CERT: cannot read .*nowhere.pem"
                                            r": No such file or directory"):
        load(**{**files.env, "MODELPROXY_TLS_CERT": str(tmp_path / "nowhere.pem")})


def test_an_unreadable_key_file_is_named(files: TLSFiles, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^MODELPROXY_TLS_KEY: cannot read .*: Is a "
                                            r"directory"):
        load(**{**files.env, "MODELPROXY_TLS_KEY": str(tmp_path)})


def test_a_key_that_is_not_the_certificates_is_refused(files: TLSFiles) -> None:
    with pytest.raises(SettingsError, match=r"^MODELPROXY_TLS_KEY: the key in .*stranger/"
                                            r"server.key is not the private key of the "
                                            r"certificate in .*office/server.pem"):
        load(**{**files.env, "MODELPROXY_TLS_KEY": str(files.stranger.key)})


def test_files_swapped_are_refused(files: TLSFiles) -> None:
    with pytest.raises(SettingsError, match=r"^MODELPROXY_TLS_CERT: .* holds no PEM certificate"):
        load(MODELPROXY_TLS_CERT=str(files.office.key), MODELPROXY_TLS_KEY=str(files.office.cert))


def test_a_key_with_a_passphrase_is_refused(files: TLSFiles, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(files.office.key.read_bytes(), None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(SettingsError, match=r"^MODELPROXY_TLS_KEY: .* is encrypted with a "
                                            "passphrase; serve needs it unencrypted"):
        load(**{**files.env, "MODELPROXY_TLS_KEY": str(locked)})


def test_an_expiring_certificate_is_warned_about(files: TLSFiles) -> None:
    now = dt.datetime.now(dt.UTC)
    assert certificate_notice(files.office.cert, now) is None
    assert "expires on" in certificate_notice(files.office.cert, now + dt.timedelta(days=800))
    assert "expired on" in certificate_notice(files.office.cert, now + dt.timedelta(days=900))


def test_self_signed_makes_a_ca_and_a_server_certificate_that_verify(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    result = CliRunner().invoke(cli, ["tls", "self-signed", "--host", "modelproxy.lan",
                                      "--ip", "10.0.0.5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"--tls-cert {out / 'server.pem'} --tls-key {out / 'server.key'}" in result.output
    for key in ("ca.key", "server.key"):
        assert (out / key).stat().st_mode & 0o777 == 0o600
    load(MODELPROXY_TLS_CERT=str(out / "server.pem"), MODELPROXY_TLS_KEY=str(out / "server.key"))
    # a client trusting ca.pem accepts the server certificate for its names
    client = ssl.create_default_context(cafile=str(out / "ca.pem"))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(out / "server.pem", out / "server.key")
    for name in ("modelproxy.lan", "10.0.0.5"):
        assert handshake(client, server, name) is None
    assert "mismatch" in handshake(client, server, "other.lan")


def test_self_signed_again_renews_under_the_same_ca(tmp_path: Path) -> None:
    first = make_office_ca(tmp_path, ["a.lan"])
    ca = first.ca_cert.read_bytes()
    old = first.cert.read_bytes()
    again = make_office_ca(tmp_path, ["a.lan"])
    assert again.ca_cert.read_bytes() == ca and again.cert.read_bytes() != old
    client = ssl.create_default_context(cafile=str(again.ca_cert))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(again.cert, again.key)
    assert handshake(client, server, "a.lan") is None


def test_self_signed_needs_a_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tls", "self-signed", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "name the server: at least one --host or --ip" in result.output
    bad = CliRunner().invoke(cli, ["tls", "self-signed", "--ip", "10.0.0", "--out",
                                   str(tmp_path)])
    assert bad.exit_code == 2 and "--ip" in bad.output


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, name: str) -> str | None:
    """None if a client verifying `name` completes a handshake with the server, else why
    not. In memory: no sockets needed."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=name)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                return str(exc)
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if c.version() and s.version():
            try:
                c.do_handshake()
                return None
            except ssl.SSLError as exc:
                return str(exc)
    return "no handshake"
