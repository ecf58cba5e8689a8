"""The hot-path token check: bcrypt at most once per token, single flight, off-thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.crypto import hash_secret, mint_token, token_prefix
from app.services.token_auth import TokenVerifier

TOKEN = mint_token()
TABLE = {token_prefix(TOKEN): (7, hash_secret(TOKEN, rounds=4))}


def lookup(prefix: str):
    return TABLE.get(prefix)


def test_valid_token_is_checked_with_bcrypt_once() -> None:
    verifier = TokenVerifier()
    assert [verifier.verify(TOKEN, lookup) for _ in range(50)] == [7] * 50
    assert verifier.bcrypt_checks == 1


def test_wrong_secret_with_a_real_prefix_is_refused_and_remembered() -> None:
    verifier = TokenVerifier()
    forged = TOKEN[:12] + ("A" * 35)
    assert verifier.verify(forged, lookup) is None
    assert verifier.verify(forged, lookup) is None
    assert verifier.bcrypt_checks == 1


def test_malformed_tokens_cost_nothing() -> None:
    verifier = TokenVerifier()
    for presented in ["", "Bearer", "sk-abc", "mpx_" + "x" * 10, TOKEN + "x"]:
        assert verifier.verify(presented, lookup) is None
    assert verifier.bcrypt_checks == 0


def test_concurrent_first_uses_share_one_check() -> None:
    calls = []

    def slow_blocking(fn, *args):
        calls.append(threading.get_ident())
        time.sleep(0.2)  # a slow bcrypt: every other caller arrives meanwhile
        return fn(*args)

    verifier = TokenVerifier(run_blocking=slow_blocking)
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: verifier.verify(TOKEN, lookup), range(16)))
    assert results == [7] * 16
    assert len(calls) == 1 and verifier.bcrypt_checks == 1


def test_a_failed_lookup_is_not_remembered() -> None:
    verifier = TokenVerifier()
    broken = {"fail": True}

    def flaky(prefix: str):
        if broken["fail"]:
            raise ConnectionError("database down")
        return lookup(prefix)

    with pytest.raises(ConnectionError):
        verifier.verify(TOKEN, flaky)
    broken["fail"] = False
    assert verifier.verify(TOKEN, flaky) == 7


def test_forget_drops_a_token() -> None:
    verifier = TokenVerifier()
    verifier.verify(TOKEN, lookup)
    verifier.forget(7)
    verifier.verify(TOKEN, lookup)
    assert verifier.bcrypt_checks == 2


def test_cache_is_bounded() -> None:
    verifier = TokenVerifier(max_entries=3)
    for _ in range(10):
        verifier.verify(mint_token(), lookup)
    assert len(verifier._known) == 3
