"""The HTTP transport of the OpenAI-compatible adapters: one pool of keep-alive connections
per provider, on urllib3 (the library under requests).

Why not a `requests.Session`: its own layers (preparing the request, hooks, cookie jars,
building the response) cost ~0.7 ms of CPU a call on the 2-core benchmark machine, most of
the 1 ms the proxy may add to a request; urllib3 alone does the same I/O over the same
pool. Outbound proxies come from HTTP(S)_PROXY/NO_PROXY, and the CA bundle that checks
providers' certificates from SSL_CERT_FILE or REQUESTS_CA_BUNDLE (else certifi's), read
once per provider.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import certifi
import gevent
import urllib3
from requests.utils import get_environ_proxies

POOL_SIZE = 256  # connections kept per provider; the proxy holds many streams at once
READ_PIECE = 1 << 20  # whole bodies are read a MiB at a time, counting

Response = urllib3.BaseHTTPResponse


class Transport:
    """Sends requests to paths under one base URL with fixed headers, over pooled
    connections; directly, or through the proxy the environment names for that URL."""

    def __init__(self, base_url: str, headers: dict[str, str], pool_size: int = POOL_SIZE
                 ) -> None:
        self.base_url = base_url
        self.headers = headers
        url = urllib3.util.parse_url(base_url)
        self.proxy = get_environ_proxies(base_url).get(url.scheme)
        options: dict[str, Any] = {"maxsize": pool_size, "ca_certs": ca_bundle()}
        if self.proxy:
            self._manager: urllib3.PoolManager = urllib3.ProxyManager(self.proxy, **options)
            self._pool = None
        else:
            self._manager = urllib3.PoolManager(**options)
            # Held, so a call skips the manager's URL parsing and pool lookup (~0.1 ms).
            self._pool = self._manager.connection_from_url(base_url)
            self._prefix = url.path or ""

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
             timeout: urllib3.Timeout) -> Response:
        """The answer to `method base_url+path`, its body still to read (`read_body`, or
        piece by piece for a stream): nothing is buffered whole unread.

        Raises urllib3's errors as they are: no retries, no redirects followed.
        """
        options: dict[str, Any] = {
            "body": body, "headers": {**self.headers, **headers}, "timeout": timeout,
            "retries": False, "redirect": False, "preload_content": False,
        }
        if self._pool is not None:
            return self._pool.urlopen(method, self._prefix + path, **options)
        return self._manager.urlopen(method, self.base_url + path, **options)

    def close(self) -> None:
        self._manager.clear()


class BodyTooLarge(Exception):
    """An answer's body is longer than the most the caller reads."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit:,} bytes")
        self.limit = limit


def read_body(response: Response, limit: int) -> bytes:
    """The whole body of `response`, counted as it is read: past `limit` bytes (or a
    Content-Length saying so) BodyTooLarge, and the connection is closed, the rest unread.
    Read whole, the connection goes back to the pool."""
    length = response.headers.get("Content-Length", "")
    parts: list[bytes] = []
    size = 0
    try:
        if length.isdigit() and int(length) > limit:
            raise BodyTooLarge(limit)
        while piece := response.read(READ_PIECE):
            size += len(piece)
            if size > limit:
                raise BodyTooLarge(limit)
            parts.append(piece)
    except BaseException:  # too large, a broken read, a deadline, the client gone
        response.close()
        raise
    response.release_conn()
    return b"".join(parts)


class DeadlinePassed(Exception):
    """A `deadline` block ran out of time."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise DeadlinePassed in the block if it is still running after `seconds`, wherever
    it waits (a gevent timer; per-read socket timeouts alone let an upstream that drips
    bytes hold a call for ever). The caller closes what the block left half-read."""
    timer = gevent.Timeout(max(seconds, 0.0))
    timer.start()
    try:
        yield
    except gevent.Timeout as exc:
        if exc is not timer:
            raise
        raise DeadlinePassed(f"past the {seconds:g} s deadline") from None
    finally:
        timer.cancel()


def ca_bundle() -> str:
    """The CA certificates providers' TLS certificates are checked against: a bundle named
    by the environment (a LAN server with the office's own CA), else certifi's."""
    return os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE") \
        or certifi.where()
