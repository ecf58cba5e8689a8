"""Anthropic Messages streams: a provider's events read (StreamReader), a client's
events written (StreamWriter), as `event: <type>\\ndata: <json>\\n\\n`."""

from __future__ import annotations

import json
from typing import Any

from server.dialects.messages_common import (
    STOP_IN,
    STOP_OUT,
    new_id,
    sse,
    usage_fields,
    usage_in,
    usage_out,
)
from server.dialects.model import (
    Ended,
    Event,
    Started,
    Stopped,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCallStarted,
    UpstreamShapeError,
    Usage,
    UsageSeen,
)


def _field(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        raise UpstreamShapeError(f"a stream event's {key} is not {kind.__name__}")
    return value


class StreamReader:
    """A provider's Anthropic stream as events. Unknown event types are skipped (Anthropic
    says new ones may appear), as are blocks of unknown types and their deltas."""

    def __init__(self) -> None:
        self._usage: dict[str, int] = {}  # message_start's counts, updated by message_delta
        self._skipped: set[int] = set()

    def read(self, data: bytes) -> list[Event]:
        if not data.strip():
            return []
        try:
            event = json.loads(data)
        except ValueError:  # UnicodeDecodeError is one
            raise UpstreamShapeError("a stream event's data is not JSON") from None
        if not isinstance(event, dict):
            raise UpstreamShapeError("a stream event is not an object")
        handler = getattr(self, f"_on_{event.get('type')}", None)
        return handler(event) if handler else []

    def _counts(self, usage: Any) -> dict[str, int]:
        try:
            return usage_fields(usage)
        except ValueError as exc:
            raise UpstreamShapeError(f"a stream event's usage is malformed: {exc}") from None

    def _on_message_start(self, event: dict[str, Any]) -> list[Event]:
        message = _field(event, "message", dict)
        self._usage = self._counts(message.get("usage") or {})
        model = message.get("model")
        return [Started(id=_field(message, "id", str),
                        model=model if isinstance(model, str) else "",
                        usage=usage_in(self._usage) if self._usage else None)]

    def _on_content_block_start(self, event: dict[str, Any]) -> list[Event]:
        index = _field(event, "index", int)
        block = _field(event, "content_block", dict)
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            return [TextDelta(text)] if isinstance(text, str) and text else []
        if kind == "thinking":
            text = block.get("thinking")
            return [ThinkingDelta(text)] if isinstance(text, str) and text else []
        if kind == "redacted_thinking":
            return [ThinkingDelta(encrypted=_field(block, "data", str))]
        if kind == "tool_use":
            events: list[Event] = [ToolCallStarted(index, _field(block, "id", str),
                                                   _field(block, "name", str))]
            given = block.get("input")
            if isinstance(given, dict) and given:  # the whole input up front, not in deltas
                events.append(ToolArgumentsDelta(index, json.dumps(given, ensure_ascii=False)))
            return events
        self._skipped.add(index)
        return []

    def _on_content_block_delta(self, event: dict[str, Any]) -> list[Event]:
        index = _field(event, "index", int)
        delta = _field(event, "delta", dict)
        kind = delta.get("type")
        if index in self._skipped:
            return []
        if kind == "text_delta":
            return [TextDelta(_field(delta, "text", str))]
        if kind == "input_json_delta":
            text = _field(delta, "partial_json", str)
            return [ToolArgumentsDelta(index, text)] if text else []
        if kind == "thinking_delta":
            return [ThinkingDelta(_field(delta, "thinking", str))]
        if kind == "signature_delta":
            return [ThinkingDelta(signature=_field(delta, "signature", str))]
        return []  # citations_delta and what comes later: nothing other dialects carry

    def _on_message_delta(self, event: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        delta = event.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
            sequence = delta.get("stop_sequence")
            events.append(Stopped(STOP_IN.get(delta["stop_reason"], "end"),
                                  sequence if isinstance(sequence, str) else None))
        if event.get("usage") is not None:
            self._usage.update(self._counts(event["usage"]))
            events.append(UsageSeen(usage_in(self._usage)))
        return events

    def _on_message_stop(self, event: dict[str, Any]) -> list[Event]:
        return [Ended()]

    def _on_error(self, event: dict[str, Any]) -> list[Event]:
        error = event.get("error")
        error = error if isinstance(error, dict) else {}
        message = error.get("message") or error.get("type") or "the provider's stream failed"
        raise UpstreamShapeError(str(message))


class StreamWriter:
    """Events as an Anthropic client's stream. Text, thinking and each tool call get a
    block of their own, opened as the kind of event changes (never an empty text block).
    A tool call that starts while another is streaming its arguments is held and written
    whole when that one ends, so interleaved argument deltas never mix."""

    def __init__(self, model: str, body: Any) -> None:
        asked = body.get("model") if isinstance(body, dict) else None
        self._model = asked if isinstance(asked, str) else model
        self._id = new_id("msg")
        self._started = False
        self._blocks = 0  # blocks opened so far: the next one's index
        self._open: str | None = None  # "text", "thinking" or "tool_use"
        self._live: int | None = None  # the open tool call's index (the provider's)
        self._held: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self._seen: set[int] = set()  # tool call indexes started
        self._stop: StopReason = "end"
        self._sequence: str | None = None

    def write(self, event: Event) -> bytes:
        if isinstance(event, Started):
            if event.id.startswith("msg_"):
                self._id = event.id
            return self._start(event.usage)
        out = self._start(None)
        if isinstance(event, TextDelta) and event.text:
            out += self._switch("text", {"type": "text", "text": ""})
            out += self._delta({"type": "text_delta", "text": event.text})
        elif isinstance(event, ThinkingDelta):
            out += self._thinking(event)
        elif isinstance(event, ToolCallStarted):
            out += self._tool_started(event)
        elif isinstance(event, ToolArgumentsDelta) and event.text:
            if event.index == self._live:
                out += self._delta({"type": "input_json_delta", "partial_json": event.text})
            elif event.index in self._held:
                self._held[event.index][2] += event.text
        elif isinstance(event, Stopped):
            self._stop, self._sequence = event.reason, event.stop_sequence
            out += self._close_all()
        return out  # UsageSeen: end() is given the usage; Ended: end() closes the stream

    def end(self, usage: Usage) -> bytes:
        out = self._start(None) + self._close_all()
        counts = usage_out(usage)
        out += sse("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_OUT[self._stop],
                      "stop_sequence": self._sequence if self._stop == "stop_sequence" else None},
            "usage": {"output_tokens": counts.pop("output_tokens"), **counts}})
        return out + sse("message_stop", {"type": "message_stop"})

    def fail(self, message: str, code: str) -> bytes:
        lowered = (code or "").lower()
        kind = next((k for word, k in (("overload", "overloaded_error"),
                                       ("rate", "rate_limit_error"),
                                       ("timeout", "timeout_error")) if word in lowered),
                    "api_error")
        return sse("error", {"type": "error", "error": {"type": kind, "message": message}})

    # --- blocks ----------------------------------------------------------------------

    def _start(self, usage: Usage | None) -> bytes:
        if self._started:
            return b""
        self._started = True
        counts = usage_out(usage or Usage())
        message = {"id": self._id, "type": "message", "role": "assistant",
                   "model": self._model, "content": [], "stop_reason": None,
                   "stop_sequence": None, "usage": counts}
        return (sse("message_start", {"type": "message_start", "message": message})
                + sse("ping", {"type": "ping"}))

    def _thinking(self, event: ThinkingDelta) -> bytes:
        out = b""
        if event.text:
            out += self._switch("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out += self._delta({"type": "thinking_delta", "thinking": event.text})
        if event.signature and self._open == "thinking":
            out += self._delta({"type": "signature_delta", "signature": event.signature})
        return out  # `encrypted`: another dialect's reasoning, Anthropic could not check it

    def _tool_started(self, event: ToolCallStarted) -> bytes:
        if event.index in self._seen:
            return b""
        self._seen.add(event.index)
        if self._open == "tool_use":
            self._held[event.index] = [event.id, event.name, ""]
            return b""
        out = self._switch("tool_use", {"type": "tool_use", "id": event.id,
                                        "name": event.name, "input": {}})
        self._live = event.index
        return out

    def _switch(self, kind: str, block: dict[str, Any]) -> bytes:
        """The block of `kind` open: whatever else was open closed first."""
        if self._open == kind and kind != "tool_use":
            return b""
        out = self._close_all()
        self._open = kind
        self._blocks += 1
        return out + sse("content_block_start", {"type": "content_block_start",
                                                 "index": self._blocks - 1,
                                                 "content_block": block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse("content_block_delta", {"type": "content_block_delta",
                                           "index": self._blocks - 1, "delta": delta})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open, self._live = None, None
        return sse("content_block_stop", {"type": "content_block_stop",
                                          "index": self._blocks - 1})

    def _close_all(self) -> bytes:
        """The open block closed, then each held tool call written whole."""
        out = self._close()
        held, self._held = self._held, {}
        for call_id, name, arguments in held.values():
            out += self._switch("tool_use", {"type": "tool_use", "id": call_id,
                                             "name": name, "input": {}})
            if arguments:
                out += self._delta({"type": "input_json_delta", "partial_json": arguments})
            out += self._close()
        return out
