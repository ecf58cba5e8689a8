"""Reading and checking client request bodies. JSON whatever the Content-Type says
(plain `curl -d` sends a form type); a message naming the field for anything wrong."""

from __future__ import annotations

from typing import Any

from werkzeug import Request
from werkzeug.exceptions import RequestEntityTooLarge

from server.client_api.call import ClientError
from server.framing import BodyError
from server.jsonbody import InvalidJSON, parse_object


def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past `limit` bytes without reading the rest."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    # Without a Content-Length (chunked), werkzeug stops reading at the limit without a
    # word: allow one byte more, and a body that reaches it is too large.
    request.max_content_length = limit + 1
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    except BodyError as exc:  # malformed chunks, cut short, too slow
        raise ClientError(exc.status, exc.message, exc.code) from None
    if len(raw) > limit:
        raise _too_large(limit)
    try:
        return parse_object(raw)
    except InvalidJSON as exc:
        raise ClientError(400, str(exc), "invalid_json") from None


def check_chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise _bad("messages", "messages is required: a list of {role, content} objects")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "messages must be a non-empty list of {role, content} objects")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad("messages", f"messages[{i}] must be an object with a role")
        if not isinstance(message.get("role"), str) or not message["role"]:
            raise _bad("messages", f"messages[{i}].role is required and must be a string")
    _check_stream(body)


def check_embeddings(body: dict[str, Any]) -> None:
    value = body.get("input")
    if value is None:
        raise _bad("input", "input is required: a string or a list of strings")
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not value:
        raise _bad("input", "input must be a string or a non-empty list of strings")
    for item in value:
        is_tokens = isinstance(item, list) and all(isinstance(t, int) for t in item)
        if not (isinstance(item, str | int) or is_tokens) or isinstance(item, bool):
            raise _bad("input", "input must be a string or a list of strings (or token lists)")


def _check_stream(body: dict[str, Any]) -> None:
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _bad("stream", "stream must be true or false")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("stream_options", "stream_options must be an object")


def _bad(field: str, message: str) -> ClientError:
    return ClientError(400, message, "invalid_request", param=field)


def _too_large(limit: int) -> ClientError:
    return ClientError(413, f"the request body is larger than the limit of {limit} bytes",
                       "request_too_large")
