"""HTTPStream (server/providers/http_stream.py) under gevent, as `modelproxy serve` runs it:
a stream's total time limit, close() from another greenlet while a read is blocked, and
what becomes of the connection when a stream is closed at its [DONE].

gevent must patch the process before sockets are made, so each case runs in a child
Python that patches first and talks to a FakeUpstream in that same child (one case runs
with plain threads, unpatched).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PATCH = """
from gevent import monkey
monkey.patch_all()
"""
PRELUDE = """
import json, threading, time
import gevent
from server.providers import ProviderConfig, UpstreamError, UpstreamTimeout, adapter_for
from tests.fakes.upstream import FakeUpstream

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}

def adapter(base_url, timeout_s):
    return adapter_for(ProviderConfig(id=1, name="up", type="openai_compatible",
                                      base_url=base_url, timeout_s=timeout_s))

def drain(stream):
    events = []
    try:
        for event in stream:
            events.append(event)
        outcome = "ended"
    except UpstreamTimeout as exc:
        outcome = "timeout: " + exc.message
    except UpstreamError as exc:
        outcome = "error: " + exc.message
    last = events[-1].decode()[:300] if events else ""
    return {"events": len(events), "outcome": outcome, "last": last}

def until_done(stream):
    for event in stream:
        if event == b"data: [DONE]\\n\\n":
            return

def pooled(up):  # connections back in the provider's pool, ready for the next call
    return sum(conn is not None and conn.sock is not None
               for conn in up.transport._pool.pool.queue)
"""


def run(script: str, patched: bool = True) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = (PATCH if patched else "") + PRELUDE + textwrap.dedent(script)
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True, timeout=30, env=env, cwd=ROOT,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_lively_stream_still_ends_at_the_total_limit() -> None:
    """An event every 50 ms keeps the 1 s idle limit happy; the 1.5 s total ends it."""
    outcome = run("""
        with FakeUpstream(stream_chunks=400) as fake:
            fake.stream_delay(0.05)
            up = adapter(fake.base_url, timeout_s=1)
            up.max_stream_s = 1.5
            result = drain(up.chat_stream(BODY, "req-1"))
            result["aborted"] = fake.wait_until(lambda f: f.streams_aborted == 1, timeout=3)
        print(json.dumps(result))
    """)
    # the total limit ended it, not the idle one: events kept coming until then
    assert outcome["outcome"] == "timeout: provider up's stream ran past 1.5 s, the most " \
                                 "one stream may take"
    assert outcome["events"] >= 1 and outcome["last"].startswith('data: {"id"')
    assert outcome["aborted"], "the provider's connection was left open"


def test_close_from_another_greenlet_wakes_a_blocked_read_and_closes_upstream() -> None:
    """The reader waits on a silent provider (60 s timeout); another greenlet closes the
    stream, as the client watcher does when a client leaves: the read ends at once (no
    "reentrant call inside BufferedReader") and the provider sees its connection closed."""
    outcome = run("""
        with FakeUpstream() as fake:
            stream = adapter(fake.fault_url("stall"), timeout_s=60).chat_stream(BODY, "r")
            gevent.spawn_later(0.3, stream.close)
            result = drain(stream)
            result["aborted"] = fake.wait_until(lambda f: f.streams_aborted == 1, timeout=3)
        print(json.dumps(result))
    """)
    assert outcome["events"] == 1  # the role chunk, before the silence
    # Woken by the close, not by the provider's 60 s timeout (nor "reentrant call inside
    # BufferedReader", which left the read waiting for it: past this run's 30 s limit).
    assert outcome["outcome"] == "error: the stream was closed"
    assert outcome["aborted"], "the provider's connection was left open"


@pytest.mark.parametrize("patched", [True, False], ids=["greenlets", "threads"])
def test_a_stream_closed_while_it_reads_is_no_end_of_the_stream(patched: bool) -> None:
    """An unframed answer (its end is the connection's close) stops inside an event; the
    read is woken by a close from another greenlet (or thread, where the shut socket reads
    as b"", as at the answer's end). That is not the stream's end: the half event is not
    made one, the connection is not pooled."""
    outcome = run("""
        with FakeUpstream() as fake:
            up = adapter(fake.fault_url("half_event"), timeout_s=60)
            stream = up.chat_stream(BODY, "r")
            threading.Timer(0.3, stream.close).start()
            result = drain(stream)
            result["pooled"] = pooled(up)
            result["aborted"] = fake.wait_until(lambda f: f.streams_aborted == 1, timeout=3)
        print(json.dumps(result))
    """, patched)
    assert outcome["outcome"] == "error: the stream was closed"
    assert outcome["events"] == 1 and '"role"' in outcome["last"]  # the half one: not sent
    assert outcome["pooled"] == 0
    assert outcome["aborted"], "the provider's connection was left open"


def test_a_stream_closed_at_done_keeps_its_connection_only_if_its_end_has_come() -> None:
    """The relay closes a stream at its [DONE]. Where the answer's end followed [DONE] (as
    it does), the connection goes back to the pool and serves the next stream; where the
    provider holds on after it (after_done), the connection is closed, not waited on."""
    outcome = run("""
        with FakeUpstream() as fake:
            up = adapter(fake.base_url, timeout_s=60)
            for _ in range(3):
                stream = up.chat_stream(BODY, "r")
                until_done(stream)
                stream.close()
            result = {"pooled": pooled(up), "connections": fake.connections_opened,
                      "completed": fake.streams_completed}
            held = adapter(fake.fault_url("after_done", 60), timeout_s=60)
            stream = held.chat_stream(BODY, "r")
            until_done(stream)
            stream.close()
            result["held_pooled"] = pooled(held)
            result["aborted"] = fake.wait_until(lambda f: f.streams_aborted == 1, timeout=3)
        print(json.dumps(result))
    """)
    assert (outcome["pooled"], outcome["connections"], outcome["completed"]) == (1, 1, 3)
    assert outcome["held_pooled"] == 0
    assert outcome["aborted"], "the provider's connection was left open"
