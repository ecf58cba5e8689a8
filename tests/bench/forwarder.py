"""The bare forwarder: the cost floor of ModelProxy's stack, for the benchmark to compare with.

    python tests/bench/forwarder.py --port 9002 --upstream http://127.0.0.1:9001/v1

Flask, gevent pywsgi with TCP_NODELAY on accepted sockets, one pooled requests.Session that
ignores the environment, and nothing else: no auth, limits, logging or policy. POST
/v1/chat/completions is parsed, forwarded upstream, and the answer parsed and re-serialized
(or, for `"stream": true`, passed through as it arrives).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import requests  # noqa: E402
from flask import Flask, Response, request  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402

POOL_SIZE = 256  # as ModelProxy's OpenAI-compatible adapter
TIMEOUT = (10.0, 600.0)


class Handler(WSGIHandler):
    """TCP_NODELAY on accepted sockets, exactly as server/connection.py's Handler does."""

    def handle(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()


def make_session() -> requests.Session:
    session = requests.Session()
    pool = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", pool)
    # No look at proxy variables and .netrc on every call: ~1 ms a request on the bench
    # machine, which a careful forwarder would not pay either.
    session.trust_env = False
    session.headers.update({"User-Agent": "bench-forwarder", "Authorization": "Bearer sk-bench"})
    return session


def relay(response: requests.Response) -> Iterator[bytes]:
    """The upstream's body, piece by piece as it arrives; closes upstream when done."""
    try:
        yield from response.iter_content(chunk_size=None)
    finally:
        response.close()


def create_app(upstream: str) -> Flask:
    """A Flask app forwarding chat completions to `upstream` (a base URL ending in /v1)."""
    app = Flask("bench-forwarder")
    session = make_session()
    url = upstream.rstrip("/") + "/chat/completions"

    @app.post("/v1/chat/completions")
    def chat() -> Response:
        body: dict[str, Any] = request.get_json(force=True)
        if body.get("stream") is True:
            answer = session.post(url, json=body, timeout=TIMEOUT, stream=True)
            return Response(relay(answer), status=answer.status_code,
                            mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})
        answer = session.post(url, json=body, timeout=TIMEOUT)
        payload = answer.json()
        return Response(json.dumps(payload, ensure_ascii=False), status=answer.status_code,
                        mimetype="application/json")

    return app


def main(create: Callable[[str], Any] = create_app, description: str | None = __doc__) -> None:
    """Serve `create(upstream)` on 127.0.0.1:--port (the lean relay serves its app this way)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:P/v1")
    args = parser.parse_args()
    server = WSGIServer(("127.0.0.1", args.port), create(args.upstream), log=None,
                        handler_class=Handler, spawn=Pool())
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
