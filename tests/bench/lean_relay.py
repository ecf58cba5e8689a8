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

import json  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from typing import Any  # noqa: E402

import forwarder  # noqa: E402
import urllib3  # noqa: E402

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


if __name__ == "__main__":
    forwarder.main(create_app, __doc__)
