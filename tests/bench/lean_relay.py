"""The lean relay: the least a Python proxy on gevent can add, for the latency phase.

    python tests/bench/lean_relay.py --port 9003 --upstream http://127.0.0.1:9001/v1

A bare WSGI callable on gevent pywsgi (TCP_NODELAY) that reads the JSON body, sends it
upstream over one held urllib3 connection pool and returns the parsed answer re-serialized:
no Flask, no requests, no auth, limits or logging. Its added latency tells how much of
ModelProxy's is the machine and the parts every such proxy needs (a WSGI server and an
HTTP client), and how much is ModelProxy's own. Non-streamed chat completions only.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from typing import Any  # noqa: E402

import urllib3  # noqa: E402
from forwarder import Handler  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
TIMEOUT = urllib3.Timeout(connect=10.0, read=600.0)


def create_app(upstream: str) -> Callable[..., Iterable[bytes]]:
    """A WSGI app relaying POST .../chat/completions bodies to `upstream` (ending in /v1)."""
    pool = urllib3.PoolManager(maxsize=256).connection_from_url(upstream)
    path = urllib3.util.parse_url(upstream).path.rstrip("/") + "/chat/completions"

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST":  # the benchmark's readiness probe
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(size))
        answer = pool.urlopen("POST", path, body=json.dumps(body).encode(), headers=HEADERS,
                              timeout=TIMEOUT, retries=False, redirect=False)
        data = json.dumps(json.loads(answer.data), ensure_ascii=False).encode()
        start_response(f"{answer.status} {answer.reason}",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(data)))])
        return [data]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:P/v1")
    args = parser.parse_args()
    server = WSGIServer(("127.0.0.1", args.port), create_app(args.upstream), log=None,
                        handler_class=Handler, spawn=Pool())
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
