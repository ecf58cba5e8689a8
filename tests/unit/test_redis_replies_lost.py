"""A limit call whose reply is lost after Redis ran it (the connection broke between the
two) is sent again, and counts once: its holds, its rate hit and its settle. Through a
relay that drops replies (tests/fakes/reply_dropper.py), in front of the test's own
redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from app.services.usage_money import month_start
from server.client_api.quota_terms import TOKEN, Limits, Used
from server.shared.redis_conn import connect
from server.shared.redis_limits import LEASE_S, RedisLimits
from server.shared.redis_status import RedisStatus
from tests.fakes.reply_dropper import ReplyDropper
from tests.unit.test_limit_store import Clock, Rollups, token


@pytest.fixture
def lossy(redis_server) -> Iterator[tuple[RedisLimits, ReplyDropper, Clock, redis.Redis]]:
    """A store whose every connection goes through a reply dropper; and a direct client."""
    dropper, rollups, clock = ReplyDropper(redis_server.port), Rollups(), Clock()
    store = RedisLimits(connect(dropper.url), {TOKEN: rollups.loader(TOKEN)}, RedisStatus(),
                        clock=clock)
    direct = connect(redis_server.url)
    # Both scripts loaded first: a NOSCRIPT reply means the call did not run
    other = store.admit(2, None, token(Limits(requests=9), token_id=2))
    store.settle(other.holds, True, Used())
    yield store, dropper, clock, direct
    store.stop()
    store.client.close()
    direct.close()
    dropper.close()


def month(direct: redis.Redis, token_id: int = 1) -> dict[str, str]:
    """The token's month as Redis keeps it (settled r, t, n; held hr, ht, ...; h:REF)."""
    raw = direct.hgetall(f"mpx:m:{TOKEN}:{token_id}:{month_start().isoformat()}")
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_an_admit_sent_again_holds_once_and_counts_once_in_the_window(lossy) -> None:
    store, dropper, _, direct = lossy
    limits = Limits(requests=2)
    store.admit(1, 5, token(limits))  # the month is in Redis from here on
    dropper.drop(1)
    again = store.admit(1, 5, token(limits))
    assert dropper.dropped == 1 and again.allowed
    assert again.rate.remaining == 3  # 2 of 5 in the window, not 3
    assert direct.zcard("mpx:rpm:1") == 2
    assert month(direct)["hr"] == "2"
    assert not store.admit(1, 5, token(limits)).allowed  # 2 held, as many as admitted


def test_a_settle_sent_again_counts_once(lossy) -> None:
    store, dropper, _, direct = lossy
    held = store.admit(1, None, token(Limits(requests=3))).holds
    dropper.drop(1)
    store.settle(held, True, Used(0, 5, 0))
    assert dropper.dropped == 1 and not store._pending
    settled = month(direct)
    assert (settled["r"], settled["t"], settled["hr"]) == ("1", "5", "0")
    assert not [field for field in settled if field.startswith("h:")]


def test_a_kept_settle_that_redis_had_taken_counts_once_when_retried(lossy) -> None:
    store, dropper, _, direct = lossy
    held = store.admit(1, None, token(Limits(requests=3))).holds
    dropper.drop(2)  # the settle and its second try both ran, neither reply came
    store.settle(held, True, Used(0, 5, 0))
    assert dropper.dropped == 2 and len(store._pending) == 1  # kept, to retry
    store.renew()  # the retry, marked as possibly done
    assert not store._pending and store.status.up
    assert (month(direct)["r"], month(direct)["t"]) == ("1", "5")


def test_a_settle_after_its_lease_ended_still_counts(lossy) -> None:
    store, _, clock, direct = lossy
    limits = Limits(requests=2)
    late = store.admit(1, None, token(limits)).holds
    store._live.clear()  # its process was cut off: the lease was not renewed
    clock.now += LEASE_S + 1
    assert store.admit(1, None, token(limits)).allowed  # reaped: its hold given back
    ref = late[0].ref
    assert month(direct)[f"h:{ref}"] == "reaped"
    store.settle(late, True, Used(0, 7, 0))  # the request ended after all: it counts
    settled = month(direct)
    assert (settled["r"], settled["t"], settled["hr"]) == ("1", "7", "1")
    assert f"h:{ref}" not in settled
    assert not store.admit(1, None, token(limits)).allowed  # 1 used + 1 held
