"""What a broken provider costs the proxy: a real `modelproxy serve` in front of the fault
modes of the fake upstream (tests/fakes/faults.py); prints one JSON object.

    PYTHONPATH=$PWD .venv/bin/python tests/bench/faults.py

- `huge_event`, `big_event`: `/api/health` probed every 20 ms while one stream carries a
  20 MB event (past the 16 MiB cap) or a 12 MB one (under it, relayed whole) with no
  blank line until its end; the slowest probe and how long the stream took.
- `huge_answers_50mb`, `huge_answers_100mb`: the server's resident memory at its highest
  (sampled every 10 ms) above where it was, while six whole answers of 50 MB (under the
  64 MiB cap) or 100 MB (past it) are asked for at once, and their statuses.
- `drip`: a stream dripping a byte every 0.2 s from a provider with a 2 s timeout: how long
  the proxy relays it, and how it ends.
- `stall`: a stream whose provider goes silent (10 s timeout); the client leaves: how long
  until the provider's connection is closed.

The server runs from the current directory (`python -m app.main`): to measure older code,
run this from a checkout of it with PYTHONPATH naming this one (for the fake and seeding).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from tests.bench.procs import rss_mb
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import Appliance, chat_body

MB = 1_000_000


def serve(data_dir: Path, fake: FakeUpstream) -> tuple[Appliance, str]:
    app = Appliance(data_dir)
    app.provider("huge-event", base_url=fake.fault_url("huge_event", 20 * MB))
    app.provider("big-event", base_url=fake.fault_url("huge_event", 12 * MB))
    app.provider("huge-answer", base_url=fake.fault_url("huge_answer", 50 * MB))
    app.provider("huger-answer", base_url=fake.fault_url("huge_answer", 100 * MB))
    app.provider("drip", base_url=fake.fault_url("drip", 0.2), timeout_s=2)
    app.provider("stall", base_url=fake.fault_url("stall"), timeout_s=10)
    for name in ("huge-event", "big-event", "huge-answer", "huger-answer", "drip", "stall"):
        app.endpoint(name, f"/api/{name}", name)
    token = app.token("bench").plaintext
    app.serve()
    return app, token


def huge_event(url: str, headers: dict[str, str], path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def stream() -> None:
        started = time.monotonic()
        response = requests.post(url + path, json=chat_body(stream=True),
                                 headers=headers, timeout=300)
        result.update(stream_s=round(time.monotonic() - started, 2),
                      status=response.status_code, bytes=len(response.content),
                      ends_with=response.content[-80:].decode(errors="replace"))

    thread = threading.Thread(target=stream)
    thread.start()
    slowest = 0.0
    while thread.is_alive():
        started = time.monotonic()
        requests.get(url + "/api/health", timeout=300)
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.02)
    thread.join()
    return {"slowest_health_ms": round(slowest * 1000, 1), **result}


def huge_answers(url: str, headers: dict[str, str], pid: int, path: str, count: int = 6
                 ) -> dict[str, Any]:
    statuses: list[int] = []

    def ask() -> None:
        response = requests.post(url + path, json=chat_body(), headers=headers, timeout=300)
        statuses.append(response.status_code)

    before, _ = rss_mb(pid)
    highest = before
    started = time.monotonic()
    threads = [threading.Thread(target=ask) for _ in range(count)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        highest = max(highest, rss_mb(pid)[0])
        time.sleep(0.01)
    return {"count": count, "statuses": sorted(statuses),
            "rss_before_mb": round(before, 1), "rss_peak_above_mb": round(highest - before, 1),
            "took_s": round(time.monotonic() - started, 2)}


def drip(url: str, headers: dict[str, str], cap_s: float = 60) -> dict[str, Any]:
    started = time.monotonic()
    try:
        response = requests.post(url + "/api/drip", json=chat_body(stream=True),
                                 headers=headers, timeout=(5, cap_s), stream=True)
        body = b""
        with response:  # closed at the cap: the proxy must not relay for a gone client
            for piece in response.iter_content(chunk_size=None):
                body += piece
                if time.monotonic() - started > cap_s:
                    return {"still_relaying_after_s": cap_s, "bytes": len(body)}
        return {"took_s": round(time.monotonic() - started, 2), "status": response.status_code,
                "ends_with": body[-160:].decode(errors="replace")}
    except requests.RequestException as exc:
        return {"took_s": round(time.monotonic() - started, 2), "error": type(exc).__name__}


def stall(url: str, headers: dict[str, str], fake: FakeUpstream) -> dict[str, Any]:
    response = requests.post(url + "/api/stall", json=chat_body(stream=True), headers=headers,
                             timeout=30, stream=True)
    pieces = response.iter_content(chunk_size=None)
    next(pieces)
    aborted = fake.streams_aborted
    left = time.monotonic()
    response.close()
    fake.wait_until(lambda f: f.streams_aborted > aborted, timeout=30)
    return {"upstream_closed_after_s": round(time.monotonic() - left, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args()
    with FakeUpstream() as fake, tempfile.TemporaryDirectory() as tmp:
        app, token = serve(Path(tmp), fake)
        try:
            headers = {"Authorization": f"Bearer {token}"}
            assert app.live is not None and app.live.process is not None
            report = {
                "huge_event": huge_event(app.url, headers, "/api/huge-event"),
                "big_event": huge_event(app.url, headers, "/api/big-event"),
                "huge_answers_50mb": huge_answers(app.url, headers, app.live.process.pid,
                                                  "/api/huge-answer"),
                "huge_answers_100mb": huge_answers(app.url, headers, app.live.process.pid,
                                                   "/api/huger-answer"),
                "stall": stall(app.url, headers, fake),
                "drip": drip(app.url, headers),
            }
        finally:
            app.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
