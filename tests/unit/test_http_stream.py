"""HTTPStream (server/providers/http_stream.py) under gevent, as `modelproxy serve` runs it:
a stream's total time limit, and close() from another greenlet while a read is blocked.

gevent must patch the process before sockets are made, so each case runs in a child
Python that patches first and talks to a FakeUpstream in that same child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
from gevent import monkey
monkey.patch_all()
import json, time
import gevent
from server.providers import ProviderConfig, UpstreamError, UpstreamTimeout, adapter_for
from tests.fakes.upstream import FakeUpstream

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}

def adapter(base_url, timeout_s):
    return adapter_for(ProviderConfig(id=1, name="up", type="openai_compatible",
                                      base_url=base_url, timeout_s=timeout_s))

def drain(stream):
    events, started = [], time.monotonic()
    try:
        for event in stream:
            events.append(event)
        outcome = "ended"
    except UpstreamTimeout as exc:
        outcome = "timeout: " + exc.message
    except UpstreamError as exc:
        outcome = "error: " + exc.message
    return {"events": len(events), "outcome": outcome,
            "took_s": round(time.monotonic() - started, 2)}
"""


def run(script: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(script)],
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
    assert outcome["outcome"] == "timeout: provider up's stream ran past 1.5 s, the most " \
                                 "one stream may take"
    assert 10 < outcome["events"] < 400
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
    assert outcome["outcome"].startswith("error: ")
    assert outcome["took_s"] < 5
    assert outcome["aborted"], "the provider's connection was left open"
