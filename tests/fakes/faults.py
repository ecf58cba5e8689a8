"""Fault modes of the fake upstream, each chosen per provider by its base URL.

A provider whose base URL is ``fake.fault_url(MODE)`` (``<fake.url>/fault/MODE/v1``) or
``fake.fault_url(MODE, ARG)`` (``<fake.url>/fault/MODE:ARG/v1``) gets that mode's answers;
a provider on ``fake.base_url`` gets normal ones, so two providers on one fake behave
differently. ``GET /v1/models`` is always answered normally (servers check their providers
at start), and the fake's own faults (``fail_next``, ``set_delay``, ...) act before any mode.
Requests are recorded as usual, the ``/fault/...`` prefix kept in ``path``.

Modes (``ARG`` optional; "stream" = a chat request with ``"stream": true``):

``huge_event[:BYTES]``
    stream: the role chunk, then one ``data:`` event of BYTES (default 20,000,000) bytes
    sent as fast as it goes, with no blank line until its end; then ``[DONE]``.
``huge_answer[:BYTES]``
    whole chat or embeddings answer: valid JSON about BYTES long (default 50,000,000; the
    content, or the embedding as base64), chunked, so its size is known only at the end.
``drip[:SECONDS]``
    the normal answer (stream or whole), one byte per chunk, SECONDS apart (default 0.5).
``garbage``
    any POST: 200, ``application/octet-stream``, bytes that are neither JSON nor SSE.
``plain_json``
    stream: 200 ``application/json`` with a whole ``chat.completion``, as a server that
    ignores ``stream`` would.
``error_200``
    any POST: 200 ``application/json`` whose body is an OpenAI error object.
``str_delta``
    stream: the role chunk, then ``{"choices": [{"delta": "str"}]}``, then the rest.
``error_event``
    stream: the role chunk, then the provider's own error as an event
    (``data: {"error": {...}}``, as OpenRouter sends one mid-stream), then the end.
``key_error_event[:CHARS]``
    stream: as ``error_event``, but the message quotes the key the request came with (its
    ``Authorization: Bearer`` value) after CHARS characters (default 0), as a provider's
    "Incorrect API key provided: ..." does; CHARS puts the key where a message is cut.
``content_parts``
    stream: the normal stream with each delta's ``content`` a list of text parts
    (``[{"type": "text", "text": ...}]``), as some OpenAI-compatible servers send it.
``after_done[:SECONDS]``
    stream: the normal stream through ``[DONE]``, then SECONDS later (default 1) a
    keep-alive comment, then the end. A client that leaves before (as it may, at
    ``[DONE]``) counts in ``streams_aborted``.
``stall``
    stream: the role chunk, then silence until the client leaves; whole answer: no answer
    at all until the client leaves (up to STALL_S). Counted in ``streams_aborted`` /
    ``requests_abandoned`` when the client leaves.
``half_event``
    stream, unframed (HTTP/1.0 style: no Content-Length, no chunks; the body ends when the
    connection closes, as many SSE servers answer): the role chunk and the first half of a
    content event, then silence until the client leaves (counted in ``streams_aborted``).
``drop[:N]``
    stream: the role chunk and N content chunks (default 2), then a FIN, never ``[DONE]``.
``negative_usage``, ``usage_many``, ``usage_list``
    whole answers (chat, embeddings) and the stream's usage chunk carry
    ``prompt_tokens: -1000000``, ``completion_tokens: "many"``, or ``usage: []``.
``null_message``
    whole chat answer: ``choices[0].message`` is ``null``.
``error_first[:COMMENTS]``
    stream of any dialect (chat, ``/v1/messages``, ``/v1/responses``): 200, COMMENTS
    keep-alive comments (default 0; ``: OPENROUTER PROCESSING``), then the provider's own
    error as the very first data event, in the request's dialect: OpenRouter's ``data:
    {"error": {"code": 502, ...}}``, Anthropic's ``event: error`` ``overloaded_error``,
    ``response.failed`` with ``server_error``; then the end.
``error_after_opening``
    ``/v1/messages`` and ``/v1/responses`` streams: as ``error_first``, after the events
    that open an answer but carry none of it (the recorded shapes): Anthropic's
    ``message_start`` and ``ping``, ``response.created`` and ``response.in_progress``.
``client_error_first[:COMMENTS]``
    as ``error_first``, with an error that is the client's fault (context length,
    ``invalid_request_error``, ``invalid_prompt``).
``comments_first[:COMMENTS]``
    stream of any dialect: COMMENTS keep-alive comments (default 2), then the normal
    stream (the fake's ``stream_delay`` between events, comments included).
``surrogate_error[:STATUS]``
    any POST: STATUS (default 500) with an OpenAI error whose message holds a lone
    surrogate as a JSON escape (``\\ud800``), which decodes to a str that cannot be encoded
    as UTF-8.

Streams count in ``open_streams`` and end in ``streams_completed`` or ``streams_aborted``;
a whole answer cut short by the client (a ``huge_answer`` refused half-way, a ``drip``)
counts in ``requests_abandoned``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from tests.fakes import anthropic_replies, responses_replies
from tests.fakes.anthropic_replies import anthropic_error
from tests.fakes.replies import (
    DONE,
    ChatReply,
    chat_reply,
    completion,
    embeddings_list,
    openai_error,
    sse_line,
    stream_chunks,
    stream_lines,
)

if TYPE_CHECKING:
    from tests.fakes.upstream import _Handler

PREFIX = "/fault/"
STALL_S = 300.0  # "forever", but a stalled thread still ends by itself
PIECE = 1 << 20  # huge bodies are written a MiB at a time
SSE = "text/event-stream; charset=utf-8"
JSON = "application/json"
CHAT, EMBEDDINGS = "/v1/chat/completions", "/v1/embeddings"
MESSAGES, RESPONSES = "/v1/messages", "/v1/responses"
COMMENT = b": OPENROUTER PROCESSING\n\n"
GARBAGE = b"\x00\xff\xfe<html>not an answer</html>\r\n\r\n{\"choices\": [\x81\x82"
SURROGATE_ERROR = (b'{"error": {"message": "the model broke on \\ud800 here", '
                   b'"type": "server_error", "param": null, "code": null}}')
BAD_USAGE: dict[str, Any] = {
    "negative_usage": {"prompt_tokens": -1000000, "completion_tokens": 3,
                       "total_tokens": -999997},
    "usage_many": {"prompt_tokens": 4, "completion_tokens": "many", "total_tokens": 4},
    "usage_list": [],
}


@dataclasses.dataclass(frozen=True)
class Fault:
    """A mode and its optional numeric argument, as the base URL names them."""

    mode: str
    arg: float | None = None

    def number(self, default: float) -> float:
        return default if self.arg is None else self.arg


def fault_path(mode: str, arg: float | None = None) -> str:
    """The path prefix that selects `mode` (a provider's base URL is fake.url + this)."""
    if mode not in MODES:
        raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(sorted(MODES))}")
    return f"{PREFIX}{mode}" + ("" if arg is None else f":{arg:g}") + "/v1"


