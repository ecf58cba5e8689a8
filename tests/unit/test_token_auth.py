"""The hot-path token check: bcrypt at most once per token, single flight, off-thread,
guesses throttled before bcrypt is spent, junk kept apart from valid tokens."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.crypto import hash_secret, mint_token, token_prefix
from app.services.token_auth import TokenVerifier, TooManyFailures

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
    issued = [mint_token() for _ in range(10)]
    table = {token_prefix(t): (n, hash_secret(t, rounds=4)) for n, t in enumerate(issued)}
    assert [verifier.verify(t, table.get) for t in issued] == list(range(10))
    assert len(verifier._known) == 3


# --- throttling guesses (issue 11, item 11) ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def forged(n: int) -> str:
    """A wrong secret behind the real token's (public) prefix."""
    return TOKEN[:12] + f"{n:035d}"


def test_wrong_secrets_from_one_address_are_refused_before_bcrypt_is_spent() -> None:
    verifier = TokenVerifier(clock=Clock())
    assert [verifier.verify(forged(n), lookup, "10.66.0.1") for n in range(3)] == [None] * 3
    spent = verifier.bcrypt_checks
    for n in range(3, 100):
        with pytest.raises(TooManyFailures) as refused:
            verifier.verify(forged(n), lookup, "10.66.0.1")
        assert 0 < refused.value.retry_after_s <= 60
    assert verifier.bcrypt_checks == spent == 3
    # the token itself, checked from a clean address, and then answered from the cache
    assert verifier.verify(TOKEN, lookup, "10.1.0.1") == 7
    assert verifier.verify(TOKEN, lookup, "10.66.0.1") == 7, "cached: no throttle"


def test_the_throttle_wait_grows_and_runs_out() -> None:
    clock = Clock()
    verifier = TokenVerifier(clock=clock)
    waits = []
    for n in range(8):
        try:
            verifier.verify(forged(n), lookup, "10.66.0.1")
        except TooManyFailures as refused:
            waits.append(refused.retry_after_s)
            clock.now += refused.retry_after_s
            assert verifier.verify(forged(100 + n), lookup, "10.66.0.1") is None
    assert waits == [1, 2, 4, 8, 16], waits


def test_many_addresses_guessing_one_prefix_are_held_back_by_the_prefix() -> None:
    verifier = TokenVerifier(clock=Clock())
    for n in range(10):  # ten addresses, one guess each
        assert verifier.verify(forged(n), lookup, f"10.66.0.{n}") is None
    with pytest.raises(TooManyFailures):  # a second guess from one of them
        verifier.verify(forged(50), lookup, "10.66.0.3")
    spent = verifier.bcrypt_checks
    # an address that never failed still gets its check: the real owner is not locked out
    assert verifier.verify(TOKEN, lookup, "10.1.0.1") == 7
    assert verifier.bcrypt_checks == spent + 1


def test_checks_from_failing_addresses_run_two_at_a_time() -> None:
    started = threading.Barrier(3, timeout=5)
    release = threading.Event()

    def held(fn, *args):
        if args[0] != TOKEN:
            started.wait()
            release.wait(5)
        return fn(*args)

    verifier = TokenVerifier(run_blocking=held, clock=Clock())
    for address in ("10.66.0.1", "10.66.0.2"):
        verifier._addresses.failed(address)  # they failed before: suspects
    with ThreadPoolExecutor(2) as pool:
        running = [pool.submit(verifier.verify, forged(n), lookup, "10.66.0.1")
                   for n in range(2)]
        started.wait()  # both of its checks are in bcrypt
        with pytest.raises(TooManyFailures) as refused:
            verifier.verify(forged(9), lookup, "10.66.0.2")
        assert refused.value.retry_after_s == 1
        assert verifier.verify(TOKEN, lookup, "10.1.0.1") == 7, "a clean address is not held"
        release.set()
        assert [r.result() for r in running] == [None, None]


def test_waiting_on_a_refused_check_gives_the_same_refusal() -> None:
    verifier = TokenVerifier(clock=Clock())
    for n in range(3):
        verifier.verify(forged(n), lookup, "10.66.0.1")
    for _ in range(3):
        with pytest.raises(TooManyFailures):
            verifier.verify(forged(7), lookup, "10.66.0.1")


def test_junk_never_evicts_a_valid_token() -> None:
    verifier = TokenVerifier(max_entries=3)
    assert verifier.verify(TOKEN, lookup) == 7
    for n in range(200):
        assert verifier.verify(forged(n), lookup) is None
    spent = verifier.bcrypt_checks
    assert verifier.verify(TOKEN, lookup) == 7
    assert verifier.bcrypt_checks == spent, "the valid token was still cached"


def test_refusals_are_cached_in_a_small_table_of_their_own() -> None:
    verifier = TokenVerifier(max_refused=5)
    for n in range(20):
        verifier.verify(forged(n), lookup)
    assert len(verifier._refused) == 5 and len(verifier._known) == 0


def test_a_token_not_yet_in_the_catalog_is_not_remembered_as_invalid() -> None:
    verifier = TokenVerifier()
    later = mint_token()
    table: dict = {}
    assert verifier.verify(later, table.get) is None  # made by the CLI, not yet loaded
    table[token_prefix(later)] = (8, hash_secret(later, rounds=4))
    assert verifier.verify(later, table.get) == 8


def test_many_new_tokens_at_once_from_one_clean_address_are_all_checked() -> None:
    """An office behind one NAT address (or a reverse proxy), all clients starting at once
    after a restart: first uses of different valid tokens are no guesses and are never
    refused, up to CLEAN_CHECKS of them in bcrypt at once."""
    from app.services.token_auth import CLEAN_CHECKS

    tokens = [mint_token() for _ in range(CLEAN_CHECKS)]
    table = {token_prefix(t): (i, hash_secret(t, rounds=4)) for i, t in enumerate(tokens)}
    started = threading.Barrier(CLEAN_CHECKS, timeout=5)

    def held(fn, *args):  # every check is in bcrypt at the same moment
        started.wait()
        return fn(*args)

    verifier = TokenVerifier(run_blocking=held, clock=Clock())
    with ThreadPoolExecutor(CLEAN_CHECKS) as pool:
        found = list(pool.map(lambda t: verifier.verify(t, table.get, "192.168.1.1"), tokens))
    assert found == list(range(CLEAN_CHECKS))
