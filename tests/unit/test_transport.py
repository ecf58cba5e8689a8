"""The adapters' transport: outbound proxies and CA bundles from the environment, headers,
errors.

A loopback HTTP server plays the outbound proxy: it records each request line and headers
and answers a fixed chat completion.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.providers import ProviderConfig, UpstreamError, adapter_for
from server.providers.transport import Transport

ANSWER = {"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1}}


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.requestline, dict(self.headers)))
        data = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(autouse=True)
def forget_requests() -> None:
    Recorder.seen = []


@pytest.fixture
def proxy() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def config(base_url: str) -> ProviderConfig:
    return ProviderConfig(id=1, name="up", type="openai_compatible", base_url=base_url,
                          api_key="sk-secret-key", timeout_s=5)


def test_calls_go_through_the_proxy_the_environment_names(
        proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    adapter = adapter_for(config("http://upstream.invalid/v1"))
    assert adapter.chat({"model": "m", "messages": []}, "req-1") == ANSWER
    line, headers = Recorder.seen[-1]
    assert line == "POST http://upstream.invalid/v1/chat/completions HTTP/1.1"
    assert headers["Authorization"] == "Bearer sk-secret-key"
    assert headers["X-Request-ID"] == "req-1"
    assert headers["Content-Type"] == "application/json"
    adapter.close()


def test_no_proxy_hosts_are_called_directly(proxy: str, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "upstream.invalid")
    assert Transport("http://upstream.invalid/v1", {}).proxy is None
    monkeypatch.delenv("NO_PROXY")
    assert Transport("http://upstream.invalid/v1", {}).proxy == proxy


def test_an_unreachable_provider_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    adapter = adapter_for(config(f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(UpstreamError, match="cannot reach provider up: connection refused"):
        adapter.chat({"model": "m", "messages": []}, "req-2")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL of a TLS server on loopback with a self-signed certificate, that cert)."""
    cert_file, key_file = self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.handle_error = lambda *args: None  # refused handshakes are the point here
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/v1", cert_file
    server.shutdown()
    server.server_close()


def test_a_provider_certificate_no_known_ca_signed_is_refused(
        tls_upstream: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    adapter = adapter_for(config(tls_upstream[0]))
    with pytest.raises(UpstreamError, match="cannot reach provider up: SSLError"):
        adapter.chat({"model": "m", "messages": []}, "req-3")


def test_ssl_cert_file_names_the_cas_to_trust(tls_upstream: tuple[str, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    base_url, cert_file = tls_upstream
    for name in ("REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    adapter = adapter_for(config(base_url))
    assert adapter.chat({"model": "m", "messages": []}, "req-4") == ANSWER
    assert Recorder.seen[-1][0] == "POST /v1/chat/completions HTTP/1.1"