def parse(path: str) -> tuple[Fault | None, str]:
    """Split ``/fault/MODE[:ARG]/rest`` into the fault and ``/rest``; other paths as they are."""
    if not path.startswith(PREFIX):
        return None, path
    name, _, rest = path[len(PREFIX):].partition("/")
    mode, _, arg = name.partition(":")
    try:
        number = float(arg) if arg else None
    except ValueError:
        number = None
    return (Fault(mode, number) if mode in MODES else None), "/" + rest


def serve(h: _Handler, fault: Fault, path: str, body: Any) -> bool:
    """Answer the request the fault's way; False when the mode leaves it to normal handling."""
    request = Request(path, body if isinstance(body, dict) else {})
    if fault.mode in ANY_DIALECT:  # streams of the three chat dialects, in their shapes
        return path in DIALECT_OF and request.body.get("stream") is True \
            and MODES[fault.mode](h, fault, request)
    if path not in (CHAT, EMBEDDINGS) or (path == CHAT and not request.chat_ok):
        return False
    return MODES[fault.mode](h, fault, request)


@dataclasses.dataclass(frozen=True)
class Request:
    path: str
    body: dict[str, Any]

    @property
    def chat_ok(self) -> bool:
        return isinstance(self.body.get("messages"), list)

    @property
    def streamed(self) -> bool:
        return self.path == CHAT and self.body.get("stream") is True

    @property
    def embeddings(self) -> bool:
        return self.path == EMBEDDINGS and bool(self.body.get("input"))

    def reply(self, **changes: Any) -> ChatReply:
        return dataclasses.replace(chat_reply(self.body), **changes)


