"""The built-in offline provider: deterministic answers made from the request itself.

For demos and client tests: chat answers repeat the last user message, streams send it
word by word, embeddings are fixed-size vectors derived from the text.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

from server.providers.base import Adapter, Stream

DIMENSIONS = 16


def _tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts: keep the text ones
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(_tokens(json.dumps(m.get("content", ""))) + 3 for m in messages)


class EchoStream(Stream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if self._closed:
                return
            yield chunk

    def close(self) -> None:
        self._closed = True


class EchoAdapter(Adapter):
    def chat(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        messages = body.get("messages", [])
        content = "echo: " + _last_user_text(messages)
        usage = self._usage(_prompt_tokens(messages), _tokens(content))
        return {
            "id": "chatcmpl-" + request_id[-24:], "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "echo"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": usage,
        }

    def chat_stream(self, body: dict[str, Any], request_id: str) -> Stream:
        messages = body.get("messages", [])
        content = "echo: " + _last_user_text(messages)
        base = {"id": "chatcmpl-" + request_id[-24:], "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", "echo")}
        words = content.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]}]
        events += [{**base, "choices": [{"index": 0, "delta": {"content": p},
                                         "finish_reason": None}]} for p in pieces]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = self._usage(_prompt_tokens(messages), _tokens(content))
            events.append({**base, "choices": [], "usage": usage})
        chunks = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
        return EchoStream([*chunks, b"data: [DONE]\n\n"])

    def embeddings(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [{"object": "embedding", "index": i, "embedding": _vector(str(text))}
                for i, text in enumerate(inputs)]
        prompt = sum(_tokens(str(text)) for text in inputs)
        return {"object": "list", "data": data, "model": body.get("model", "echo"),
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt}}

    def models(self) -> list[dict[str, Any]]:
        return [{"id": "echo", "object": "model", "created": 0, "owned_by": self.config.name}]

    @staticmethod
    def _usage(prompt: int, completion: int) -> dict[str, int]:
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}


def _vector(text: str) -> list[float]:
    """A unit-length vector that depends only on the text."""
    digest = hashlib.sha512(text.encode("utf-8", "surrogatepass")).digest()  # any str
    values = [v / 2**31 for v in struct.unpack(f">{DIMENSIONS}i", digest[: DIMENSIONS * 4])]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]
