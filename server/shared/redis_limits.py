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

import dataclasses
import datetime as dt
import functools
import itertools
import logging
import os
import queue
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from time import monotonic

import redis
from redis.exceptions import NoScriptError

from app.db import DATABASE_ERRORS
from app.services.usage_money import month_start
from server.client_api import quota_terms as terms
from server.client_api.holds import Asked
from server.client_api.limit_store import Admission, LimitsUnavailable
from server.client_api.limits import RowWriter, UsageLoader
from server.client_api.quota_terms import Hold, Key, QuotaRefused, QuotaUnknown, Spend, Used
from server.client_api.rate import RateDecision
from server.shared import limit_scripts
from server.shared.redis_calls import Connections, Script
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
SETTLE_BATCH = 500  # settles sent in one pipelined call
# A month read from the database serves the requests that waited for that read (one
# read for a burst); a later one reads it again. Forgotten after SEED_KEPT_S.
SEED_KEPT_S = 5.0
MONTH_KEPT_DAYS = 2  # a month's keys outlive it by this: the last requests settle into it
NONE = -1  # "no limit", "no least", "not read" in the scripts' arguments

# What else Redis may answer when it cannot take a write (a replica, out of memory).
FAILURES = (*REDIS_ERRORS, redis.ReadOnlyError, redis.OutOfMemoryError)


