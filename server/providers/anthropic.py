"""Anthropic: the Messages API (api.anthropic.com, or any server speaking it).

The transport, deadlines, caps and error scrubbing are the OpenAI-compatible adapter's;
what differs is the key's header (`x-api-key`, with `anthropic-version`), the paths, and
the models list's shape. Its errors ({"type": "error", "error": {"type", "message"}}) are
read as OpenAI's are: both keep the message at error.message. A 529 (overloaded) is an
UpstreamError of status 529 with the provider's Retry-After, like any other status.

Chat-shaped calls (`chat()`, `chat_stream()`) are refused: the router translates chat
clients to the Messages dialect and calls `send("messages", ...)`.
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import Any

from server.providers.base import Stream, UpstreamError
from server.providers.openai_compatible import OpenAICompatibleAdapter, _json

API_VERSION = "2023-06-01"
MODEL_PAGE = 1000  # the most Anthropic's GET /models gives at once
MAX_MODEL_PAGES = 20


class AnthropicAdapter(OpenAICompatibleAdapter):
    dialects = ("messages",)
    paths = MappingProxyType({"messages": "/messages"})
    # Anthropic's own rate-limit headers, relayed to clients as OpenAI's are.
    rate_limit_prefixes = ("anthropic-ratelimit-", "x-ratelimit-")

    def default_headers(self) -> dict[str, str]:
        # An admin's own anthropic-version header overrides this one.
        return {**super().default_headers(), "anthropic-version": API_VERSION}

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key}

    def chat(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        raise self._not_chat()

    def chat_stream(self, body: dict[str, Any], request_id: str) -> Stream:
        raise self._not_chat()

    def embeddings(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        raise UpstreamError(f"provider {self.config.name} (anthropic) has no embeddings API")

    def count_tokens(self, body: dict[str, Any], request_id: str,
                     headers: dict[str, str] | None = None) -> int | None:
        answer = self._post_json("/messages/count_tokens", body, request_id, headers)
        tokens = answer.get("input_tokens")
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
            raise UpstreamError(f"provider {self.config.name} answered count_tokens without "
                                "a count of input_tokens", 200)
        return tokens

    def models(self) -> list[dict[str, Any]]:
        """Anthropic's models ({data: [{id, display_name, created_at, type}], has_more},
        page after page) as OpenAI model objects."""
        models: list[dict[str, Any]] = []
        after = ""
        for _ in range(MAX_MODEL_PAGES):
            page = self._models_page(after)
            data = [m for m in page.get("data") or [] if isinstance(m, dict) and m.get("id")]
            models += [self._model_object(m) for m in data]
            if page.get("has_more") is not True or not data:
                break
            after = str(page.get("last_id") or data[-1]["id"])
        return models

    def _models_page(self, after: str) -> dict[str, Any]:
        path = f"/models?limit={MODEL_PAGE}" + (f"&after_id={after}" if after else "")
        with self._deadline():
            answer = _json(self._read(self._send("GET", path, None, None)))
        return answer if isinstance(answer, dict) else {}

    def _model_object(self, model: dict[str, Any]) -> dict[str, Any]:
        shaped = {"id": str(model["id"]), "object": "model",
                  "created": _epoch(model.get("created_at")), "owned_by": "anthropic"}
        if isinstance(model.get("display_name"), str):
            shaped["display_name"] = model["display_name"]
        return shaped

    def _not_chat(self) -> UpstreamError:
        return UpstreamError(f"the anthropic provider {self.config.name} speaks the Messages "
                             "API; chat completions requests are translated to it, not sent")


def _epoch(created_at: Any) -> int:
    """An RFC 3339 time ("2025-02-19T00:00:00Z") as Unix seconds; 0 when unreadable."""
    if not isinstance(created_at, str):
        return 0
    try:
        when = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp())
