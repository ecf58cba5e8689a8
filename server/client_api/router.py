"""Which of an endpoint's targets a request tries, in what order, and each target's health.

Pure: no I/O, no database, the clock and the random source injected, so the policy is
tested on its own. The pipeline asks `order()` for the attempt order, then reports each
attempt with `succeeded()` or `failed()`.

- Priorities ascending; within one priority the usable targets in a weighted random order
  (weighted sampling without replacement).
- `cooldown_failures` failures within `cooldown_window_s` put a target in cool-down for
  `cooldown_s`; a `Retry-After` does so at once, for that long (at most an hour).
- A target whose cool-down ended is half-open: the next request (only that one) gets it,
  until it reports. Success closes it (failures forgotten), failure re-opens it at once.
- If every target is unavailable, the one whose cool-down ends first is tried anyway: a
  request is never refused only because of cool-downs.

Runs on gevent greenlets (threading is monkey-patched there): one lock around state
changes. The common case (one healthy target) takes no lock and allocates only its result.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

RETRY_AFTER_CAP_S = 3600.0
# Upstream answers that say the target, not the client's request, is at fault: the provider
# is overloaded or down (429, 5xx, Anthropic's 529), or its key or model is wrong here.
RETRYABLE_STATUSES = frozenset({401, 403, 404, 429})


class Target(Protocol):
    """What the router needs of a target (the catalog's `TargetRecord` has these)."""

    @property
    def id(self) -> int: ...

    @property
    def priority(self) -> int: ...

    @property
    def weight(self) -> int: ...


T = TypeVar("T", bound=Target)


@dataclass(frozen=True)
class RouteOptions:
    attempts: int = 3
    time_budget_s: float = 120.0
    cooldown_failures: int = 3
    cooldown_window_s: float = 60.0
    cooldown_s: float = 30.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RouteOptions:
        """From the catalog's options (`app/services/options.py`); a missing one is its default."""
        default = cls()
        return cls(
            attempts=int(options.get("route_attempts", default.attempts)),
            time_budget_s=float(options.get("route_time_budget_s", default.time_budget_s)),
            cooldown_failures=int(options.get("cooldown_failures", default.cooldown_failures)),
            cooldown_window_s=float(options.get("cooldown_window_s",
                                                default.cooldown_window_s)),
            cooldown_s=float(options.get("cooldown_s", default.cooldown_s)),
        )


@dataclass
class Health:
    """One target's state. `cooling_until` stays set while half-open (the probe's target
    has not reported yet); `probe_since` is when a request was given the probe."""

    failures: deque[float] = field(default_factory=deque)
    cooling_until: float | None = None
    half_open: bool = False
    probe_since: float = 0.0
    last_error: str | None = None
    last_status: int | None = None


class Router:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None,
                 options: RouteOptions | None = None) -> None:
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        # Replaced whole when the admin changes a setting (an atomic assignment).
        self.options = options if options is not None else RouteOptions()
        self._health: dict[int, Health] = {}
        self._lock = threading.Lock()

    def order(self, targets: Sequence[T], usable: Callable[[T], bool] | None = None) -> list[T]:
        """The attempt order (at most `options.attempts` targets) among `targets` (the
        endpoint's enabled ones); `usable` leaves out those this request cannot use."""
        if len(targets) == 1:
            only = targets[0]
            if usable is not None and not usable(only):
                return []
            health = self._health.get(only.id)
            if health is None or health.cooling_until is None:
                return [only]
        with self._lock:
            return self._order(targets, usable, self._clock())

    def succeeded(self, target_id: int) -> None:
        health = self._health.get(target_id)
        if health is None or (not health.failures and health.cooling_until is None):
            return  # healthy already: nothing to change, no lock on the common path
        with self._lock:
            health.failures.clear()
            health.cooling_until = None
            health.half_open = False

    def failed(self, target_id: int, status: int | None, error: str | None,
               retry_after_s: float | None = None) -> None:
        """An attempt on the target failed in a way that is the target's fault."""
        options = self.options
        with self._lock:
            now = self._clock()
            health = self._health.setdefault(target_id, Health())
            health.last_error, health.last_status = error, status
            if retry_after_s is not None and retry_after_s > 0:
                self._cool(health, now + min(retry_after_s, RETRY_AFTER_CAP_S))
            elif health.cooling_until is not None:
                # A failed probe (or an attempt made while cooling): cool down again at once.
                self._cool(health, now + options.cooldown_s)
            else:
                health.failures.append(now)
                _forget_old(health.failures, now - options.cooldown_window_s)
                if len(health.failures) >= options.cooldown_failures:
                    self._cool(health, now + options.cooldown_s)

    def release(self, target_id: int) -> None:
        """The request given this target's half-open probe ended without trying it (an
        earlier target answered): the next request gets the probe."""
        with self._lock:
            health = self._health.get(target_id)
            if health is not None:
                health.half_open = False

    def health(self, target_id: int) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            health = self._health.get(target_id) or Health()
            _forget_old(health.failures, now - self.options.cooldown_window_s)
            until = health.cooling_until
            if until is None:
                state, cooling_for = "healthy", None
            elif until > now:
                # At most the longest cool-down: (now + 3600) - now may be 3600.000000000001.
                longest = max(RETRY_AFTER_CAP_S, self.options.cooldown_s)
                state, cooling_for = "cooling", min(until - now, longest)
            else:
                state, cooling_for = "half_open", None
            return {"state": state, "cooling_for_s": cooling_for,
                    "recent_failures": len(health.failures),
                    "last_error": health.last_error, "last_status": health.last_status}

    # --- under the lock ----------------------------------------------------------------

    def _order(self, targets: Sequence[T], usable: Callable[[T], bool] | None,
               now: float) -> list[T]:
        ready: list[T] = []
        waiting: list[tuple[float, T]] = []
        for target in sorted(targets, key=lambda t: (t.priority, t.id)):
            if usable is not None and not usable(target):
                continue
            ends = self._unavailable_until(target.id, now)
            if ends is None:
                ready.append(target)
            else:
                waiting.append((ends, target))
        if not ready:
            return [min(waiting, key=lambda pair: pair[0])[1]] if waiting else []
        chosen = _weighted_by_priority(ready, self._rng)[:max(1, self.options.attempts)]
        for target in chosen:
            health = self._health.get(target.id)
            if health is not None and health.cooling_until is not None:
                health.half_open, health.probe_since = True, now  # this request's probe
        return chosen

    def _unavailable_until(self, target_id: int, now: float) -> float | None:
        """None when the target may be tried (healthy, or its probe is free), else when
        its cool-down ends (ended already for a probe in flight)."""
        health = self._health.get(target_id)
        if health is None or health.cooling_until is None:
            return None
        if health.cooling_until > now:
            return health.cooling_until
        # A probe whose request has made all its attempts (time budget spent) without
        # reporting this target never tried it: the probe is free again.
        if health.half_open and now - health.probe_since < self.options.time_budget_s:
            return health.cooling_until
        return None

    @staticmethod
    def _cool(health: Health, until: float) -> None:
        # The later end wins: a long Retry-After is not cut short by a later failure.
        # (A half-open target's cool-down has ended, so a failed probe always sets it.)
        health.cooling_until = until if health.cooling_until is None else max(
            health.cooling_until, until)
        health.half_open = False
        health.failures.clear()