@dataclass(frozen=True)
class _Settling:
    """One request's settle: its ref, its months' keys, (requests, tokens, nanos); `again`
    once it may have run already (kept after a call whose reply did not come)."""

    ref: str
    keys: list[str]
    args: list[int]
    months: list[Key]
    again: bool = False

    def script_args(self, again: bool = False) -> list[object]:
        return [self.ref, *self.args, int(again or self.again)]


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
        self._conns = conns = Connections(client)
        self._admit = Script(client, limit_scripts.ADMIT, conns)
        self._settle = Script(client, limit_scripts.SETTLE, conns)
        self._renew = Script(client, limit_scripts.RENEW, conns)
        self._tag = secrets.token_hex(4)  # this process's holds' refs
        self._refs = itertools.count(1)
        self._live: dict[str, list[str]] = {}  # ref -> its leases keys, while it is held
        self._pending: list[_Settling] = []
        self._queue: queue.SimpleQueue[_Settling | None] = queue.SimpleQueue()
        self._settler: threading.Thread | None = None
        self._report: Callable[[list[Spend]], None] | None = None
        self._reading: dict[Key, threading.Lock] = {}
        self._seeds: dict[Key, tuple[float, Used]] = {}  # read just now: (when, what)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # --- admit ------------------------------------------------------------------------

    def admit(self, token_id: int, rpm: int | None, asked: Sequence[Asked]) -> Admission:
        if self.status.away():
            raise LimitsUnavailable(UNAVAILABLE)
        # Unique across processes, forked ones too (workers made after this was built):
        # a ref is also the request's member in its token's window.
        ref = f"{self._tag}.{os.getpid()}:{next(self._refs)}"
        month = month_start()
        keys = [f"mpx:rpm:{token_id}"]
        for a in asked:
            keys += _month_keys((a.subject, a.subject_id, month))
        seeds: dict[int, Used] = {}
        for _ in range(3):  # a month may expire between two tries: read it then too
            args = self._admit_args(ref, rpm, asked, month, seeds)
            reply = self._call(self._admit, keys, [*args, 0], again=[*args, 1])
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
        is what the next request anywhere reads). Started (`start`), the settle is queued
        for the settler, off the answer's path: until it lands the request's hold still
        counts, which is never less than what it used while upstream honours max_tokens
        (so a limit is not passed meanwhile; the spends go to `report_spent`). If Redis
        cannot take it, it is kept and retried by the renewer, its holds renewed."""
        held = [h for h in holds if h.month is not None and h.ref is not None]
        if not held:
            return False, []
        settling = _Settling(held[0].ref, [k for h in held  # type: ignore[arg-type]
                                           for k in _month_keys(h.month)],  # type: ignore[arg-type]
                             [int(succeeded), used.tokens, used.nanos],
                             [h.month for h in held])  # type: ignore[misc]
        if self._settler is not None:
            self._queue.put(settling)
            return False, []
        return False, self._settle_now([settling])

    def written(self, rows: Iterable[object]) -> None:
        """Nothing to do: Redis counted the row when it settled."""

    def report_spent(self, report: Callable[[list[Spend]], None]) -> None:
        """Where settles made in the background report what each month spent."""
        self._report = report

    def _settle_now(self, batch: list[_Settling]) -> list[Spend]:
        """The batch's settles in one call (pipelined), or kept to retry."""
        try:
            if len(batch) == 1:
                one = batch[0]
                replies = [self._settle(keys=one.keys, args=one.script_args(),
                                        again=one.script_args(again=True))]
            else:
                replies = self._settle_pipelined(batch)
        except FAILURES as exc:
            self.status.failed(exc)
            for one in batch:
                self._keep(one)
            return []
        self.status.answered()
        spends: list[Spend] = []
        for one, reply in zip(batch, replies, strict=True):
            self._live.pop(one.ref, None)
            spends += [Spend(month, int(before), int(after))
                       for month, (before, after) in zip(one.months, reply, strict=True)
                       if int(before) >= 0]
        return spends

    def _settle_pipelined(self, batch: list[_Settling]) -> list:
        """The settles in one round trip; if Redis lost the script (it restarted), none of
        them ran: loaded again, and the batch sent once more."""
        for attempt in (1, 2):
            with self.client.pipeline(transaction=False) as pipe:
                for one in batch:
                    self._settle.queue(pipe, one.keys, one.script_args())
                try:
                    return pipe.execute()
                except NoScriptError:
                    if attempt == 2:
                        raise
                    self._settle.load()
        raise AssertionError("unreachable")

    def _keep(self, settling: _Settling) -> None:
        settling = dataclasses.replace(settling, again=True)  # Redis may have taken it
        with self._lock:
            if len(self._pending) >= PENDING_MAX:
                dropped = self._pending.pop(0)
                self._live.pop(dropped.ref, None)
                log.warning("more than %d settles wait for Redis: the oldest is dropped (its "
                            "usage is counted from the database when Redis starts over)",
                            PENDING_MAX)
            self._pending.append(settling)

    # --- the renewer and the settler --------------------------------------------------

    def start(self) -> None:
        """Renew live holds' leases and retry kept settles; settle in the background
        (greenlets under serve)."""
        self._renewer = threading.Thread(target=self._run, daemon=True, name="limit-leases")
        self._renewer.start()
        self._settler = threading.Thread(target=self._settle_queued, daemon=True,
                                         name="limit-settles")
        self._settler.start()

    def stop(self) -> None:
        self._stop.set()
        if self._settler is not None:
            self._queue.put(None)
            self._settler.join(timeout=5)
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        self.renew()  # the last kept settles, if Redis takes them
        self._conns.close()

    def _settle_queued(self) -> None:
        while (first := self._queue.get()) is not None:
            batch, last = [first], False
            while len(batch) < SETTLE_BATCH and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    last = True
                    break
                batch.append(more)
            self._reported(self._settle_now(batch))
            if last:
                return

    def _reported(self, spends: list[Spend]) -> None:
        if spends and self._report is not None:
            self._report(spends)

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
                batch, self._pending = self._pending[:SETTLE_BATCH], self._pending[SETTLE_BATCH:]
            self._reported(self._settle_now(batch))  # kept again if Redis does not take it
            if not self.status.up:
                raise LimitsUnavailable(UNAVAILABLE)

    # --- calls ------------------------------------------------------------------------

    def _call(self, script: Callable[..., object], keys: list[str], args: list[object],
              **again: list[object]):
        try:
            reply = script(keys=keys, args=args, **again)
        except FAILURES as exc:
            self.status.failed(exc)
            raise LimitsUnavailable(UNAVAILABLE) from exc
        self.status.answered()
        return reply

    def _now(self) -> str:
        return "" if self._clock is None else f"{self._clock():.6f}"


@functools.lru_cache(maxsize=4096)  # a few subjects' months, built once, not per request
def _month_keys(key: Key) -> tuple[str, str]:
    """A subject's month's hash and its leases' sorted set (a tuple: the cache shares it)."""
    subject, subject_id, month = key
    name = f"{subject}:{subject_id}:{month.isoformat()}"
    return f"mpx:m:{name}", f"mpx:l:{name}"


@functools.lru_cache(maxsize=16)
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
