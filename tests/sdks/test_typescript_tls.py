"""The TypeScript SDK over HTTPS, against a real `serve` with a certificate made in the
test: trusting the office CA through NODE_EXTRA_CA_CERTS (what its README says), and not
trusting it (a clear error, not retried)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sdks.test_typescript import run_node
from tests.server.client_fixtures import Appliance, IssuedToken, wait_for
from tests.tlsfiles import TLSFiles, make_tls_files


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Appliance, IssuedToken, TLSFiles]]:
    folder = tmp_path_factory.mktemp("ts-tls")
    files = make_tls_files(folder / "certs")
    app = Appliance(folder / "data")
    app.provider("echo", type="echo")
    app.endpoint("chat", "/api/chat", "echo", model="echo-model")
    token = app.token("ts")
    app.serve(ca_file=files.office.ca_cert, **files.env)
    try:
        yield app, token, files
    finally:
        app.close()


def test_trusting_the_ca_with_node_extra_ca_certs(tls_server) -> None:
    app, token, files = tls_server
    run_node("test/live/tls-trusted.test.mjs", expect=2, env={
        "MODELPROXY_TEST_URL": app.url, "MODELPROXY_TEST_TOKEN": token.plaintext,
        "NODE_EXTRA_CA_CERTS": str(files.office.ca_cert)})
    assert wait_for(lambda: [r["status"] for r in app.log_rows()] == [200, 200], 5.0)


def test_not_trusting_it_fails_at_once(tls_server) -> None:
    app, token, _files = tls_server
    before = len(app.log_rows())
    run_node("test/live/tls-untrusted.test.mjs", expect=1, env={
        "MODELPROXY_TEST_URL": app.url, "MODELPROXY_TEST_TOKEN": token.plaintext})
    assert len(app.log_rows()) == before  # refused in the handshake: nothing was asked