# --- the modes -------------------------------------------------------------------------


def huge_event(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    size = int(fault.number(20_000_000))

    def lines() -> Iterator[bytes]:
        yield sse_line(stream_chunks(req.reply(), 1, False)[0])
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "'
        yield from _filler(size)
        yield b'"}}]}\n\n'
        yield DONE

    h._stream(lines())
    return True


def huge_answer(h: _Handler, fault: Fault, req: Request) -> bool:
    if req.streamed or not (req.chat_ok or req.embeddings):
        return False
    marker = "\x00HUGE\x00"
    if req.path == CHAT:
        answer = completion(req.reply(content=marker))
    else:
        answer = embeddings_list({**req.body, "input": "x"}, 1)
        answer["data"][0]["embedding"] = marker
    head, tail = json.dumps(answer).split(json.dumps(marker)[1:-1])
    pieces = [head.encode(), *_filler(int(fault.number(50_000_000)), b"A"), tail.encode()]
    _send_whole(h, pieces, JSON)
    return True


def drip(h: _Handler, fault: Fault, req: Request) -> bool:
    data, ctype = _normal_bytes(h, req)
    interval = fault.number(0.5)
    pieces = (data[i:i + 1] for i in range(len(data)))
    if req.streamed:
        h._stream(pieces, content_type=ctype, gap=interval)
    else:
        _send_whole(h, pieces, ctype, gap=interval)
    return True


def garbage(h: _Handler, fault: Fault, req: Request) -> bool:
    h._send(200, GARBAGE, ctype="application/octet-stream")
    return True


def plain_json(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    h._send(200, completion(req.reply()))
    return True


def error_200(h: _Handler, fault: Fault, req: Request) -> bool:
    h._send(200, openai_error("The server had an error processing your request.",
                              "server_error"))
    return True


def str_delta(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    lines = stream_lines(req.reply(), max(1, h.server.fake.stream_chunks), False)
    wrong = sse_line({"id": "chatcmpl-wrong", "object": "chat.completion.chunk",
                      "choices": [{"index": 0, "delta": "str"}]})
    h._stream([lines[0], wrong, *lines[1:]])
    return True


def error_event(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    role = sse_line(stream_chunks(req.reply(), 1, False)[0])
    h._stream([role, sse_line(openai_error("The model is overloaded.", "server_error"))])
    return True


def key_error_event(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    key = h.headers.get("Authorization", "").removeprefix("Bearer ")
    message = "x" * int(fault.number(0)) + f"Incorrect API key provided: {key}."
    role = sse_line(stream_chunks(req.reply(), 1, False)[0])
    h._stream([role, sse_line(openai_error(message, "invalid_request_error"))])
    return True


def content_parts(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    chunks = stream_chunks(req.reply(), max(1, h.server.fake.stream_chunks),
                           h._wants_usage(req.body))
    for chunk in chunks:
        for choice in chunk["choices"]:
            if choice["delta"].get("content"):
                choice["delta"]["content"] = [{"type": "text",
                                               "text": choice["delta"]["content"]}]
    h._stream([*(sse_line(c) for c in chunks), DONE])
    return True


def after_done(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    fake = h.server.fake
    lines = stream_lines(req.reply(), max(1, fake.stream_chunks), h._wants_usage(req.body))
    h._start_chunked(200, SSE)
    fake._count(open_streams=1)
    try:
        for line in lines:
            h._write_chunk(line)
        if not h._wait(fault.number(1.0)):
            raise ConnectionResetError("client went away")
        h._write_chunk(b": keep-alive\n\n")
        h._write_chunk(b"")
        fake._count(streams_completed=1)
    except OSError:
        h.close_connection = True
        fake._count(streams_aborted=1)
    finally:
        fake._count(open_streams=-1)
    return True


def half_event(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    fake = h.server.fake
    h.close_connection = True  # the body's end is the connection's
    h.send_response(200)
    h.send_header("Content-Type", SSE)
    h.end_headers()
    fake._count(open_streams=1)
    try:
        role = sse_line(stream_chunks(req.reply(), 1, False)[0])
        content = sse_line(stream_chunks(req.reply(), 1, False)[1])
        h.wfile.write(role + content[:len(content) // 2])
        if not h._wait(STALL_S):
            fake._count(streams_aborted=1)
    except OSError:
        fake._count(streams_aborted=1)
    finally:
        fake._count(open_streams=-1)
    return True


def stall(h: _Handler, fault: Fault, req: Request) -> bool:
    fake = h.server.fake
    if not req.streamed:
        if not h._wait(STALL_S):
            fake._count(requests_abandoned=1)
        h.close_connection = True
        return True
    h._start_chunked(200, SSE)
    fake._count(open_streams=1)
    try:
        h._write_chunk(sse_line(stream_chunks(req.reply(), 1, False)[0]))
        if not h._wait(STALL_S):
            fake._count(streams_aborted=1)
    except OSError:
        fake._count(streams_aborted=1)
    finally:
        h.close_connection = True
        fake._count(open_streams=-1)
    return True


def drop(h: _Handler, fault: Fault, req: Request) -> bool:
    if not req.streamed:
        return False
    n = max(1, h.server.fake.stream_chunks)
    h._stream(stream_lines(req.reply(), n, h._wants_usage(req.body)),
              send_only=1 + min(int(fault.number(2)), n))
    return True


def bad_usage(h: _Handler, fault: Fault, req: Request) -> bool:
    usage = BAD_USAGE[fault.mode]
    if req.embeddings:
        answer = embeddings_list(req.body, h.server.fake.embedding_dim)
        h._send(200, {**answer, "usage": usage})
    elif req.streamed:
        n = max(1, h.server.fake.stream_chunks)
        h._stream(stream_lines(req.reply(usage=usage), n, h._wants_usage(req.body)))
    else:
        h._send(200, completion(req.reply(usage=usage)))
    return True


def null_message(h: _Handler, fault: Fault, req: Request) -> bool:
    if req.streamed or req.path != CHAT:
        return False
    h._send(200, completion(req.reply(), message=None))
    return True


def surrogate_error(h: _Handler, fault: Fault, req: Request) -> bool:
    h._send(int(fault.number(500)), SURROGATE_ERROR, ctype=JSON)
    return True


# The provider's error as a stream's first event, by dialect: (a server error, the
# client's fault).
FIRST_ERRORS: dict[str, tuple[bytes, bytes]] = {
    "chat": (sse_line({"error": {"code": 502, "message": "Provider returned error",
                                 "metadata": {"provider_name": "Upstream"}}}),
             sse_line(openai_error("This model's maximum context length is 10 tokens.",
                                   "invalid_request_error", "context_length_exceeded"))),
    "messages": (anthropic_replies.event("error", anthropic_error(529, "Overloaded")),
                 anthropic_replies.event("error", anthropic_error(400, "prompt is too long"))),
    "responses": tuple(anthropic_replies.event("response.failed", {
        "type": "response.failed", "sequence_number": 0, "response": {
            "id": "resp_failed", "object": "response", "status": "failed", "output": [],
            "error": {"code": code, "message": message}}})
        for code, message in (("server_error", "The model failed to answer."),
                              ("invalid_prompt", "The prompt was flagged.")))}
DIALECT_OF = {CHAT: "chat", MESSAGES: "messages", RESPONSES: "responses"}


def error_first(h: _Handler, fault: Fault, req: Request) -> bool:
    server_error, client_error = FIRST_ERRORS[DIALECT_OF[req.path]]
    error = client_error if fault.mode == "client_error_first" else server_error
    opening = _normal_stream(h, req)[:2] if fault.mode == "error_after_opening" else []
    h._stream([COMMENT] * int(fault.number(0)) + opening + [error])
    return True


def _normal_stream(h: _Handler, req: Request) -> list[bytes]:
    """The stream's events as the fake sends them normally, in the request's dialect."""
    fake, n = h.server.fake, max(1, h.server.fake.stream_chunks)
    if req.path == CHAT:
        return stream_lines(req.reply(), n, h._wants_usage(req.body))
    if req.path == MESSAGES:
        return anthropic_replies.stream_events(req.body, n, fake.script)
    return responses_replies.stream_events(req.body, n, fake.script)


def comments_first(h: _Handler, fault: Fault, req: Request) -> bool:
    h._stream([COMMENT] * int(fault.number(2)) + _normal_stream(h, req))
    return True


MODES: dict[str, Callable[[_Handler, Fault, Request], bool]] = {
    "huge_event": huge_event, "huge_answer": huge_answer, "drip": drip, "garbage": garbage,
    "plain_json": plain_json, "error_200": error_200, "str_delta": str_delta,
    "error_event": error_event, "key_error_event": key_error_event,
    "content_parts": content_parts, "after_done": after_done, "half_event": half_event,
    "stall": stall, "drop": drop,
    "negative_usage": bad_usage, "usage_many": bad_usage, "usage_list": bad_usage,
    "null_message": null_message, "surrogate_error": surrogate_error,
    "error_first": error_first, "client_error_first": error_first,
    "error_after_opening": error_first, "comments_first": comments_first,
}
ANY_DIALECT = {"error_first", "client_error_first", "error_after_opening", "comments_first"}


# --- helpers ---------------------------------------------------------------------------


def _filler(size: int, byte: bytes = b"x") -> Iterator[bytes]:
    piece = byte * PIECE
    for _ in range(size // PIECE):
        yield piece
    if size % PIECE:
        yield byte * (size % PIECE)


def _normal_bytes(h: _Handler, req: Request) -> tuple[bytes, str]:
    """The answer the fake would give normally, as bytes, with its content type."""
    if req.streamed:
        n = max(1, h.server.fake.stream_chunks)
        return b"".join(stream_lines(req.reply(), n, h._wants_usage(req.body))), SSE
    if req.path == CHAT:
        return json.dumps(completion(req.reply())).encode(), JSON
    return json.dumps(embeddings_list(req.body, h.server.fake.embedding_dim)).encode(), JSON


def _send_whole(h: _Handler, pieces: Iterable[bytes], ctype: str, gap: float = 0) -> None:
    """A whole answer, chunked, `gap` seconds between pieces; a client that leaves (or stops
    reading) half-way counts as abandoning it."""
    h._start_chunked(200, ctype)
    try:
        for i, piece in enumerate(pieces):
            if i and gap and not h._wait(gap):
                raise ConnectionResetError("client went away")
            h._write_chunk(piece)
        h._write_chunk(b"")
    except OSError:
        h.close_connection = True
        h.server.fake._count(requests_abandoned=1)