def _forget_old(failures: deque[float], before: float) -> None:
    while failures and failures[0] <= before:
        failures.popleft()


def _weighted_by_priority(ready: list[T], rng: random.Random) -> list[T]:
    """`ready` is sorted by priority: shuffle each priority's run by weight."""
    result: list[T] = []
    start = 0
    while start < len(ready):
        end = start
        while end < len(ready) and ready[end].priority == ready[start].priority:
            end += 1
        result.extend(_weighted_shuffle(ready[start:end], rng))
        start = end
    return result


def _weighted_shuffle(group: list[T], rng: random.Random) -> list[T]:
    """Weighted sampling without replacement: each pick in proportion to its weight among
    those left."""
    if len(group) == 1:
        return group
    left, picked = list(group), []
    total = sum(max(1, t.weight) for t in left)
    while left:
        point = rng.random() * total
        index = 0
        while index < len(left) - 1:
            point -= max(1, left[index].weight)
            if point < 0:
                break
            index += 1
        target = left.pop(index)
        total -= max(1, target.weight)
        picked.append(target)
    return picked


def retryable(status: int | None, timeout: bool) -> bool:
    """Whether a failed attempt goes on to the next target: a connection failure (status
    None) or a timeout before the answer's first byte, 429, 5xx (529 among them), and
    401/403/404 (the provider's key or model is wrong, not the client's request). Not 400,
    413, 422 or any other client fault."""
    if timeout or status is None:
        return True
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A `Retry-After` header as seconds from now: delta-seconds or an HTTP date (`now`:
    the wall clock, time.time() by default); at most an hour; None when absent or junk."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.replace(".", "", 1).isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" in an HTTP date means UTC
            when = when.replace(tzinfo=dt.UTC)
        seconds = max(0.0, when.timestamp() - (time.time() if now is None else now))
    # A run of digits too long for a float is +inf: a very long wait, so the cap (not junk).
    return min(seconds, RETRY_AFTER_CAP_S)
