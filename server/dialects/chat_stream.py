"""Chat completions streams: a chat provider's `chat.completion.chunk` events read as
the internal model's events, and those events written as chunks for a chat client.
Event by event as they arrive, nothing buffered but the few ids a stream needs."""

from __future__ import annotations

import json
import time
from typing import Any

from server.dialects.chat_answer import (
    FINISH,
    arguments_text,
    chat_id,
    client_model,
    new_id,
    read_usage,
    stop_of,
    text_of,
    usage_dict,
)
from server.dialects.model import (
    Ended,
    Event,
    Started,
    Stopped,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCallStarted,
    UpstreamShapeError,
    Usage,
    UsageSeen,
    json_bytes,
)

DONE = b"[DONE]"
# Of a provider's own error message: the caller scrubs keys from it (it knows the key).
MESSAGE_CHARS = 500


class StreamReader:
    """A chat provider's stream, one event's data at a time (data None never comes)."""

    def __init__(self) -> None:
        self.started = False
        self.ended = False
        self.stopped = False
        # The provider's tool call index -> (its call's id, our index). Ollama reuses
        # index 0 for each call of a parallel batch, told apart only by a new id.
        self._calls: dict[int, tuple[str | None, int]] = {}
        self._count = 0  # tool calls started

    def read(self, data: bytes) -> list[Event]:
        if self.ended:
            return []  # what a provider sends after [DONE] is not an answer's
        if data.strip() == DONE:
            self.ended = True
            return [Ended()]
        chunk = _chunk(data)
        events: list[Event] = []
        if not self.started:
            self.started = True
            chunk_id, model = chunk.get("id"), chunk.get("model")
            events.append(Started(chunk_id if isinstance(chunk_id, str) and chunk_id
                                  else new_id("chatcmpl-"),
                                  model if isinstance(model, str) else ""))
        choices = chunk.get("choices")
        if choices is not None:
            if not isinstance(choices, list):
                raise UpstreamShapeError("the upstream sent a chunk whose choices are not a list")
            for choice in choices:
                if not isinstance(choice, dict):
                    raise UpstreamShapeError("the upstream sent a chunk with a choice that is "
                                             "not an object")
                if choice.get("index", 0) == 0:  # one choice asked for (n=1)
                    self._choice(choice, events)
        usage = read_usage(chunk.get("usage"))
        if usage is not None:
            events.append(UsageSeen(usage))
        return events

    def _choice(self, choice: dict[str, Any], events: list[Event]) -> None:
        delta = choice.get("delta")
        if delta is not None and not isinstance(delta, dict):
            raise UpstreamShapeError("the upstream sent a chunk whose delta is not an object")
        if delta:
            # vLLM sends both names for a while, DeepSeek the first, OpenRouter the second
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ThinkingDelta(reasoning))
            content = delta.get("content")
            text = content if type(content) is str else text_of(content)
            if text:
                events.append(TextDelta(text))
            calls = delta.get("tool_calls")
            if calls:
                self._tool_calls(calls, events)
        finish = choice.get("finish_reason")
        if finish == "error":
            raise UpstreamShapeError("the upstream stream failed: its model stopped on an error")
        if finish is not None and not self.stopped:
            self.stopped = True
            stop = stop_of(finish, bool(self._calls))
            matched = choice.get("stop_reason")  # vLLM: the stop string that matched
            if stop == "end" and isinstance(matched, str):
                events.append(Stopped("stop_sequence", matched))
            else:
                events.append(Stopped(stop))

    def _tool_calls(self, calls: Any, events: list[Event]) -> None:
        if not isinstance(calls, list):
            raise UpstreamShapeError("the upstream sent a chunk whose tool_calls is not a list")
        for position, call in enumerate(calls):
            if not isinstance(call, dict):
                raise UpstreamShapeError("the upstream sent a tool call that is not an object")
            raw = call.get("index", position)
            raw = raw if type(raw) is int else position
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            call_id = call.get("id") if isinstance(call.get("id"), str) else None
            known = self._calls.get(raw)
            if known is None or (call_id and known[0] and call_id != known[0]):
                ours = self._count
                self._count += 1
                self._calls[raw] = (call_id, ours)
                name = function.get("name")
                events.append(ToolCallStarted(ours, call_id or new_id("call_"),
                                              name if isinstance(name, str) else ""))
            else:
                ours = known[1]
            arguments = arguments_text(function.get("arguments"))
            if arguments:
                events.append(ToolArgumentsDelta(ours, arguments))


