"""OpenAI itself."""

from __future__ import annotations

from typing import Any

from server.providers.base import Answer, Stream
from server.providers.openai_compatible import OpenAICompatibleAdapter


class OpenAIAdapter(OpenAICompatibleAdapter):
    """api.openai.com; the base URL default comes from app.services.provider_types. Speaks
    the Responses API too (chat first: every client dialect translates to it cleanly)."""

    dialects = ("chat", "responses")

    def send(self, dialect: str, body: dict[str, Any], request_id: str,
             headers: dict[str, str] | None = None) -> Answer:
        return super().send(dialect, _for_openai(dialect, body), request_id, headers)

    def open_stream(self, dialect: str, body: dict[str, Any], request_id: str,
                    headers: dict[str, str] | None = None) -> Stream:
        return super().open_stream(dialect, _for_openai(dialect, body), request_id, headers)


def _for_openai(dialect: str, body: dict[str, Any]) -> dict[str, Any]:
    """A translated chat body as OpenAI wants it: the output limit as max_completion_tokens
    (its reasoning models refuse max_tokens). A chat client's own body goes through chat()
    untouched; only translated requests come here."""
    if dialect != "chat" or "max_tokens" not in body:
        return body
    out = {k: v for k, v in body.items() if k != "max_tokens"}
    out.setdefault("max_completion_tokens", body["max_tokens"])
    return out
