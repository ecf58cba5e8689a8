"""The internal model of a chat exchange, which every dialect's codec reads and writes.

A dialect (OpenAI chat completions, OpenAI Responses, Anthropic Messages) is turned into
this model and back by pure functions in its own module (server/dialects/<dialect>.py):
no I/O, so codecs are tested on recorded fixtures and fuzzed. A request becomes a
`Request`; a whole answer a `Reply`; a streamed answer a sequence of `Event`s, translated
one by one as they arrive. Where client and provider speak the same dialect nothing is
translated: the bytes pass through (server/client_api/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]
# Why an answer ended. "end": the model finished its turn; "length": it hit the output
# limit; "tool_use": it asks for tool results; "stop_sequence": a stop sequence matched;
# "refusal": a safety system stopped it (content_filter, refusal).
StopReason = Literal["end", "length", "tool_use", "stop_sequence", "refusal"]
# How much a model may reason, where it can: OpenAI's efforts; Anthropic's thinking budget
# is mapped to and from them (see the codecs).
Effort = Literal["minimal", "low", "medium", "high"]


class DialectError(Exception):
    """A client request that cannot be read, or cannot be carried to the provider's
    dialect: the client gets a 400 in its own dialect's error shape, naming `field`
    (a path into its request, e.g. "messages[2].content[0].type")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UpstreamShapeError(Exception):
    """A provider's answer or event that no client could be given: a 502."""


# --- message parts -------------------------------------------------------------------


@dataclass
class Text:
    text: str


@dataclass
class Image:
    """An image: a URL (http(s) or a data: URL), or base64 `data` with its `media_type`."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None  # OpenAI's low/high/auto, where the client set it


@dataclass
class Thinking:
    """The model's reasoning, as the provider showed it. `signature` (Anthropic) or
    `encrypted` (OpenAI's encrypted reasoning) let that same provider check it when it
    comes back in a later request; other providers get neither."""

    text: str
    signature: str | None = None
    encrypted: str | None = None
    redacted: bool = False  # Anthropic's redacted_thinking: `encrypted` holds its data


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it (it may not parse)


@dataclass
class ToolResult:
    call_id: str
    content: list[Text | Image]
    is_error: bool = False


Part = Text | Image | Thinking | ToolCall | ToolResult


@dataclass
class Message:
    role: Role
    parts: list[Part]


# --- a request -----------------------------------------------------------------------


@dataclass
class Tool:
    name: str
    description: str | None
    parameters: dict[str, Any]  # a JSON schema
    strict: bool | None = None


@dataclass
class ToolChoice:
    """"auto", "none", "required" (some tool), or "tool" (the one named)."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None
    parallel: bool | None = None  # None: the provider's default


@dataclass
class Request:
    model: str
    messages: list[Message]
    system: list[Text] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    reasoning: Effort | None = None  # asked for; None: the provider's default
    reasoning_budget: int | None = None  # Anthropic's budget_tokens, where it was given
    user: str | None = None  # the end user, for the provider's abuse checks (see openai_user)
    # A JSON schema the answer must follow (OpenAI's response_format / text.format):
    # {"name", "schema", "strict"}; {"type": "json_object"} for any JSON.
    response_format: dict[str, Any] | None = None


# OpenAI refuses a `user` longer than this (400 string_above_max_length); Claude Code's
# metadata.user_id runs to ~150 characters.
OPENAI_USER_CHARS = 64


def openai_user(request: Request) -> str | None:
    """The request's end user as an OpenAI-shaped provider may be sent it: None where it
    is too long (an id cut short would name someone else)."""
    user = request.user
    return user if user is not None and len(user) <= OPENAI_USER_CHARS else None


# --- an answer -----------------------------------------------------------------------


@dataclass
class Usage:
    """Tokens, as the provider counted them. `input` includes `cached` (OpenAI's way;
    Anthropic's input_tokens leaves cache reads and writes out, its codec adds them);
    `output` includes `reasoning`."""

    input: int = 0
    output: int = 0
    cached: int = 0  # input tokens read from the provider's prompt cache
    cache_write: int = 0  # input tokens written to it (Anthropic bills them apart)
    reasoning: int = 0


@dataclass
class Reply:
    id: str
    model: str
    parts: list[Text | Thinking | ToolCall]
    stop: StopReason = "end"
    stop_sequence: str | None = None
    usage: Usage | None = None  # None: the provider said nothing believable


# --- a streamed answer ----------------------------------------------------------------


@dataclass
class Started:
    """The answer began (the provider's first event)."""

    id: str
    model: str
    usage: Usage | None = None  # what the provider knows this early (Anthropic: input)


@dataclass
class TextDelta:
    text: str


@dataclass
class ThinkingDelta:
    text: str = ""
    signature: str | None = None  # Anthropic sends it last, as a delta of its own
    encrypted: str | None = None


@dataclass
class ToolCallStarted:
    """A tool call begins. `index` tells parallel calls apart (their argument deltas
    may interleave in chat completions)."""

    index: int
    id: str
    name: str


@dataclass
class ToolArgumentsDelta:
    index: int
    text: str  # a piece of the arguments' JSON text


@dataclass
class Stopped:
    """Why the answer ended; its usage may still follow (chat completions sends it in a
    chunk of its own after the finish reason)."""

    reason: StopReason
    stop_sequence: str | None = None


@dataclass
class UsageSeen:
    usage: Usage


@dataclass
class Ended:
    """The provider's end of the answer ([DONE], message_stop, response.completed)."""


Event = (Started | TextDelta | ThinkingDelta | ToolCallStarted | ToolArgumentsDelta
         | Stopped | UsageSeen | Ended)

# The dialects, by the names the request log and the provider adapters use.
CHAT = "chat"  # OpenAI chat completions
RESPONSES = "responses"  # OpenAI Responses
MESSAGES = "messages"  # Anthropic Messages
DIALECTS = (CHAT, RESPONSES, MESSAGES)


def json_bytes(value: object, separators: tuple[str, str] | None = None) -> bytes:
    """`value` as UTF-8 JSON for a client; escaped to ASCII only where a string holds a
    lone surrogate (a provider may send "\\ud800": JSON escapes carry it, UTF-8 cannot).
    The encoders are built once: json.dumps with options builds one per call, per event."""
    utf8, ascii_only = _ENCODERS[separators]
    try:
        return utf8.encode(value).encode()
    except UnicodeEncodeError:
        return ascii_only.encode(value).encode()


_ENCODERS = {seps: (json.JSONEncoder(ensure_ascii=False, separators=seps),
                    json.JSONEncoder(separators=seps)) for seps in (None, (",", ":"))}
