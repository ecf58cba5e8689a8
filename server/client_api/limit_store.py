"""The seam between the gateway and where limits are kept: rate windows and quota and money
holds, decided together for a request (`admit`) and settled after it (`settle`).

Two implementations make the same decisions: `MemoryLimits` (one process: rate.py's window
and limits.py's quota book) and `server.shared.redis_limits.RedisLimits` (every process
that shares one Redis: workers and instances). The factory picks one
(`server.shared.shared_state`); the gateway receives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol

from server.client_api.holds import Asked
from server.client_api.limits import QuotaBook, QuotaRefused, QuotaUnknown, RowWriter
from server.client_api.quota_terms import Hold, Spend, Used
from server.client_api.rate import RateDecision, RateLimiter

__all__ = ["Admission", "LimitStore", "LimitsUnavailable", "MemoryLimits", "QuotaUnknown"]


class LimitsUnavailable(Exception):
    """Where limits are kept cannot answer (Redis is away): no decision can be made, so a
    request that needs one is refused (503 `limits_unavailable`), never let through."""


class Admission(NamedTuple):
    """What `admit` decided for one request."""

    rate: RateDecision | None  # None: the token has no rpm
    holds: list[Hold]  # one per ask, in order; empty when refused
    refused: int | None = None  # the ask whose subject refused it (its index)
    refusal: QuotaRefused | None = None

    @property
    def allowed(self) -> bool:
        return (self.rate is None or self.rate.allowed) and self.refusal is None


class LimitStore(Protocol):
    """Rate windows and quota holds, for one process or many."""

    def admit(self, token_id: int, rpm: int | None, asked: Sequence[Asked]) -> Admission:
        """Count the request in the token's window (if `rpm`) and, if that let it through,
        hold it against every ask, or against none. Raises QuotaUnknown (a month's usage
        could not be read) or LimitsUnavailable."""

    def settle(self, holds: Sequence[Hold], succeeded: bool, used: Used,
               write: RowWriter | None = None,
               row: object | None = None) -> tuple[bool, list[Spend]]:
        """Turn a request's holds into its usage (QuotaBook.settle_holds); True if `write`
        wrote its row here and now."""

    def written(self, rows: Iterable[object]) -> None:
        """The log writer committed `rows`."""

    def report_spent(self, report: Callable[[list[Spend]], None]) -> None:
        """Where settles that return before they are made report their spends."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class MemoryLimits:
    """One process's limits, in its memory (on a shared database its quota book re-reads
    the rollups: limits.QuotaBook's `reread`)."""

    def __init__(self, book: QuotaBook, rate: RateLimiter | None = None) -> None:
        self.book = book
        self.rate = rate or RateLimiter()

    def admit(self, token_id: int, rpm: int | None, asked: Sequence[Asked]) -> Admission:
        decision = self.rate.hit(token_id, rpm) if rpm is not None else None
        if decision is not None and not decision.allowed:
            return Admission(decision, [])
        held: list[Hold] = []
        try:
            for a in asked:
                held.append(self.book.hold(a.subject, a.subject_id, a.limits, a.ask))
        except QuotaRefused as refused:
            self.book.release(held)
            return Admission(decision, [], len(held), refused)
        except QuotaUnknown:
            self.book.release(held)
            raise
        return Admission(decision, held)

    def settle(self, holds: Sequence[Hold], succeeded: bool, used: Used,
               write: RowWriter | None = None,
               row: object | None = None) -> tuple[bool, list[Spend]]:
        return self.book.settle_holds(holds, succeeded, used, write, row)

    def written(self, rows: Iterable[object]) -> None:
        self.book.written(rows)

    def report_spent(self, report: Callable[[list[Spend]], None]) -> None:
        """Nothing to report later: `settle` returns the spends."""

    def start(self) -> None:
        """Nothing runs in the background."""

    def stop(self) -> None:
        """Nothing to stop."""
