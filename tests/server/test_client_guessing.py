"""Guessing client tokens (issue 11, item 11): prefixes are public (viewers see them), so
wrong secrets for a real prefix each cost a bcrypt check. They are throttled per address
and per prefix before bcrypt is spent (429 `too_many_failed_attempts`, Retry-After); the
wrong token itself is still a 401; and log commits never queue behind bcrypt."""

from __future__ import annotations

import http.client
import json
import secrets
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app.services import tokens
from app.services.token_auth import ADDRESS_FREE, CLEAN_CHECKS
from tests.server.client_fixtures import (
    ACTOR,
    Appliance,
    EdgeGateway,
    assert_error,
    chat_body,
    wait_for,
)


def forged(real: str) -> str:
    """A wrong secret behind a real token's prefix."""
    return real[:12] + secrets.token_urlsafe(32)[:35]


def attacker_address() -> str:
    return f"10.{secrets.randbelow(200) + 50}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


def post(url: str, token: str, address: str, **headers: str) -> requests.Response:
    return requests.post(url + "/api/chat", json=chat_body(), timeout=30, headers={
        "Authorization": f"Bearer {token}", "X-Forwarded-For": address, **headers})


def test_wrong_secrets_from_one_address_are_throttled_before_bcrypt(
        edge: EdgeGateway) -> None:
    real = edge.tokens["all"].plaintext
    attacker = attacker_address()
    assert post(edge.url, real, "10.1.0.1").status_code == 200  # checked once, cached
    for _ in range(3):
        assert_error(post(edge.url, forged(real), attacker), 401, "invalid_token")
    request_id = "guess-" + secrets.token_hex(6)
    refused = post(edge.url, forged(real), attacker, **{"X-Request-ID": request_id})
    assert_error(refused, 429, "too_many_failed_attempts", mentions="failed token checks")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    row = edge.appliance.log_row(request_id)
    assert (row["status"], row["token_id"]) == (429, None)
    # a token already checked is answered from the cache, from that address too
    assert post(edge.url, real, attacker).status_code == 200


def test_a_flood_from_one_address_spends_almost_no_bcrypt(edge: EdgeGateway) -> None:
    real = edge.tokens["net10"].plaintext
    attacker, stop = attacker_address(), threading.Event()
    seen: Counter[int] = Counter()

    def guess() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                seen[session.post(edge.url + "/api/chat", json=chat_body(), timeout=30,
                                  headers={"Authorization": f"Bearer {forged(real)}",
                                           "X-Forwarded-For": attacker}).status_code] += 1

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(guess)
        assert wait_for(lambda: seen[429] >= 50, 10), seen
        # the token's owner, elsewhere, is served meanwhile (its first check included)
        assert post(edge.url, real, "10.2.0.1").status_code == 200
        stop.set()
    assert set(seen) == {401, 429}, seen
    # a fresh address's first checks at once are taken for new tokens (CLEAN_CHECKS), then
    # its failures throttle it
    assert seen[401] <= CLEAN_CHECKS + ADDRESS_FREE, (
        f"bcrypt was spent on {seen[401]} guesses from one address")


# --- log commits and bcrypt --------------------------------------------------------------------

SLOW_ROUNDS = 13  # ~0.5 s of CPU a check: what happens meanwhile is a matter of order
GUESSES = 12  # more than gevent's pool has threads (10), which bcrypt once shared with commits
BCRYPT_UNDER_WAY_S = 0.1  # of the server's CPU: the first guess's check has begun


@pytest.fixture(scope="module")
def slow_tokens(tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[Appliance, str, dict[str, str]]]:
    """An appliance with a token hashed at cost 13 (the one to guess at) and a warm one."""
    app = Appliance(Path(tmp_path_factory.mktemp("slow-tokens")))
    app.provider("echo", type="echo")
    app.endpoint("echo-chat", "/api/chat", "echo", model="echo-model")
    with app.session():
        _, slow = tokens.create(ACTOR, SLOW_ROUNDS, name="slow", scopes=["all"])
    warm = app.token("warm").headers
    app.serve(MODELPROXY_TRUSTED_PROXIES="127.0.0.1", MODELPROXY_GRACE_S="1")
    try:
        yield app, slow, warm
    finally:
        app.close()


def test_log_rows_are_committed_while_bcrypt_is_busy(
        slow_tokens: tuple[Appliance, str, dict[str, str]]) -> None:
    """Twelve guesses from twelve addresses queue ~6 s of bcrypt; a request served once the
    first is being checked has its row committed before any guess is answered. (bcrypt once
    shared gevent's pool of 10 threads with SQLite's commits, first come first served: the
    commit waited for 11 guesses, and 6.6 s under a flood.)"""
    app, slow, warm = slow_tokens
    assert app.live is not None
    assert requests.post(app.url + "/api/chat", json=chat_body(), headers=warm,
                         timeout=30).status_code == 200
    sent, answered = threading.Semaphore(0), threading.Event()

    def guess(n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", app.live.port, timeout=60)
        try:
            connection.request("POST", "/api/chat", json.dumps(chat_body()), headers={
                "Authorization": f"Bearer {forged(slow)}", "X-Forwarded-For": f"10.60.0.{n}",
                "Content-Type": "application/json"})
            sent.release()
            connection.getresponse().read()
            answered.set()
        except OSError:
            pass  # the server is stopped at the end of the module, mid-queue
        finally:
            connection.close()

    idle = app.live.cpu_seconds()
    for n in range(GUESSES):
        threading.Thread(target=guess, args=(n,), daemon=True).start()
    for _ in range(GUESSES):
        assert sent.acquire(timeout=30), "a guess could not be sent"
    assert wait_for(lambda: app.live.cpu_seconds() - idle >= BCRYPT_UNDER_WAY_S, 30, 0.01)
    request_id = "served-meanwhile-" + secrets.token_hex(4)
    served = requests.post(app.url + "/api/chat", json=chat_body(), timeout=30,
                           headers={**warm, "X-Request-ID": request_id})
    assert served.status_code == 200
    database = app.data_dir / "modelproxy.db"
    assert wait_for(lambda: _has_row(database, request_id) or answered.is_set(), 30, 0.01)
    assert not answered.is_set(), "a guess was answered before the served request's row"
    assert _has_row(database, request_id)


def _has_row(database: Path, request_id: str) -> bool:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as con:
        return con.execute("SELECT 1 FROM request_log WHERE request_id = ?",
                           (request_id,)).fetchone() is not None
