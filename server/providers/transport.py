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

import os
from typing import Any

import certifi
import urllib3
from requests.utils import get_environ_proxies

POOL_SIZE = 256  # connections kept per provider; the proxy holds many streams at once

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
             timeout: urllib3.Timeout, stream: bool = False) -> Response:
        """The answer to `method base_url+path`; read whole unless `stream`.

        Raises urllib3's errors as they are: no retries, no redirects followed.
        """
        options: dict[str, Any] = {
            "body": body, "headers": {**self.headers, **headers}, "timeout": timeout,
            "retries": False, "redirect": False, "preload_content": not stream,
        }
        if self._pool is not None:
            return self._pool.urlopen(method, self._prefix + path, **options)
        return self._manager.urlopen(method, self.base_url + path, **options)

    def close(self) -> None:
        self._manager.clear()


def ca_bundle() -> str:
    """The CA certificates providers' TLS certificates are checked against: a bundle named
    by the environment (a LAN server with the office's own CA), else certifi's."""
    return os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE") \
        or certifi.where()
