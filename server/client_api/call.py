"""One client request as it goes through the proxy: what it is, what happened, how long.

It becomes exactly one request-log row, whatever the outcome.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.models import utcnow
from app.prices import Price

_SANE_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is sane, else a new one."""
    if header and _SANE_ID.match(header):
        return header
    return "req_" + uuid.uuid4().hex


def end_attempt(entry: dict[str, Any], status: int, error: str | None) -> None:
    """An attempt (Call.attempts) ended now with `status` and `error`."""
    began = entry.pop("began", None)
    if began is not None:
        entry["latency_ms"] = round((time.perf_counter() - began) * 1000, 3)
    entry["status"], entry["error"] = status, error


class ClientError(Exception):
    """A request the proxy refuses or cannot serve, with its status and OpenAI error code."""

    def __init__(self, status: int, message: str, code: str,
                 headers: dict[str, str] | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.param = param


@dataclass
class Call:
    request_id: str
    client_ip: str
    started: float = field(default_factory=time.perf_counter)
    time: Any = field(default_factory=utcnow)
    token_id: int | None = None
    endpoint_id: int | None = None
    provider_id: int | None = None
    model: str | None = None
    stream: bool = False
    status: int = 200
    ttfb_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    error: str | None = None
    client_dialect: str | None = None  # chat, responses or messages (None: not a chat call)
    provider_dialect: str | None = None  # what the provider was sent
    agent_session: str | None = None  # the agent's session id header, when there is one
    target_id: int | None = None  # the endpoint target that answered (or was tried last)
    price: Price | None = None  # that target's; None: no price known
    cached_tokens: int = 0  # of prompt_tokens, those the provider read from its cache
    # Each attempt on a target ({"target_id", "provider_id", "model", "status",
    # "latency_ms", "error"}), where the request was tried on more than one.
    attempts: list[dict[str, Any]] = field(default_factory=list)
    relaying: bool = False  # a target's stream was handed to the client
    tries: int = 0  # attempts started on targets (0: refused before any was tried)
    rate_headers: dict[str, str] = field(default_factory=dict)
    quota_held: bool = False
    hold: Any = None  # what its token and endpoint hold for it in flight (list of Hold)
    logged: bool = False  # its row is queued: a later error path must not queue another

    def mark_first_byte(self) -> None:
        if self.ttfb_ms is None:
            self.ttfb_ms = (time.perf_counter() - self.started) * 1000

    def fail(self, status: int, error: str) -> None:
        self.status = status
        self.error = error

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def cost_nanos(self) -> int | None:
        """What the request cost at its target's price (None: no price known)."""
        if self.price is None:
            return None
        return self.price.cost_nanos(self.prompt_tokens, self.cached_tokens,
                                     self.completion_tokens)

    def _attempt_log(self) -> list[dict[str, Any]]:
        """The attempts, the one that ended the call told how it went (when its row is
        made, while it answers: its latency so far)."""
        if self.attempts[-1]["status"] is None:
            end_attempt(self.attempts[-1], self.status, self.error)
        return [{k: v for k, v in a.items() if k != "began"} for a in self.attempts]

    def log_record(self) -> dict[str, Any]:
        return {
            "time": self.time, "request_id": self.request_id, "token_id": self.token_id,
            "endpoint_id": self.endpoint_id, "provider_id": self.provider_id,
            "model": self.model, "status": self.status,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 3),
            "ttfb_ms": None if self.ttfb_ms is None else round(self.ttfb_ms, 3),
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "usage_estimated": self.usage_estimated, "client_ip": self.client_ip,
            "stream": self.stream, "error": self.error,
            "client_dialect": self.client_dialect, "provider_dialect": self.provider_dialect,
            # The column holds 128: a longer header is cut, not a row the database refuses.
            "agent_session": self.agent_session[:128] if self.agent_session else None,
            "target_id": self.target_id if self.tries else None, "attempts": self.tries,
            "attempt_log": self._attempt_log() if len(self.attempts) > 1 else None,
            "cached_tokens": self.cached_tokens, "cost_nanos": self.cost_nanos(),
        }
