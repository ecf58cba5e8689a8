"""OpenAI Responses streams written for a client (StreamWriter), from the internal
events, with the lifecycle Codex needs: every output item added and done, and
response.completed with the usage last. Read from a provider: responses_stream.py."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from server.dialects.model import (
    Event,
    Started,
    Stopped,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCall,
    ToolCallStarted,
    Usage,
    json_bytes,
)
from server.dialects.responses_out import (
    INCOMPLETE,
    call_item,
    message_item,
    new_id,
    reasoning_item,
    response_object,
    text_part,
)


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
        if isinstance(event, Started) and not self.started and event.id.startswith("resp_"):
            self.id = event.id  # a Responses provider's own: its failure ends that answer
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
        return (f"event: {kind}\ndata: ".encode() + json_bytes(data, (",", ":"))
                + b"\n\n")
