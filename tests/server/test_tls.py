"""`modelproxy serve` over TLS, in a real process, with certificates made in the test:
clients that trust the office CA (the official openai SDK, ours, requests), one that does
not, plain HTTP to the HTTPS port, silent and half-done handshakes, old TLS versions."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import requests
from modelproxy import APIConnectionError, ModelProxyClient

from tests.fakes.upstream import FakeUpstream
from tests.live import free_port
from tests.server.client_fixtures import UPSTREAM_KEY, Appliance, IssuedToken, clean_environ
from tests.tlsfiles import TLSFiles, make_tls_files

HEADER_TIMEOUT_S = 1
BOUND_S = 15  # how long a socket waits for the server's answer or close: a bound, no timing


@dataclass
class TLSGateway:
    appliance: Appliance
    fake: FakeUpstream
    token: IssuedToken
    files: TLSFiles

    @property
    def url(self) -> str:
        return self.appliance.url

    @property
    def port(self) -> int:
        assert self.appliance.live is not None
        return self.appliance.live.port

    @property
    def ca(self) -> str:
        return str(self.files.office.ca_cert)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSGateway]:
    folder = tmp_path_factory.mktemp("tls")
    files = make_tls_files(folder / "certs")
    with FakeUpstream() as fake:
        app = Appliance(folder / "data")
        app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
        app.endpoint("chat", "/api/chat", "fake")
        token = app.token("all")
        app.serve(ca_file=files.office.ca_cert, MODELPROXY_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
                  **files.env)
        try:
            yield TLSGateway(app, fake, token, files)
        finally:
            app.close()


def hello(text: str = "Hello") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_the_startup_line_says_https(gw: TLSGateway) -> None:
    assert gw.url.startswith("https://")
    assert f"listening on https://127.0.0.1:{gw.port}" in gw.appliance.live.output


def test_the_openai_sdk_trusting_the_office_ca(gw: TLSGateway) -> None:
    http = openai.DefaultHttpxClient(verify=ssl.create_default_context(cafile=gw.ca))
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.token.plaintext,
                           max_retries=0, http_client=http)
    answer = client.chat.completions.create(model="chat", messages=hello("over TLS"))
    assert answer.choices[0].message.content == "echo: over TLS"
    chunks = client.chat.completions.create(model="chat", messages=hello("a stream"),
                                            stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) \
        == "echo: a stream"


def test_the_openai_sdk_with_ssl_cert_file(gw: TLSGateway, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """What docs/tls.md tells OpenAI-SDK scripts: SSL_CERT_FILE names the CA to trust."""
    monkeypatch.setenv("SSL_CERT_FILE", gw.ca)
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.token.plaintext, max_retries=0)
    assert client.models.list().data[0].id == "chat"


def test_our_python_sdk_with_ca_file(gw: TLSGateway) -> None:
    with ModelProxyClient(gw.url, gw.token.plaintext, ca_file=gw.ca) as client:
        answer = client.chat_completion(messages=hello("sdk"))
        assert answer["choices"][0]["message"]["content"] == "echo: sdk"
        streamed = "".join(c["choices"][0]["delta"].get("content") or ""
                           for c in client.chat_completion_stream(messages=hello("s")))
        assert streamed == "echo: s"
    row = gw.appliance.log_rows()[-1]
    assert row["client_ip"] == "127.0.0.1" and row["status"] == 200


def test_a_client_that_does_not_trust_the_ca_fails_verification(gw: TLSGateway) -> None:
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(gw.url + "/api/health", timeout=BOUND_S)
    stranger = str(gw.files.stranger.ca_cert)
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(gw.url + "/api/health", timeout=BOUND_S, verify=stranger)
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.token.plaintext, max_retries=0,
                           http_client=openai.DefaultHttpxClient(
                               verify=ssl.create_default_context(cafile=stranger)))
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
    calls = len(gw.fake.requests)
    with ModelProxyClient(gw.url, gw.token.plaintext, ca_file=stranger,
                          max_retries=3) as ours, \
            pytest.raises(APIConnectionError, match=r"certificate is not trusted.*ca_file"):
        ours.chat_completion(messages=hello())
    assert len(gw.fake.requests) == calls


def raw_exchange(port: int, data: bytes) -> bytes:
    """What the server sends back to `data` on a plain TCP connection, until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_plain_http_to_the_https_port_is_told_so(gw: TLSGateway) -> None:
    answer = raw_exchange(gw.port, b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"code": "https_required"' in answer and b"https://" in answer
    # with requests: an answer, not a hang
    response = requests.post(gw.url.replace("https", "http") + "/api/chat",
                             json={"messages": hello()}, timeout=BOUND_S,
                             headers={"Authorization": f"Bearer {gw.token.plaintext}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "https_required"


def test_any_plain_http_method_is_told_so(gw: TLSGateway) -> None:
    answer = raw_exchange(gw.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"https_required" in answer


def test_bytes_that_are_neither_tls_nor_http_are_closed_on(gw: TLSGateway) -> None:
    with socket.create_connection(("127.0.0.1", gw.port), timeout=BOUND_S) as sock:
        sock.sendall(b"\x00\x01 not a ClientHello\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):  # a close either way, never a hang
            assert sock.recv(65536) in (b"", b"\x15\x03\x03\x00\x02\x02\x32")


def test_a_silent_tcp_client_is_cut_at_the_header_deadline(gw: TLSGateway) -> None:
    """It connects and never sends its ClientHello: closed, no greenlet held for ever."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=BOUND_S) as sock:
        assert sock.recv(1) == b""


def test_a_handshake_left_half_done_is_cut_at_the_header_deadline(gw: TLSGateway) -> None:
    """A ClientHello, then nothing: the handshake never finishes."""
    context = ssl.create_default_context(cafile=gw.ca)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=BOUND_S) as sock:
        sock.sendall(outgoing.read())
        while sock.recv(65536):  # the server's hello, then its close
            pass


def tls_exchange(gw: TLSGateway, data: bytes) -> bytes:
    """What the server sends back over TLS to `data`, until it closes."""
    context = ssl.create_default_context(cafile=gw.ca)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=BOUND_S) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_silent_client_after_the_handshake_is_closed_at_the_header_deadline(
        gw: TLSGateway) -> None:
    assert tls_exchange(gw, b"") == b""  # as without TLS: said nothing, told nothing


def test_a_half_sent_head_over_tls_gets_a_408(gw: TLSGateway) -> None:
    answer = tls_exchange(gw, b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.1 408 ") and b"request_timeout" in answer


def test_tls_before_1_2_is_refused(gw: TLSGateway) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(gw.ca)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer 1.1 at all
    with socket.create_connection(("127.0.0.1", gw.port), timeout=BOUND_S) as raw, \
            pytest.raises(ssl.SSLError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_client_leaving_a_stream_closes_the_upstream_stream(gw: TLSGateway) -> None:
    """Under TLS the client's leaving is seen on the TCP socket under it."""
    gw.fake.stream_delay(0.5)
    try:
        response = requests.post(gw.url + "/api/chat", verify=gw.ca, stream=True,
                                 json={"messages": hello("slow"), "stream": True},
                                 headers={"Authorization": f"Bearer {gw.token.plaintext}"},
                                 timeout=BOUND_S)
        assert response.status_code == 200
        assert next(response.iter_content(chunk_size=None)).startswith(b"data: ")
        request_id = response.headers["X-Request-ID"]
        response.close()
        assert gw.fake.wait_until(lambda f: f.streams_aborted == 1, timeout=5), \
            "the upstream stream was not closed when the client left"
        row = gw.appliance.log_row(request_id)
        assert row["status"] == 499 and "disconnect" in row["error"]
    finally:
        gw.fake.stream_delay(0)


def test_a_client_leaving_a_slow_whole_answer_ends_the_upstream_request(gw: TLSGateway
                                                                       ) -> None:
    """Nothing is written to the client while the upstream works: its leaving is seen
    only by watching its socket, which under TLS is the TCP socket under it."""
    gw.fake.set_delay(3)
    try:
        with pytest.raises(requests.Timeout):
            requests.post(gw.url + "/api/chat", verify=gw.ca, timeout=1,
                          json={"messages": hello("never mind")},
                          headers={"Authorization": f"Bearer {gw.token.plaintext}",
                                   "X-Request-ID": "tls-left-whole"})
        assert gw.fake.wait_until(lambda f: f.requests_abandoned == 1, timeout=1.5), \
            "the upstream request was held after the client left"
        row = gw.appliance.log_row("tls-left-whole", timeout=6)
        assert row["status"] == 499 and "disconnect" in row["error"]
    finally:
        gw.fake.set_delay(0)


@pytest.mark.parametrize("case", ["one of the two", "mismatched key"])
def test_serve_refuses_a_bad_pair_naming_the_setting(gw: TLSGateway, tmp_path: Path,
                                                     case: str) -> None:
    office, stranger = gw.files.office, gw.files.stranger
    flags = (["--tls-cert", str(office.cert)] if case == "one of the two"
             else ["--tls-cert", str(office.cert), "--tls-key", str(stranger.key)])
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "serve", "--port", str(free_port()),
         "--data-dir", str(tmp_path), *flags], capture_output=True, text=True, timeout=60,
        env=clean_environ(), check=False)
    assert result.returncode == 1
    expected = ("Error: MODELPROXY_TLS_KEY: not set, but MODELPROXY_TLS_CERT is"
                if case == "one of the two" else
                "Error: MODELPROXY_TLS_KEY: the key in ")
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "modelproxy.db").exists(), "refused before anything was made"


def test_the_desktop_sees_a_local_https_only_server_for_what_it_is(gw: TLSGateway) -> None:
    """`modelproxy desktop` probes its port over plain HTTP: a TLS server there is told
    apart (and named to the user) rather than taken for none, which would start a second
    server on a taken port."""
    from gui.server_process import answers, serves_https_only

    plain = f"http://127.0.0.1:{gw.port}"
    assert not answers(plain)
    assert serves_https_only(plain)
    assert not serves_https_only(f"http://127.0.0.1:{free_port()}")  # nothing there


def test_tls_to_a_plain_http_port_is_told_so_at_once(tmp_path: Path) -> None:
    """https:// to a server without TLS: a plain 400 answers the ClientHello (before the
    header deadline, which would answer 408), which a TLS client reports as such (the window:
    tests/gui/test_connect_https.py)."""
    from tests.live import LiveServer

    with LiveServer(tmp_path / "data", env={"MODELPROXY_HEADER_TIMEOUT_S": "60"}) as live:
        context = ssl.create_default_context()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        with socket.create_connection(("127.0.0.1", live.port), timeout=BOUND_S) as sock:
            sock.sendall(outgoing.read())  # the ClientHello
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert b'"code": "http_required"' in answer and b"http://" in answer
