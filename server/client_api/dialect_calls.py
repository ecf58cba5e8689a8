"""A chat request in any client dialect, to a provider of any dialect: which dialect goes
upstream, the body it gets, and its answer (whole, or a DialectRelay) for the client.

The provider's own dialect when it speaks the client's: then the body and the answer pass
through untranslated. Otherwise its preferred one (its adapter's first), translated through
the internal model. Chat clients of chat providers never come here: pipeline.serve_openai
passes them through on the hot path.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from prometheus_client import Gauge

from server.client_api.call import Call, ClientError
from server.client_api.client_watch import WATCH_AFTER_S, given_up_if_client_leaves
from server.client_api.dialect_relay import DialectRelay, count_usage
from server.client_api.first_event import held_to_first_data
from server.client_api.usage import estimate_tokens, prompt_estimate
from server.dialects import CHAT, CODECS, MESSAGES
from server.dialects import model as m
from server.providers import Adapter, Answer, UpstreamError

# Headers of the client's that go on to a provider of the same dialect: Anthropic's beta
# features (Claude Code asks for several) work only where the provider sees them.
FORWARDED_HEADERS = {MESSAGES: ("anthropic-beta",)}


def dialects_of(adapter: Adapter) -> tuple[str, ...]:
    """The dialects a provider speaks, its preferred first (plug-ins: chat)."""
    return getattr(adapter, "dialects", None) or (CHAT,)


@dataclass(frozen=True)
class Plan:
    client: str
    provider: str

    @property
    def translated(self) -> bool:
        return self.client != self.provider

    @property
    def client_codec(self) -> ModuleType:
        return CODECS[self.client]

    @property
    def provider_codec(self) -> ModuleType:
        return CODECS[self.provider]


def plan(client: str, adapter: Adapter) -> Plan:
    spoken = dialects_of(adapter)
    return Plan(client, client if client in spoken else spoken[0])


def upstream_request(plan_: Plan, body: dict[str, Any], model: str) -> dict[str, Any]:
    """The body the provider gets: the client's with the upstream model, or translated
    (ClientError 400 naming the field where it cannot be read or carried)."""
    if not plan_.translated:
        return {**body, "model": model}
    try:
        request = plan_.client_codec.read_request(body)
        return plan_.provider_codec.write_request(request, model)
    except m.DialectError as exc:
        raise ClientError(400, str(exc), "invalid_request", param=exc.field) from None


def forwarded_headers(plan_: Plan, headers: Any) -> dict[str, str]:
    if plan_.translated:
        return {}
    return {name: headers[name] for name in FORWARDED_HEADERS.get(plan_.provider, ())
            if name in headers}


def usage_body(dialect: str, body: dict[str, Any]) -> dict[str, Any]:
    """A chat-shaped view of `body` for the quota's hold and the usage estimate: its
    prompt (system and messages, or instructions and input) and its output limit."""
    if dialect == CHAT:
        return body
    if dialect == MESSAGES:
        return {"messages": [body.get("system"), body.get("messages"), body.get("tools")],
                "max_tokens": body.get("max_tokens")}
    return {"messages": [body.get("instructions"), body.get("input"), body.get("tools")],
            "max_tokens": body.get("max_output_tokens")}


def whole_answer(call: Call, adapter: Adapter, plan_: Plan, forwarded: dict[str, Any],
                 body: dict[str, Any], headers: dict[str, str],
                 client: socket.socket | None) -> bytes:
    """The provider's answer for the client, as JSON bytes, with the call's usage."""
    with given_up_if_client_leaves(client, after_s=WATCH_AFTER_S):
        # UpstreamError: server/client_api/routing.py may try another target.
        answer = adapter.send(plan_.provider, forwarded, call.request_id, headers)
    call.mark_first_byte()
    try:
        reply = plan_.provider_codec.read_reply(answer)
    except m.UpstreamShapeError as exc:  # a broken provider: another target may answer
        raise UpstreamError(f"the upstream answer is not a valid {plan_.provider} answer: "
                            f"{exc}") from None
    _count(call, reply, body, plan_.client)
    if not call.rate_headers and isinstance(answer, Answer):
        call.rate_headers = answer.rate_limits
    if not plan_.translated and isinstance(answer, Answer):
        return answer.raw
    if reply.usage is None:  # the client is told what it is counted
        reply.usage = m.Usage(input=call.prompt_tokens, output=call.completion_tokens)
    out = plan_.client_codec.write_reply(reply, body.get("model"), body)
    return m.json_bytes(out)


def _count(call: Call, reply: m.Reply, body: dict[str, Any], client: str) -> None:
    if reply.usage is not None:
        count_usage(call, reply.usage)
        return
    call.usage_estimated = True
    call.prompt_tokens = prompt_estimate(usage_body(client, body))
    call.completion_tokens = sum(estimate_tokens(_text_of(p)) for p in reply.parts)


def _text_of(part: m.Text | m.Thinking | m.ToolCall) -> str:
    return part.arguments if isinstance(part, m.ToolCall) else part.text


def streamed_answer(call: Call, adapter: Adapter, plan_: Plan, forwarded: dict[str, Any],
                    body: dict[str, Any], headers: dict[str, str],
                    client: socket.socket | None, finish: Callable[[Call], None],
                    open_streams: Gauge,
                    ) -> DialectRelay:
    """Open the provider's stream, held until its first data event (first_event.py), and
    relay it, translated where the dialects differ."""
    opened = time.monotonic()
    with given_up_if_client_leaves(client, after_s=0):
        stream = adapter.open_stream(plan_.provider, forwarded, call.request_id, headers)
        stream = held_to_first_data(stream, plan_.provider, adapter, opened)
    if not call.rate_headers:
        call.rate_headers = stream.rate_limits
    return DialectRelay(call, stream, usage_body(plan_.client, body), finish, client,
                        open_streams, adapter.config.api_key,
                        reader=plan_.provider_codec.StreamReader(),
                        writer=plan_.client_codec.StreamWriter(body.get("model"), body),
                        translate=plan_.translated)

