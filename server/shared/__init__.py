"""State that several server processes must share to enforce one set of limits.

One process keeps it in memory; workers and instances (MODELPROXY_REDIS_URL) keep it in
Redis. The gateway and the admin API receive it from the factory; they do not build it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.settings import Settings
from server.client_api import month_usage
from server.client_api.limit_store import LimitStore, MemoryLimits
from server.client_api.limits import QuotaBook
from server.client_api.quota_terms import ENDPOINT, TOKEN
from server.shared.redis_status import RedisStatus

if TYPE_CHECKING:
    import redis

    from server.admin_api.guard import LoginGuard
    from server.shared.notices import CatalogNotices

# redis (and the modules that use it) are imported only where MODELPROXY_REDIS_URL is set:
# the client costs ~8 MB of memory in every server process.

__all__ = ["SharedState", "catalog_notices", "login_guard", "shared_state"]


@dataclass
class SharedState:
    """What the processes of one deployment share: the limits (rate windows, quota and
    money holds), and Redis and whether it answers where there is one."""

    limits: LimitStore
    redis: redis.Redis | None = None
    redis_status: RedisStatus | None = None

    def start(self) -> None:
        self.limits.start()

    def ping(self) -> dict[str, str]:
        """For /api/health: Redis asked now (empty without Redis)."""
        if self.redis is None or self.redis_status is None:
            return {}
        from server.shared.redis_conn import REDIS_ERRORS

        try:
            self.redis.ping()
        except REDIS_ERRORS as exc:
            self.redis_status.failed(exc)
        else:
            self.redis_status.answered()
        return self.redis_status.report()

    def close(self) -> None:
        self.limits.stop()
        if self.redis is not None:
            self.redis.close()


def shared_state(settings: Settings, clock: Callable[[], float] | None = None) -> SharedState:
    """Redis when `settings.redis_url` is set, else this process's memory (on a shared
    database the quota book then re-reads the rollups: PostgreSQL, not a SQLite file)."""
    if not settings.redis_url:
        book = QuotaBook(month_usage.of_token, reread=not settings.is_sqlite,
                         endpoint_usage=month_usage.of_endpoint)
        return SharedState(MemoryLimits(book))
    from server.shared.redis_conn import connect
    from server.shared.redis_limits import RedisLimits

    client = connect(settings.redis_url)
    status = RedisStatus()
    loaders = {TOKEN: month_usage.of_token, ENDPOINT: month_usage.of_endpoint}
    return SharedState(RedisLimits(client, loaders, status, clock=clock), client, status)


def login_guard(redis_url: str | None) -> LoginGuard:
    """The login guard a server uses: in memory alone, or in Redis when `redis_url` is set."""
    if not redis_url:
        from server.admin_api.guard import LoginGuard

        return LoginGuard()
    from server.shared import logins

    return logins.login_guard(redis_url)


def catalog_notices(redis_url: str | None) -> CatalogNotices | None:
    """The catalog notices a server uses: none without Redis (polling alone)."""
    if not redis_url:
        return None
    from server.shared import notices

    return notices.catalog_notices(redis_url)
