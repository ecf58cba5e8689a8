"""OpenAI Responses streams: a provider's events read into the internal stream events
(StreamReader), and the internal events written as a Responses stream for a client
(StreamWriter), with the lifecycle Codex needs: every output item added and done, and
response.completed with the usage last."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from server.dialects.model import (
    Ended,
    Event,
    Started,
    Stopped,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCall,
    ToolCallStarted,
    UpstreamShapeError,
    Usage,
    UsageSeen,
)
from server.dialects.responses_out import (
    INCOMPLETE,
    call_item,
    incomplete_stop,
    message_item,
    new_id,
    reasoning_item,
    response_object,
    text_part,
    usage_of,
)


class StreamReader:
    """A Responses provider's stream, one SSE event's data at a time."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}  # a function_call item's id -> its output_index
        self.argued: set[int] = set()  # calls whose arguments have been seen
        self.tool_use = False

    def read(self, data: bytes) -> list[Event]:
        try:
            event = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise UpstreamShapeError("a stream event is not JSON") from None
        if not isinstance(event, dict):
            raise UpstreamShapeError("a stream event is not a JSON object")
        kind = event.get("type")
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            return [TextDelta(_delta(event))]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [ThinkingDelta(_delta(event))]
        if kind == "response.reasoning_summary_part.added":
            index = event.get("summary_index")
            return [ThinkingDelta("\n\n")] if isinstance(index, int) and index > 0 else []
        if kind == "response.function_call_arguments.delta":
            index = self._call_index(event)
            self.argued.add(index)
            return [ToolArgumentsDelta(index, _delta(event))]
        if kind in ("response.output_item.added", "response.output_item.done"):
            return self._item(event)
        if kind == "response.created":
            response = _response(event)
            return [Started(str(response.get("id") or new_id("resp")),
                            str(response.get("model") or ""))]
        if kind in ("response.completed", "response.incomplete"):
            return self._end(kind, _response(event))
        if kind == "response.failed":
            error = _response(event).get("error")
            message = error.get("message") if isinstance(error, dict) else None
            raise UpstreamShapeError(str(message or "the provider's response failed"))
        if kind == "error":
            raise UpstreamShapeError(str(event.get("message") or "the provider sent an error"))
        return []  # lifecycle and hosted-tool events carry nothing more

    def _item(self, event: dict) -> list[Event]:
        item, index = event.get("item"), event.get("output_index")
        if not isinstance(item, dict) or not isinstance(index, int):
            raise UpstreamShapeError(f"{event['type']} without its item and output_index")
        if item.get("type") == "reasoning" and event["type"].endswith(".done"):
            encrypted = item.get("encrypted_content")
            return [ThinkingDelta(encrypted=encrypted)] if isinstance(encrypted, str) else []
        if item.get("type") != "function_call":
            return []
        events: list[Event] = []
        if index not in self.calls.values():
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise UpstreamShapeError("a function_call item without call_id and name")
            self.calls[str(item.get("id") or call_id)] = index
            self.tool_use = True
            events.append(ToolCallStarted(index, call_id, name))
        arguments = item.get("arguments")
        if index not in self.argued and isinstance(arguments, str) and arguments:
            self.argued.add(index)  # sent whole, not in deltas
            events.append(ToolArgumentsDelta(index, arguments))
        return events

    def _call_index(self, event: dict) -> int:
        index = self.calls.get(str(event.get("item_id")), event.get("output_index"))
        if not isinstance(index, int) or index not in self.calls.values():
            raise UpstreamShapeError("function call arguments before their call")
        return index

    def _end(self, kind: str, response: dict) -> list[Event]:
        if kind == "response.incomplete":
            stop = incomplete_stop(response)
        else:
            stop = "tool_use" if self.tool_use else "end"
        usage = usage_of(response)
        return [Stopped(stop)] + ([UsageSeen(usage)] if usage else []) + [Ended()]  # type: ignore[arg-type]


def _delta(event: dict) -> str:
    delta = event.get("delta")
    if not isinstance(delta, str):
        raise UpstreamShapeError(f"{event['type']} without a text delta")
    return delta


def _response(event: dict) -> dict:
    response = event.get("response")
    return response if isinstance(response, dict) else {}


# --- writing -------------------------------------------------------------------------


@dataclass
class _Item:
    """An output item being streamed: a message, a reasoning item or a function call."""

    kind: str
    id: str
    index: int
    text: str = ""  # the message's text, the reasoning summary, the call's arguments
    call_id: str = ""
    name: str = ""
    signature: str | None = None
    encrypted: str | None = None
    summary: bool = False  # a reasoning item's summary part was added
    done: bool = False

    def final(self, status: str = "completed", body: Any = None) -> dict:
        if self.kind == "message":
            return message_item(self.text, self.id, status)
        if self.kind == "reasoning":
            return reasoning_item(Thinking(self.text, self.signature, self.encrypted), self.id)
        return call_item(ToolCall(self.call_id, self.name, self.text), self.id, status, body)


