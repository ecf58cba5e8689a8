"""The admin-API client the window uses. Plain, blocking `requests` calls: the window runs
them off the GUI thread through gui.tasks; nothing here touches Qt."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import requests

__all__ = ["APIError", "AdminAPI", "Unreachable"]


class APIError(Exception):
    """The server answered with an error; `message` is the server's own words, `param`
    the field it names, if any (`targets[1].weight`)."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


class Unreachable(APIError):
    """No answer from the server (down, wrong address, network)."""

    def __init__(self, message: str, code: str = "unreachable") -> None:
        super().__init__(0, message, code)


class AdminAPI:
    """One server, one admin session. `ca_file`: the CA certificates (PEM) to trust for an
    https:// server, such as the office CA's ca.pem; else the system's."""

    def __init__(self, base_url: str, timeout: float = 30.0,
                 ca_file: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.ca_file = ca_file or None
        self.http = requests.Session()
        # Given with each call: a session's `verify` loses to REQUESTS_CA_BUNDLE.
        self._verify: str | bool = self.ca_file or True
        self.user: dict[str, Any] | None = None

    # --- plumbing ---------------------------------------------------------------------

    def request(self, method: str, path: str, json: Any = None,
                params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer (None for 204); APIError or Unreachable otherwise."""
        url = f"{self.base_url}/admin/api{path}"
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = self.http.request(method, url, json=json, params=clean,
                                         timeout=self.timeout, verify=self._verify)
        except requests.exceptions.SSLError as exc:
            raise self._tls_failure(exc) from None
        except requests.ConnectionError:
            raise Unreachable(f"cannot reach the server at {self.base_url}") from None
        except requests.Timeout:
            raise Unreachable(f"the server at {self.base_url} did not answer in time") from None
        return _decode(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def _tls_failure(self, exc: requests.exceptions.SSLError) -> Unreachable:
        """Why the server's certificate was refused, and what to do, in a person's words."""
        text = str(exc)
        found = re.search(r"certificate verify failed: ([^('\"]+)", text)
        if found is not None:
            hint = ("choose the CA file that signed it (ca.pem, from the server's admin)"
                    if self.ca_file is None else f"check that the CA in {self.ca_file} signed "
                                                 "it, for this address")
            return Unreachable(f"the certificate of {self.base_url} is not trusted "
                               f"({found.group(1).strip()}): {hint}",
                               code="untrusted_certificate")
        if "NO_CERTIFICATE_OR_CRL_FOUND" in text:  # a key, or no PEM at all
            return Unreachable(f"{self.ca_file} holds no certificate: choose the CA's "
                               "certificate (ca.pem, a PEM file)", code="bad_ca_file")
        if "WRONG_VERSION_NUMBER" in text:
            return Unreachable(f"the server at {self.base_url} speaks plain HTTP, not HTTPS: "
                               "change https:// to http:// in its address",
                               code="plain_http_server")
        reason = re.search(r"\] ([^(]+?) \(_ssl", text)  # OpenSSL's words, not urllib3's
        return Unreachable(f"the TLS connection to {self.base_url} failed"
                           f"{f' ({reason.group(1)})' if reason else ''}", code="tls_failed")

    # --- sessions ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        try:
            return _decode(self.http.get(f"{self.base_url}/api/health", timeout=5,
                                         verify=self._verify))
        except requests.exceptions.SSLError as exc:
            raise self._tls_failure(exc) from None
        except requests.RequestException:
            raise Unreachable(f"cannot reach the server at {self.base_url}") from None

    def setup_status(self) -> dict[str, Any]:
        """`needed`; while it is, `address` (this machine, as the server sees it),
        `admin_allow` and `admin_allow_source`."""
        return self.get("/setup")

    def setup_needed(self) -> bool:
        return bool(self.setup_status().get("needed"))

    def setup(self, username: str, password: str, code: str,
              admin_allow: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"username": username, "password": password, "code": code}
        if admin_allow is not None:
            body["admin_allow"] = admin_allow
        return self.post("/setup", body)

    def login(self, username: str, password: str) -> dict[str, Any]:
        answer = self.post("/login", {"username": username, "password": password})
        self.http.headers["Authorization"] = f"Bearer {answer['token']}"
        self.user = answer["user"]
        return answer

    def logout(self) -> None:
        try:
            self.post("/logout")
        finally:
            self.http.headers.pop("Authorization", None)
            self.user = None

    @property
    def is_admin(self) -> bool:
        return bool(self.user) and self.user.get("role") == "admin"

    # --- resources --------------------------------------------------------------------

    def items(self, resource: str, **params: Any) -> list[dict[str, Any]]:
        return self.get(f"/{resource}", **params)["items"]

    def create(self, resource: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self.post(f"/{resource}", fields)

    def update(self, resource: str, item_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        return self.patch(f"/{resource}/{item_id}", fields)

    def remove(self, resource: str, item_id: int) -> None:
        self.delete(f"/{resource}/{item_id}")

    def test_provider(self, provider_id: int) -> dict[str, Any]:
        return self.post(f"/providers/{provider_id}/test")

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        return self.post(f"/tokens/{token_id}/revoke")

    def logs_page(self, limit: int = 100, cursor: str | None = None,
                  **filters: Any) -> tuple[list[dict[str, Any]], str | None]:
        page = self.get("/logs", limit=limit, cursor=cursor, **filters)
        return page["items"], page.get("next_cursor")

    def logs_csv(self, **filters: Any) -> Iterator[bytes]:
        url = f"{self.base_url}/admin/api/logs/export.csv"
        clean = {k: v for k, v in filters.items() if v not in (None, "")}
        try:
            response = self.http.get(url, params=clean, stream=True, timeout=self.timeout,
                                     verify=self._verify)
        except requests.exceptions.SSLError as exc:
            raise self._tls_failure(exc) from None
        except requests.RequestException:
            raise Unreachable(f"cannot reach the server at {self.base_url}") from None
        if response.status_code >= 400:
            _decode(response)
        return response.iter_content(65536)


def _decode(response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        if response.status_code >= 400:
            raise APIError(response.status_code, response.reason or "error")
        return None
    try:
        body = response.json()
    except ValueError:
        if response.status_code >= 400:
            raise APIError(response.status_code, response.text[:200] or response.reason) from None
        raise APIError(response.status_code, "the server's answer was not JSON") from None
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise APIError(response.status_code, error.get("message") or response.reason,
                       error.get("code"), error.get("param"))
    return body
