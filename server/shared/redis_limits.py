"""Rate windows and quota and money holds kept in Redis, for every process that shares it:
the same decisions as client_api.limit_store.MemoryLimits, across workers and instances.

A request's rate hit and all its holds are one script call (limit_scripts.ADMIT); its
settle is a second (SETTLE). A subject's month starts from the database's rollups, read
once when Redis does not have it and set only if still missing; from then on Redis counts
what every process settles and holds. Each hold has a lease (LEASE_S), renewed every
RENEW_S by a background thread while its request lives, so a process killed with holds
gives them back within LEASE_S, and a stream of any length keeps its hold.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from time import monotonic

import redis

from app.db import DATABASE_ERRORS
from app.services.usage_money import month_start
from server.client_api import quota_terms as terms
from server.client_api.holds import Asked
from server.client_api.limit_store import Admission, LimitsUnavailable
from server.client_api.limits import RowWriter, UsageLoader
from server.client_api.quota_terms import Hold, Key, QuotaRefused, QuotaUnknown, Spend, Used
from server.client_api.rate import RateDecision
from server.shared import limit_scripts
from server.shared.redis_conn import REDIS_ERRORS
from server.shared.redis_status import UNAVAILABLE, RedisStatus

log = logging.getLogger(__name__)

# A hold's lease: renewed every RENEW_S while its request lives, so only a dead process's
# holds (or those of one cut off from Redis for longer) run out. Short, so a killed
# instance's holds do not keep refusing requests for long; several renewals long, so one
# slow or failed renewal does not release a live request's hold.
LEASE_S = 10.0
RENEW_S = 2.0
# Settles that Redis could not take, kept to retry (their usage counts once it answers).
PENDING_MAX = 10_000
# A month read from the database serves the requests that waited for that read (one
# read for a burst); a later one reads it again. Forgotten after SEED_KEPT_S.
SEED_KEPT_S = 5.0
MONTH_KEPT_DAYS = 2  # a month's keys outlive it by this: the last requests settle into it
NONE = -1  # "no limit", "no least", "not read" in the scripts' arguments

# What else Redis may answer when it cannot take a write (a replica, out of memory).
FAILURES = (*REDIS_ERRORS, redis.ReadOnlyError, redis.OutOfMemoryError)


class RedisLimits:
    """limit_store.LimitStore in Redis."""

    def __init__(self, client: redis.Redis, loaders: dict[str, UsageLoader],
                 status: RedisStatus, clock: Callable[[], float] | None = None,
                 lease_s: float = LEASE_S, renew_s: float = RENEW_S) -> None:
        self.client = client
        self.status = status
        self._loaders = loaders
        self._clock = clock  # None: Redis TIME, one clock for every process
        self._lease_s, self._renew_s = lease_s, renew_s
        self._admit = client.register_script(limit_scripts.ADMIT)
        self._settle = client.register_script(limit_scripts.SETTLE)
        self._renew = client.register_script(limit_scripts.RENEW)
        self._tag = secrets.token_hex(4)  # this process's holds' refs
        self._refs = itertools.count(1)
        self._live: dict[str, list[str]] = {}  # ref -> its leases keys, while it is held
        self._pending: list[tuple[str, list[str], list[int]]] = []
        self._reading: dict[Key, threading.Lock] = {}
        self._seeds: dict[Key, tuple[float, Used]] = {}  # read just now: (when, what)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # --- admit ------------------------------------------------------------------------

    def admit(self, token_id: int, rpm: int | None, asked: Sequence[Asked]) -> Admission:
        if self.status.away():
            raise LimitsUnavailable(UNAVAILABLE)
        ref = f"{self._tag}:{next(self._refs)}"
        month = month_start()
        keys = [f"mpx:rpm:{token_id}"]
        for a in asked:
            keys += _month_keys((a.subject, a.subject_id, month))
        seeds: dict[int, Used] = {}
        for _ in range(3):  # a month may expire between two tries: read it then too
            reply = self._call(self._admit, keys, self._admit_args(ref, rpm, asked, month,
                                                                     seeds))
            if reply[0] != b"missing":
                break
            for i in reply[1]:
                seeds[i - 1] = self._read(asked[i - 1], month)
        else:
            raise LimitsUnavailable(UNAVAILABLE)
        return self._admission(reply, ref, rpm, asked, month)

    def _admit_args(self, ref: str, rpm: int | None, asked: Sequence[Asked], month: dt.date,
                    seeds: dict[int, Used]) -> list[object]:
        args: list[object] = [self._now(), self._lease_s, _n(rpm), ref, _month_expiry(month)]
        for i, a in enumerate(asked):
            seed = seeds.get(i, Used(NONE, NONE, NONE))
            args += [_n(a.limits.requests), _n(a.limits.tokens), _n(a.limits.nanos),
                     a.ask.tokens, _n(a.ask.least), a.ask.nanos, _n(a.ask.least_nanos),
                     *seed]
        return args

    def _read(self, a: Asked, month: dt.date) -> Used:
        """A subject's month from the database's rollups, to start Redis's count from:
        read once by this process for all its requests that found the month missing
        together (a burst's first requests would each read it otherwise)."""
        key: Key = (a.subject, a.subject_id, month)
        asked_at = monotonic()
        with self._lock:
            reading = self._reading.setdefault(key, threading.Lock())
        with reading:
            done = self._seeds.get(key)
            if done is not None and done[0] >= asked_at:  # read while this one waited
                return done[1]
            try:
                used = Used(*self._loaders[a.subject](a.subject_id, month))
            except DATABASE_ERRORS as exc:
                log.warning("could not read a %s's monthly usage (%s)", a.subject, exc)
                raise QuotaUnknown(f"this {a.subject}'s monthly usage could not be read "
                                   "(the database is busy or away); retry shortly") from exc
            with self._lock:
                self._seeds = {k: v for k, v in self._seeds.items()
                               if v[0] > monotonic() - SEED_KEPT_S}
                self._seeds[key] = (monotonic(), used)
                self._reading.pop(key, None)
            return used

    def _admission(self, reply: list, ref: str, rpm: int | None, asked: Sequence[Asked],
                   month: dt.date) -> Admission:
        kind, rate = reply[0], _rate(reply[1], rpm)
        if kind == b"rate":
            return Admission(rate, [])
        if kind == b"refused":
            index = int(reply[2]) - 1
            return Admission(rate, [], index, _refusal(asked[index], reply[3].decode(),
                                                       int(reply[4]), int(reply[5])))
        holds = [Hold(int(tokens), bool(short), (a.subject, a.subject_id, month),
                      int(nanos), bool(nanos_short), ref)
                 for a, (tokens, short, nanos, nanos_short) in zip(asked, reply[2],
                                                                   strict=True)]
        if holds:
            self._live[ref] = [_month_keys(h.month)[1] for h in holds]  # type: ignore[arg-type]
        return Admission(rate, holds)

    # --- settle -----------------------------------------------------------------------

    def settle(self, holds: Sequence[Hold], succeeded: bool, used: Used,
               write: RowWriter | None = None,
               row: object | None = None) -> tuple[bool, list[Spend]]:
        """Settle in Redis (the row goes to the batched writer: Redis, not the database,
        is what the next request anywhere reads). If Redis cannot take it now, the settle
        is kept and retried by the renewer, its holds renewed meanwhile."""
        held = [h for h in holds if h.month is not None and h.ref is not None]
        if not held:
            return False, []
        ref = held[0].ref
        keys = [k for h in held for k in _month_keys(h.month)]  # type: ignore[arg-type]
        args = [int(succeeded), used.tokens, used.nanos]
        try:
            reply = self._call(self._settle, keys, [ref, *args])
        except LimitsUnavailable:
            self._keep(ref, keys, args)  # type: ignore[arg-type]
            return False, []
        self._live.pop(ref, None)  # type: ignore[arg-type]
        return False, [Spend(h.month, int(before), int(after))  # type: ignore[arg-type]
                       for h, (before, after) in zip(held, reply, strict=True)
                       if int(before) >= 0]

    def written(self, rows: Iterable[object]) -> None:
        """Nothing to do: Redis counted the row when it settled."""

    def _keep(self, ref: str, keys: list[str], args: list[int]) -> None:
        with self._lock:
            if len(self._pending) >= PENDING_MAX:
                dropped, _, _ = self._pending.pop(0)
                self._live.pop(dropped, None)
                log.warning("more than %d settles wait for Redis: the oldest is dropped (its "
                            "usage is counted from the database when Redis starts over)",
                            PENDING_MAX)
            self._pending.append((ref, keys, args))

    # --- the renewer ------------------------------------------------------------------

    def start(self) -> None:
        """Renew live holds' leases and retry kept settles (a greenlet under serve)."""
        self._renewer = threading.Thread(target=self._run, daemon=True, name="limit-leases")
        self._renewer.start()

    def stop(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        self.renew()  # the last settles, if Redis takes them

    def _run(self) -> None:
        while not self._stop.wait(self._renew_s):
            self.renew()

    def renew(self) -> None:
        """One pass: retry kept settles, then renew every live hold's lease (one call)."""
        try:
            self._retry_pending()
            pairs = [(key, ref) for ref, keys in list(self._live.items()) for key in keys]
            if pairs:
                self._call(self._renew, [k for k, _ in pairs],
                           [self._now(), self._lease_s, *(r for _, r in pairs)])
            else:
                self._call(lambda **_: self.client.ping(), [], [])  # the recovery probe
        except LimitsUnavailable:
            pass  # said once by the status; the next pass tries again

    def _retry_pending(self) -> None:
        while self._pending:
            with self._lock:
                ref, keys, args = self._pending[0]
            self._call(self._settle, keys, [ref, *args])
            with self._lock:
                if self._pending and self._pending[0][0] == ref:
                    self._pending.pop(0)
            self._live.pop(ref, None)

    # --- calls ------------------------------------------------------------------------

    def _call(self, script: Callable[..., object], keys: list[str], args: list[object]):
        try:
            reply = script(keys=keys, args=args)
        except FAILURES as exc:
            self.status.failed(exc)
            raise LimitsUnavailable(UNAVAILABLE) from exc
        self.status.answered()
        return reply

    def _now(self) -> str:
        return "" if self._clock is None else f"{self._clock():.6f}"


def _month_keys(key: Key) -> list[str]:
    subject, subject_id, month = key
    name = f"{subject}:{subject_id}:{month.isoformat()}"
    return [f"mpx:m:{name}", f"mpx:l:{name}"]


def _month_expiry(month: dt.date) -> int:
    """When a month's keys go: MONTH_KEPT_DAYS after its end (unix seconds)."""
    following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    end = dt.datetime.combine(following, dt.time(), dt.UTC)
    return int((end + dt.timedelta(days=MONTH_KEPT_DAYS)).timestamp())


def _n(value: int | None) -> int:
    return NONE if value is None else value


def _rate(reply: list, rpm: int | None) -> RateDecision | None:
    if rpm is None or not reply:
        return None
    return RateDecision(bool(reply[0]), rpm, int(reply[1]), float(reply[2]))


def _refusal(a: Asked, why: str, left: int, least: int) -> QuotaRefused:
    """The same refusal, word for word, that the quota book gives (limits.QuotaBook)."""
    limits, ask, flexible = a.limits, a.ask, None if least < 0 else least
    if why == "requests":
        message, limit = f"monthly request quota of {limits.requests} reached", "requests"
    elif why == "tokens_reached":
        message, limit = f"monthly token quota of {limits.tokens} reached", "tokens"
    elif why == "tokens":
        message = terms.too_many_tokens(ask.tokens, left, limits.tokens or 0, flexible)
        limit = "tokens"
    elif why == "money_reached":
        message, limit = f"monthly budget of {terms.usd(limits.nanos or 0)} reached", "money"
    else:
        message = terms.too_costly(ask.nanos, left, limits.nanos or 0, flexible)
        limit = "money"
    return QuotaRefused(message, a.subject, a.subject_id, limit)
