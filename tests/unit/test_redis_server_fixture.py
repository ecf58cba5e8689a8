"""The test's own redis-server (tests/fakes/redis_server.py) stops and starts again, and
the server's client reports the gap as one of REDIS_ERRORS."""

import pytest

from server.shared.redis_conn import REDIS_ERRORS, connect


def test_own_redis_stops_and_starts(redis_server):
    client = connect(redis_server.url)
    assert client.ping()
    redis_server.stop()
    with pytest.raises(REDIS_ERRORS):
        client.ping()
    redis_server.start()
    assert client.ping()