class StreamWriter:
    """A Responses stream for a client that sent `body` for `model`."""

    def __init__(self, model: str, body: Any) -> None:
        self.model, self.body = model, body
        self.id, self.created = new_id("resp"), int(time.time())
        self.seq = 0
        self.started = self.finished = False
        self.items: list[_Item] = []
        self.calls: dict[int, _Item] = {}  # by the event's tool call index
        self.stop = "end"

    def write(self, event: Event) -> bytes:
        if self.finished:
            return b""
        out = self._start()
        if isinstance(event, TextDelta) and event.text:
            item, out = self._current("message", out)
            item.text += event.text
            out += self._emit("response.output_text.delta", item, content_index=0,
                              delta=event.text, logprobs=[])
        elif isinstance(event, ThinkingDelta):
            out += self._thinking(event)
        elif isinstance(event, ToolCallStarted) and event.index not in self.calls:
            out += self._close(lambda i: i.kind != "function_call")
            item = self._add(_Item("function_call", new_id("fc"), len(self.items),
                                   call_id=event.id, name=event.name))
            self.calls[event.index] = item
            out += self._added(item, item.final("in_progress", self.body))
        elif isinstance(event, ToolArgumentsDelta) and event.index in self.calls:
            item = self.calls[event.index]
            if not item.done and event.text:
                item.text += event.text
                out += self._emit("response.function_call_arguments.delta", item,
                                  delta=event.text)
        elif isinstance(event, Stopped):
            self.stop = event.reason
        return out

    def end(self, usage: Usage) -> bytes:
        """The open items done, then response.completed (response.incomplete where the
        answer was cut short) with the whole response and its usage."""
        if self.finished:
            return b""
        out = self._start() + self._close(lambda i: True)
        self.finished = True
        status = "incomplete" if self.stop in INCOMPLETE else "completed"
        output = [i.final(body=self.body) for i in self.items]
        response = response_object(self.id, self.created, self.model, self.body, output,
                                   status, usage, self.stop)
        return out + self._event(f"response.{status}", response=response)

    def fail(self, message: str, code: str) -> bytes:
        """response.failed, with the error's code as given (Codex reads codes such as
        context_length_exceeded and rate_limit_exceeded)."""
        if self.finished:
            return b""
        out = self._start()
        self.finished = True
        output = [i.final("completed" if i.done else "incomplete", self.body) for i in self.items]
        response = response_object(self.id, self.created, self.model, self.body, output,
                                   "failed", error={"code": code, "message": message})
        return out + self._event("response.failed", response=response)

    # --- items ---

    def _thinking(self, event: ThinkingDelta) -> bytes:
        open_ = self._open()
        sealed = (open_ is None or open_.kind != "reasoning" or bool(open_.signature)
                  or bool(open_.encrypted))
        out = b""
        if event.text:
            if sealed:  # a new thinking block (Anthropic signs each one)
                open_, out = self._current("reasoning", out, new=True)
            if not open_.summary:
                open_.summary = True
                out += self._emit("response.reasoning_summary_part.added", open_,
                                  summary_index=0, part={"type": "summary_text", "text": ""})
            open_.text += event.text
            out += self._emit("response.reasoning_summary_text.delta", open_,
                              summary_index=0, delta=event.text)
        if event.signature or event.encrypted:
            if open_ is None or open_.kind != "reasoning" or open_.signature or open_.encrypted:
                open_, out = self._current("reasoning", out, new=True)
            open_.signature = event.signature or open_.signature
            open_.encrypted = event.encrypted or open_.encrypted
        return out

    def _current(self, kind: str, out: bytes, new: bool = False) -> tuple[_Item, bytes]:
        """The open item of `kind`, or a new one after the open items are done."""
        open_ = self._open()
        if open_ is not None and open_.kind == kind and not new:
            return open_, out
        out += self._close(lambda i: True)
        item = self._add(_Item(kind, new_id("msg" if kind == "message" else "rs"),
                               len(self.items)))
        if kind == "message":
            out += self._added(item, message_item(None, item.id, "in_progress"))
            out += self._emit("response.content_part.added", item, content_index=0,
                              part=text_part(""))
        else:
            out += self._added(item, {"id": item.id, "type": "reasoning", "summary": []})
        return item, out

    def _open(self) -> _Item | None:
        return self.items[-1] if self.items and not self.items[-1].done else None

    def _add(self, item: _Item) -> _Item:
        self.items.append(item)
        return item

    def _added(self, item: _Item, shape: dict) -> bytes:
        return self._event("response.output_item.added", output_index=item.index, item=shape)

    def _close(self, which: Any) -> bytes:
        out = b""
        for item in self.items:
            if not item.done and which(item):
                out += self._done(item)
        return out

    def _done(self, item: _Item) -> bytes:
        item.done = True
        out = b""
        if item.kind == "message":
            out += self._emit("response.output_text.done", item, content_index=0,
                              text=item.text, logprobs=[])
            out += self._emit("response.content_part.done", item, content_index=0,
                              part=text_part(item.text))
        elif item.kind == "reasoning" and item.summary:
            out += self._emit("response.reasoning_summary_text.done", item, summary_index=0,
                              text=item.text)
            out += self._emit("response.reasoning_summary_part.done", item, summary_index=0,
                              part={"type": "summary_text", "text": item.text})
        elif item.kind == "function_call":
            out += self._emit("response.function_call_arguments.done", item,
                              arguments=item.text)
        return out + self._event("response.output_item.done", output_index=item.index,
                                 item=item.final(body=self.body))

    # --- events ---

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        response = response_object(self.id, self.created, self.model, self.body, [],
                                   "in_progress")
        return (self._event("response.created", response=response)
                + self._event("response.in_progress", response=response))

    def _emit(self, kind: str, item: _Item, **fields: Any) -> bytes:
        return self._event(kind, item_id=item.id, output_index=item.index, **fields)

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return (f"event: {kind}\ndata: "
                + json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n\n").encode()
