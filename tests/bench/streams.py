"""Many concurrent streaming chat requests from one gevent process; prints a JSON summary.

    python tests/bench/streams.py --url http://127.0.0.1:P/v1/chat/completions \
        --token T --count 1000 --ramp 0.5

Each stream is a raw HTTP/1.1 request on its own connection (`Connection: close`), read
until the end of the response, which must hold the dialect's end (`data: [DONE]` for chat).
`--dialect messages` (or chat, responses) sends bodies.py's agent-like body in that dialect
to the path given in --url; without it, today's one-line chat body. The starts are spread
evenly over `ramp` seconds so the server's accept backlog never overflows. TTFB is measured from
just before connecting to the arrival of the first `data:` bytes.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import bodies  # noqa: E402
import gevent  # noqa: E402

BODY = json.dumps({"model": "chat", "stream": True,
                   "messages": [{"role": "user", "content": "Say hello"}]}).encode()
TIMEOUT_S = 30.0


@dataclass
class Tally:
    """What the streams did, shared by all greenlets (one OS thread: no locks needed)."""

    ttfb_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    open_now: int = 0
    open_peak: int = 0


def request_bytes(url: str, token: str | None, body: bytes = BODY
                  ) -> tuple[tuple[str, int], bytes]:
    parts = urlsplit(url)
    headers = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}",
               "Content-Type: application/json", f"Content-Length: {len(body)}",
               "Accept: text/event-stream", "Connection: close"]
    if token:
        headers.append(f"Authorization: Bearer {token}")
    head = ("\r\n".join(headers) + "\r\n\r\n").encode()
    return (parts.hostname or "127.0.0.1", parts.port or 80), head + body


def read_stream(sock: socket.socket, started: float) -> tuple[float, bytes]:
    """Read the whole response; returns the TTFB (ms) and everything received."""
    received = bytearray()
    ttfb = None
    while True:
        data = sock.recv(65536)
        if not data:
            break
        received += data
        if ttfb is None and b"data:" in received:
            ttfb = (time.perf_counter() - started) * 1000
    if ttfb is None:
        raise ValueError("no SSE data received")
    return ttfb, bytes(received)


def one_stream(address: tuple[str, int], payload: bytes, end: bytes, tally: Tally) -> None:
    started = time.perf_counter()
    opened = False
    try:
        with gevent.Timeout(TIMEOUT_S), socket.create_connection(address) as sock:
            tally.open_now += 1
            opened = True
            tally.open_peak = max(tally.open_peak, tally.open_now)
            sock.sendall(payload)
            ttfb, received = read_stream(sock, started)
        status = received.split(b"\r\n", 1)[0]
        if not status.startswith(b"HTTP/1.1 200") or end not in received:
            raise ValueError(f"bad response: {status[:60]!r}")
        if b'"error"' in received:
            raise ValueError("error event in stream")
        tally.ttfb_ms.append(ttfb)
        tally.total_ms.append((time.perf_counter() - started) * 1000)
    except (OSError, ValueError, gevent.Timeout) as exc:
        tally.errors[type(exc).__name__ + ": " + str(exc)[:80]] += 1
    finally:
        if opened:
            tally.open_now -= 1


def run(url: str, token: str | None, count: int, ramp_s: float,
        dialect: str | None = None, model: str = "chat") -> dict:
    """Open `count` streams, starting them evenly over `ramp_s` seconds; wait for all."""
    body = BODY if dialect is None else bodies.body(dialect, model, stream=True).encode()
    end = bodies.STREAM_ENDS[dialect or bodies.CHAT]
    address, payload = request_bytes(url, token, body)
    tally = Tally()
    started = time.perf_counter()
    greenlets = [gevent.spawn_later(i * ramp_s / count, one_stream, address, payload, end,
                                  tally)
                 for i in range(count)]
    gevent.joinall(greenlets, timeout=TIMEOUT_S + ramp_s + 5)
    return {"count": count, "ok": len(tally.ttfb_ms), "errors": sum(tally.errors.values()),
            "error_kinds": dict(tally.errors), "open_peak": tally.open_peak,
            "ttfb_ms": sorted(tally.ttfb_ms), "total_ms": sorted(tally.total_ms),
            "wall_s": time.perf_counter() - started}


def raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--ramp", type=float, default=0.5, help="seconds over which to start")
    parser.add_argument("--dialect", choices=sorted(bodies.PATHS), default=None,
                        help="send bodies.py's body in this dialect (default: a one-line chat)")
    parser.add_argument("--model", default="chat", help="the model the --dialect body names")
    args = parser.parse_args()
    raise_nofile(args.count * 2 + 256)
    print(json.dumps(run(args.url, args.token, args.count, args.ramp, args.dialect,
                         args.model)))


if __name__ == "__main__":
    main()
