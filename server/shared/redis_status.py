"""Whether Redis answers, and since when: what `/api/health` reports and what each call to
Redis tells. A change is said once in the log, not by each request (a log flood)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from app.models import utcnow

log = logging.getLogger(__name__)

# After Redis failed a call, how long requests are refused at once without asking it again
# (a Redis that does not answer at all costs each request the 1 s timeout otherwise); the
# renewer and the health check keep asking, and the first answer ends it.
AWAY_S = 1.0

UNAVAILABLE = ("limits cannot be checked right now: the shared limit store (Redis) does "
               "not answer; retry shortly")


class RedisStatus:
    """Up or down since a time; `failed` and `answered` are told by every caller."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.up = True  # until a call says otherwise
        self.since: dt.datetime = utcnow()
        self._down_at = 0.0
        self._away_until = 0.0

    def answered(self) -> None:
        if self.up:
            return
        with self._lock:
            if self.up:
                return
            self.up, self.since = True, utcnow()
            log.warning("Redis answers again after %.1f s: limits are decided again",
                        self._clock() - self._down_at)

    def failed(self, why: BaseException) -> None:
        now = self._clock()
        with self._lock:
            self._away_until = now + AWAY_S
            if not self.up:
                return
            self.up, self.since, self._down_at = False, utcnow(), now
        log.error("Redis does not answer (%s): requests that need a limit decision get 503 "
                  "limits_unavailable until it does", why)

    def away(self) -> bool:
        """Whether to refuse at once, without asking Redis (within AWAY_S of a failure)."""
        return not self.up and self._clock() < self._away_until

    def report(self) -> dict[str, str]:
        """For /api/health: `redis` ok or error, and since when (UTC, ISO 8601)."""
        return {"redis": "ok" if self.up else "error",
                "redis_since": self.since.replace(microsecond=0).isoformat() + "Z"}