def _chunk(data: bytes) -> dict[str, Any]:
    try:  # SSE is UTF-8: decoded as json.loads would, without its encoding sniff
        chunk = json.loads(data.decode("utf-8", "surrogatepass"))
    except ValueError:  # UnicodeDecodeError too; then json.loads' own way (a BOM, UTF-16)
        chunk = _sniffed(data)
    if not isinstance(chunk, dict):
        raise UpstreamShapeError("the upstream sent an event that is not a JSON object")
    # The provider's own mid-stream error: {"error": {...}} (OpenAI, SGLang; OpenRouter's
    # with a choice whose finish_reason is "error"), or vLLM's {"object": "error", ...}.
    error = chunk if chunk.get("object") == "error" else chunk.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise UpstreamShapeError("the upstream stream failed: "
                                 + str(message or "error")[:MESSAGE_CHARS])
    return chunk


def _sniffed(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise UpstreamShapeError("the upstream sent an event that is not JSON") from None


class StreamWriter:
    """`chat.completion.chunk` events for a chat client that sent `body`."""

    def __init__(self, model: str, body: Any) -> None:
        self.model = client_model(model, body)
        options = body.get("stream_options") if isinstance(body, dict) else None
        self.wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        self.id = new_id("chatcmpl-")
        self.created = int(time.time())
        self.began = False
        self.stopped = False
        self.saw_calls = False
        self._calls: dict[int, int] = {}  # the events' index -> the client's tool call index

    def write(self, event: Event) -> bytes:
        if isinstance(event, Started):
            if self.began:
                return b""
            self.id = chat_id(event.id)
        head = b"" if self.began else self._begin()
        if isinstance(event, TextDelta):
            return head + (self._delta({"content": event.text}) if event.text else b"")
        if isinstance(event, ThinkingDelta):  # shown as DeepSeek and vLLM show it
            return head + (self._delta({"reasoning_content": event.text}) if event.text
                           else b"")
        if isinstance(event, ToolCallStarted):
            index = self._calls[event.index] = len(self._calls)
            self.saw_calls = True
            return head + self._delta({"tool_calls": [{
                "index": index, "id": event.id, "type": "function",
                "function": {"name": event.name, "arguments": ""}}]})
        if isinstance(event, ToolArgumentsDelta):
            index = self._calls.get(event.index)
            if index is None or not event.text:
                return head
            return head + self._delta({"tool_calls": [{
                "index": index, "function": {"arguments": event.text}}]})
        if isinstance(event, Stopped):
            return head + self._stop(FINISH[event.reason])
        return head  # Started, UsageSeen (end() gets the usage), Ended

    def end(self, usage: Usage) -> bytes:
        out = b"" if self.began else self._begin()
        if not self.stopped:  # the provider never said why: it ended, as far as we know
            out += self._stop("tool_calls" if self.saw_calls else "stop")
        if self.wants_usage:
            out += self._event({"id": self.id, "object": "chat.completion.chunk",
                                "created": self.created, "model": self.model, "choices": [],
                                "usage": usage_dict(usage)})
        return out + b"data: [DONE]\n\n"

    def fail(self, message: str, code: str) -> bytes:
        """One error event, the shape server/client_api/relay.py's error_event makes."""
        kind = "server_error" if code in ("internal_error", "server_stopped") \
            else "upstream_error"
        return self._event({"error": {"message": message, "type": kind, "code": code}})

    def _begin(self) -> bytes:
        self.began = True
        return self._delta({"role": "assistant", "content": ""})

    def _stop(self, finish: str) -> bytes:
        if self.stopped:
            return b""
        self.stopped = True
        return self._chunk({}, finish)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self._chunk(delta, None)

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> bytes:
        return self._event({"id": self.id, "object": "chat.completion.chunk",
                            "created": self.created, "model": self.model,
                            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]})

    @staticmethod
    def _event(value: dict[str, Any]) -> bytes:
        return b"data: " + json_bytes(value) + b"\n\n"
