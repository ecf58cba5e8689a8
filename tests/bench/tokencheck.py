"""The cost of checking client tokens, cold (one bcrypt) and warm (cached), two ways."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import requests
from loadgen import CHAT_BODY


@dataclass(frozen=True)
class ColdWarm:
    cold_ms: float  # the first request (or call) with a token: includes one bcrypt check
    warm_ms: float  # the median of the following ones, answered from the cache
    warm_calls: int

    @property
    def extra_ms(self) -> float:
        """What the one bcrypt check cost on top of a warm request."""
        return max(0.0, self.cold_ms - self.warm_ms)


def _post(session: requests.Session, url: str, token: str) -> float:
    started = time.perf_counter()
    answer = session.post(url, data=CHAT_BODY, timeout=30, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:300]}")
    return elapsed


def over_http(url: str, warmup_token: str, token: str, warmups: int = 50,
              warm_calls: int = 300) -> ColdWarm:
    """On one keep-alive connection: `warmups` requests with a throwaway token (the
    server's first-request costs go there), then the first request with the never-used
    `token` vs the median of the next `warm_calls` with it."""
    with requests.Session() as session:
        for _ in range(warmups):
            _post(session, url, warmup_token)
        cold = _post(session, url, token)
        warm = [_post(session, url, token) for _ in range(warm_calls)]
    return ColdWarm(cold, statistics.median(warm), warm_calls)


def in_process(warm_calls: int = 10_000) -> tuple[ColdWarm, float]:
    """TokenVerifier.verify timed in this process: one cold call (bcrypt at cost 12, as the
    server stores tokens) and `warm_calls` warm ones. Also returns the amortized ms per call:
    (cold + all warm) / (1 + warm_calls)."""
    from app.crypto import hash_secret, mint_token
    from app.services.token_auth import TokenVerifier

    token = mint_token()
    found = (1, hash_secret(token, 12))
    verifier = TokenVerifier()

    def lookup(_prefix: str) -> tuple[int, str]:
        return found

    started = time.perf_counter()
    assert verifier.verify(token, lookup) == 1
    cold = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    for _ in range(warm_calls):
        verifier.verify(token, lookup)
    warm_total = (time.perf_counter() - started) * 1000
    amortized = (cold + warm_total) / (1 + warm_calls)
    return ColdWarm(cold, warm_total / warm_calls, warm_calls), amortized
