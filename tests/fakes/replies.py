"""What the fake upstream answers, as plain data: OpenAI-shaped errors, chat completions
(whole and as stream chunks), embeddings and models. No sockets here; the server in
upstream.py and the fault modes in faults.py send these."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.fakes.script import Script, Turn, cached_of, turn_for  # noqa: F401  (Turn, Script: the hook's API)

_ERROR_KINDS = {  # status -> (type, code), as OpenAI reports them
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def openai_error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def error_for(status: int, message: str) -> dict[str, Any]:
    default = ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    return openai_error(message, *_ERROR_KINDS.get(status, default))


def fake_embedding(text: str, dim: int) -> list[float]:
    """A unit-length vector of ``dim`` floats derived only from ``text``."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vec = [rng.uniform(-1.0, 1.0) for _ in range(dim)]
    norm = sum(x * x for x in vec) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in vec]


def text_of(content: Any) -> str:  # a content string, or the text parts of a content list
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def model_object(mid: str) -> dict[str, Any]:
    return {"id": mid, "object": "model", "created": 1700000000, "owned_by": "fake-upstream"}


@dataclass(frozen=True)
class ChatReply:
    """What the fake answers a chat request with, before it is shaped whole or streamed."""

    model: str
    content: str
    usage: Any  # a dict as OpenAI's; fault modes put wrong shapes here
    tool_calls: tuple[tuple[str, str, dict], ...] = ()  # (id, name, arguments)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


def chat_reply(body: dict[str, Any], script: Script | None = None) -> ChatReply:
    """The script's Turn (default: echo the last user message); usage counts words."""
    msgs = [m for m in body["messages"] if isinstance(m, dict)]
    turn = turn_for(script, "chat", body)
    prompt = max(1, sum(len(text_of(m.get("content")).split()) for m in msgs))
    done = len(turn.text.split()) + sum(1 + len(json.dumps(args).split())
                                        for _, _, args in turn.tool_calls)
    usage = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
    if turn.cached:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_of(turn, prompt)}
    return ChatReply(str(body.get("model") or "fake-model"), turn.text, usage,
                     tuple(turn.tool_calls))


def completion(reply: ChatReply, message: Any = ...) -> dict[str, Any]:
    """A `chat.completion`; `message` replaces the assistant message (a fault's null)."""
    if message is ...:
        message = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.tool_calls:
            message["content"] = reply.content or None
            message["tool_calls"] = [
                {"id": cid, "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for cid, name, args in reply.tool_calls]
    return {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion",
            "created": int(time.time()), "model": reply.model, "usage": reply.usage,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": reply.finish_reason}]}


def halves(text: str) -> list[str]:
    """`text` in two pieces (a tool call's arguments arrive in pieces)."""
    return [text[:len(text) // 2], text[len(text) // 2:]]


def _tool_call_deltas(reply: ChatReply) -> list[dict[str, Any]]:
    """Each call as OpenAI streams it: index, id, name first, then its arguments in pieces."""
    deltas: list[dict[str, Any]] = []
    for index, (cid, name, args) in enumerate(reply.tool_calls):
        deltas.append({"tool_calls": [{"index": index, "id": cid, "type": "function",
                                       "function": {"name": name, "arguments": ""}}]})
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                   for piece in halves(json.dumps(args))]
    return deltas


def stream_chunks(reply: ChatReply, n: int, with_usage: bool) -> list[dict[str, Any]]:
    """The `chat.completion.chunk`s of a streamed reply: role, `n` content pieces, stop,
    and the usage-only chunk when asked for."""
    base: dict[str, Any] = {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "model": reply.model,
                            "object": "chat.completion.chunk", "created": int(time.time())}
    if with_usage:
        base["usage"] = None  # as OpenAI: usage null on every chunk but the last

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}]}

    size = len(reply.content)
    chunks = [chunk({"role": "assistant", "content": ""})]
    if reply.content or not reply.tool_calls:
        chunks += [chunk({"content": reply.content[i * size // n:(i + 1) * size // n]})
                   for i in range(n)]
    chunks += [chunk(delta) for delta in _tool_call_deltas(reply)]
    chunks.append(chunk({}, reply.finish_reason))
    if with_usage:
        chunks.append({**base, "choices": [], "usage": reply.usage})
    return chunks


def sse_line(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def stream_lines(reply: ChatReply, n: int, with_usage: bool) -> list[bytes]:
    """A streamed reply as SSE events, ending with [DONE]."""
    return [sse_line(c) for c in stream_chunks(reply, n, with_usage)] + [DONE]


def embeddings_list(body: dict[str, Any], default_dim: int) -> dict[str, Any]:
    """The embeddings of `body["input"]` (one text, texts, or token arrays)."""
    inp = body["input"]
    if isinstance(inp, str) or all(isinstance(t, int) for t in inp):
        inp = [inp]  # one text, or one token array
    texts = [t if isinstance(t, str) else json.dumps(t) for t in inp]
    dim = int(body.get("dimensions") or default_dim)
    data = []
    for i, text in enumerate(texts):
        vec: Any = fake_embedding(text, dim)
        if body.get("encoding_format") == "base64":  # little-endian float32, as OpenAI
            vec = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    tokens = sum(max(1, len(t.split())) for t in texts)
    return {"object": "list", "data": data, "model": str(body.get("model") or ""),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
