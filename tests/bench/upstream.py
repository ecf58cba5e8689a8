"""A fast fake OpenAI-compatible upstream for the benchmark: a raw WSGI app on gevent pywsgi.

    python tests/bench/upstream.py --port 9001 [--hold 2.0]

POST /v1/chat/completions answers a fixed chat.completion with usage, or, with
`"stream": true`, a few SSE chunks spread over `hold` seconds (the first at once; a usage
chunk when stream_options.include_usage; then [DONE]). `?hold=S` on the URL overrides the
hold for one request, and so does a path under /nohold/ (/nohold/v1/chat/completions: no
hold, every event at once, for a provider whose base URL ends in /nohold/v1). Under
/fail503/ every POST answers 503 at once, without Retry-After (a failing first target for
the routes phase: retried on the next target, never cooled at once). POST /v1/embeddings
answers a fixed embedding. Loopback only.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402

StartResponse = Callable[..., Any]
CREATED = 1_700_000_000
USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
NOHOLD = "/nohold"  # the path prefix of streams sent at once
FAIL503 = "/fail503"  # the path prefix of a provider that is down
WORDS = ("Hello", " from", " the", " bench")

CHAT = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": CREATED,
    "model": "bench-model",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "".join(WORDS)}}],
    "usage": USAGE,
}).encode()
UNAVAILABLE = json.dumps({"error": {"message": "bench: overloaded", "type": "server_error"}}
                         ).encode()
EMBEDDINGS = json.dumps({
    "object": "list", "model": "bench-embed",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3, 0.4]}],
    "usage": {"prompt_tokens": 2, "total_tokens": 2},
}).encode()


class Handler(WSGIHandler):
    """TCP_NODELAY on every accepted socket, as ModelProxy's server does."""

    def handle(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def stream_events(include_usage: bool) -> list[bytes]:
    """The SSE events of one streamed answer, [DONE] last."""
    events = [sse(chunk({"role": "assistant", "content": ""}))]
    events += [sse(chunk({"content": word})) for word in WORDS]
    events.append(sse(chunk({}, "stop")))
    if include_usage:
        usage = chunk({})
        usage["choices"], usage["usage"] = [], USAGE
        events.append(sse(usage))
    events.append(b"data: [DONE]\n\n")
    return events


def paced(events: list[bytes], hold_s: float) -> Iterator[bytes]:
    """Yield the first event at once and the rest spread evenly over `hold_s`."""
    gap = hold_s / max(1, len(events) - 1)
    for i, event in enumerate(events):
        if i:
            gevent.sleep(gap)
        yield event


def read_body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def make_app(default_hold_s: float) -> Callable[[dict[str, Any], StartResponse], Any]:
    """The WSGI app; `default_hold_s` is how long a stream stays open."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        if path.startswith(FAIL503) and method == "POST":
            read_body(environ)  # the connection stays usable for the next request
            return whole(start_response, UNAVAILABLE, "503 Service Unavailable")
        nohold = path.startswith(NOHOLD)
        path = path[len(NOHOLD):] if nohold else path
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/embeddings"):
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        body = read_body(environ)
        if path == "/v1/embeddings":
            return whole(start_response, EMBEDDINGS)
        if body.get("stream") is not True:
            return whole(start_response, CHAT)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        hold_s = 0.0 if nohold else float(query.get("hold", [default_hold_s])[0])
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        start_response("200 OK", [("Content-Type", "text/event-stream"),
                                  ("Cache-Control", "no-cache")])
        return paced(stream_events(include_usage), hold_s)

    return app


def whole(start_response: StartResponse, payload: bytes, status: str = "200 OK"
          ) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json"),
                              ("Content-Length", str(len(payload)))])
    return [payload]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hold", type=float, default=2.0, help="seconds a stream stays open")
    args = parser.parse_args()
    server = WSGIServer(("127.0.0.1", args.port), make_app(args.hold), log=None,
                        handler_class=Handler, backlog=2048)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
