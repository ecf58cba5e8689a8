"""The terms the quota book (limits.QuotaBook) deals in: what a subject used, its limits,
what a request asks for and what it was given, and why a request is refused.

A subject is a token ("token", token id) or an endpoint ("endpoint", endpoint id); money
is integer nanos (billionths of a US dollar), as the rollups' `cost_nanos` store it.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from app.prices import NANOS_PER_USD

TOKEN, ENDPOINT = "token", "endpoint"
Key = tuple[str, int, dt.date]  # (subject, its id, month start)


class Used(NamedTuple):
    """What a subject used in a month (or holds): successful requests, model tokens,
    money."""

    requests: int = 0
    tokens: int = 0
    nanos: int = 0

    def plus(self, other: Used) -> Used:
        return Used(*(a + b for a, b in zip(self, other, strict=True)))

    def minus(self, other: Used) -> Used:
        return Used(*(a - b for a, b in zip(self, other, strict=True)))


NOTHING = Used()


class Limits(NamedTuple):
    """A subject's monthly limits; None where it has none."""

    requests: int | None = None
    tokens: int | None = None
    nanos: int | None = None


class Ask(NamedTuple):
    """What one request may use: `tokens` model tokens and `nanos` of money, or, where it
    named no max_tokens and less is left, as little as `least` / `least_nanos` (its prompt
    and one token). None: the request cannot be shortened."""

    tokens: int = 0
    least: int | None = None
    nanos: int = 0
    least_nanos: int | None = None


class Hold(NamedTuple):
    """What `reserve` held for a request against one subject."""

    tokens: int  # model tokens
    # Less than the request asked for (it named no max_tokens): what was left of the quota.
    # One such hold per subject at a time, so they pass the quota by one answer at most.
    shortened: bool = False
    # The month it is held in (subject, id, month start): a request that ends in the next
    # month settles in the one it was let through in (and its row is dated then).
    month: Key | None = None
    nanos: int = 0  # money, as `tokens`
    nanos_shortened: bool = False
    # The request's hold in a store shared by processes (Redis): one id for all its
    # subjects, which its settle names. None in one process's memory.
    ref: str | None = None


NO_HOLD = Hold(0)


class Spend(NamedTuple):
    """A settled request's money in one subject's month, as the book saw it: what the
    month had spent before it and after (budget alerts look for crossings)."""

    month: Key
    before: int
    after: int


class QuotaRefused(Exception):
    """The request does not fit what is left of a subject's quota or budget (429)."""

    def __init__(self, message: str, subject: str = TOKEN, subject_id: int | None = None,
                 limit: str = "tokens") -> None:
        super().__init__(message)
        self.subject = subject
        self.subject_id = subject_id
        self.limit = limit  # "requests", "tokens" or "money": which limit refused it


class QuotaUnknown(Exception):
    """The month's usage could not be read, so no decision can be made (503)."""


class NoRoom(Exception):
    """What is left (`left`) does not take the ask (raised inside the book)."""

    def __init__(self, left: int, least: int | None) -> None:
        super().__init__(left)
        self.left = left
        self.least = least  # the request's least, where it could have been shortened


def fit(most: int, least: int | None, used: int, held: int, limit: int,
        short_in_flight: bool) -> tuple[int, bool]:
    """What to hold of `most` against `limit` (and whether it is shortened), given what
    the month `used` and what others `held`. Raises NoRoom."""
    left = max(0, limit - used - held)
    if most <= left:
        return most, False
    flexible = least if least is not None and least < most else None  # no max_tokens
    if flexible is None or flexible > left or short_in_flight:
        raise NoRoom(left, flexible)
    return left, True  # what is left


def usd(nanos: int) -> str:
    """Money as the window shows it: $1.23, with 4 decimals below $1 ($0.0420)."""
    amount = Decimal(nanos) / NANOS_PER_USD
    places = Decimal("0.01") if abs(amount) >= 1 else Decimal("0.0001")
    return f"${amount.quantize(places, ROUND_HALF_UP)}"


def too_many_tokens(tokens: int, left: int, max_tokens: int, least: int | None) -> str:
    """Why a hold of `tokens` (or, without max_tokens, at least `least`) does not fit."""
    if least is not None:
        return (f"this request needs at least {least} model tokens (its prompt and one "
                f"more) but {left} of the monthly token quota of {max_tokens} are left")
    return (f"this request may use up to {tokens} model tokens (its prompt and max_tokens) "
            f"but {left} of the monthly token quota of {max_tokens} are left; send a "
            f"smaller max_tokens")


def too_costly(nanos: int, left: int, budget: int, least: int | None) -> str:
    """Why a money hold of `nanos` (or at least `least`) does not fit the budget."""
    if least is not None:
        return (f"this request may cost at least {usd(least)} (its prompt and one more "
                f"token) but {usd(left)} of the monthly budget of {usd(budget)} is left")
    return (f"this request may cost up to {usd(nanos)} but {usd(left)} of the monthly "
            f"budget of {usd(budget)} is left")
