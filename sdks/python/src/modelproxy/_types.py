"""The shapes of ModelProxy's JSON, as ``TypedDict`` s.

Responses are the server's JSON as plain ``dict`` s; these types only tell a type checker
(and a reader) which keys to expect. Keys a provider adds beyond these are kept as sent.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "ChatCompletion",
    "ChatCompletionChoice",
    "ChatCompletionChunk",
    "ChatCompletionChunkChoice",
    "ChatCompletionDelta",
    "ChatCompletionMessage",
    "ChatMessage",
    "Embedding",
    "EmbeddingsResponse",
    "EmbeddingsUsage",
    "Health",
    "Model",
    "ModelList",
    "Usage",
]


class _ChatMessageRequired(TypedDict):
    role: str


class ChatMessage(_ChatMessageRequired, total=False):
    """One message sent in ``messages``: ``{"role": "user", "content": "Hello"}``."""

    content: str | list[dict[str, Any]] | None
    name: str
    tool_calls: list[dict[str, Any]]
    tool_call_id: str


class Usage(TypedDict, total=False):
    """Model tokens used by a request."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionMessage(TypedDict, total=False):
    """The assistant's message in a choice."""

    role: str
    content: str | None
    refusal: str | None
    tool_calls: list[dict[str, Any]]


class ChatCompletionChoice(TypedDict, total=False):
    """One choice of a chat completion."""

    index: int
    message: ChatCompletionMessage
    finish_reason: str | None
    logprobs: Any


class ChatCompletion(TypedDict, total=False):
    """An OpenAI ``chat.completion`` object (the answer of ``chat_completion``)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatCompletionChoice]
    usage: Usage
    system_fingerprint: str | None


class ChatCompletionDelta(TypedDict, total=False):
    """What one stream chunk adds to the message."""

    role: str
    content: str | None
    refusal: str | None
    tool_calls: list[dict[str, Any]]


class ChatCompletionChunkChoice(TypedDict, total=False):
    """One choice of a stream chunk."""

    index: int
    delta: ChatCompletionDelta
    finish_reason: str | None
    logprobs: Any


class ChatCompletionChunk(TypedDict, total=False):
    """An OpenAI ``chat.completion.chunk`` object: one event of a streamed answer.

    With ``stream_options={"include_usage": True}`` the last chunk has no choices and
    carries ``usage``.
    """

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChatCompletionChunkChoice]
    usage: Usage | None


class Embedding(TypedDict, total=False):
    """One vector: a list of floats, or a base64 string with ``encoding_format="base64"``."""

    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingsUsage(TypedDict, total=False):
    """Model tokens used by an embeddings request."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(TypedDict, total=False):
    """The answer of ``embeddings``: one ``Embedding`` per input, in order."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingsUsage


class Model(TypedDict, total=False):
    """An endpoint the token may use, as ``GET /api/models`` lists it.

    ``id`` is the endpoint's name, ``endpoint`` its path, ``owned_by`` its provider,
    ``kind`` ``"chat"`` or ``"embeddings"`` and ``model`` the upstream model.
    """

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    endpoint: str
    kind: str
    model: str


class ModelList(TypedDict, total=False):
    """The answer of ``models``."""

    object: Literal["list"]
    data: list[Model]


class Health(TypedDict, total=False):
    """The answer of ``health``: ``{"status": "ok", "version": ..., "database": "ok"}``."""

    status: str
    version: str
    database: str
