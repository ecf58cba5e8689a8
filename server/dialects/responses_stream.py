"""OpenAI Responses streams: a provider's events read into the internal stream events
(StreamReader). Written for a client: responses_stream_write.py (StreamWriter)."""

from __future__ import annotations

import json

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
    UsageSeen,
)
from server.dialects.responses_out import (
    incomplete_stop,
    new_id,
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
