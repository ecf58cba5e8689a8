"""The one way the server opens Redis: short timeouts, so that a Redis that went away
turns into a clear error within a second instead of a request hanging on it."""

from __future__ import annotations

import redis

CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 1.0

# What a call to Redis raises when Redis cannot answer (down, restarting, too slow).
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError,
                                                 redis.BusyLoadingError)


def connect(url: str) -> redis.Redis:
    """A client for `url` (connections are made on first use, from a pool)."""
    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                socket_timeout=COMMAND_TIMEOUT_S, health_check_interval=10,
                                decode_responses=False)
