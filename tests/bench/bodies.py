"""The benchmark's request bodies: one agent-like exchange in each client dialect.

The same conversation in chat completions, Anthropic Messages and OpenAI Responses: a
system prompt, a user question, the assistant's tool call, its result, a follow-up, and two
function tools, so the translated dialects are compared with pass-through on equal work.
Today's figures keep their one-line chat body (loadgen.CHAT_BODY) to stay comparable with
earlier runs.
"""

from __future__ import annotations

import json
from typing import Any

CHAT, MESSAGES, RESPONSES = "chat", "messages", "responses"
PATHS = {CHAT: "/v1/chat/completions", MESSAGES: "/v1/messages", RESPONSES: "/v1/responses"}
# The bytes that end a complete answer's stream in each dialect.
STREAM_ENDS = {CHAT: b"data: [DONE]", MESSAGES: b"event: message_stop",
               RESPONSES: b"event: response.completed"}

SYSTEM = ("You are a careful travel assistant. Answer briefly, in plain sentences. Use the "
          "tools for live facts (weather, local time) instead of guessing, and say which "
          "city each fact is for.")
QUESTION = "What is the weather in Paris right now, and what time is it there?"
FOLLOW_UP = "Thanks. Is it warmer in Lisbon?"
CALL_ID = "call_bench0001"
CALL_ARGS = json.dumps({"city": "Paris", "unit": "celsius"})
RESULT = json.dumps({"city": "Paris", "temperature": 14, "unit": "celsius",
                     "sky": "overcast", "local_time": "15:42"})
MAX_TOKENS = 256
TOOLS = [
    ("get_weather", "The current weather in a city.",
     {"type": "object", "properties": {"city": {"type": "string"},
                                       "unit": {"type": "string",
                                                "enum": ["celsius", "fahrenheit"]}},
      "required": ["city"]}),
    ("get_local_time", "The local time in a city, as HH:MM.",
     {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
]


def chat(model: str, stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model, "max_tokens": MAX_TOKENS, "stream": stream,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": CALL_ID, "type": "function",
                 "function": {"name": "get_weather", "arguments": CALL_ARGS}}]},
            {"role": "tool", "tool_call_id": CALL_ID, "content": RESULT},
            {"role": "user", "content": FOLLOW_UP},
        ],
        "tools": [{"type": "function", "function": {"name": n, "description": d,
                                                    "parameters": p}} for n, d, p in TOOLS],
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def messages(model: str, stream: bool = False) -> dict[str, Any]:
    return {
        "model": model, "max_tokens": MAX_TOKENS, "stream": stream, "system": SYSTEM,
        "messages": [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": CALL_ID, "name": "get_weather",
                 "input": json.loads(CALL_ARGS)}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": CALL_ID, "content": RESULT},
                {"type": "text", "text": FOLLOW_UP}]},
        ],
        "tools": [{"name": n, "description": d, "input_schema": p} for n, d, p in TOOLS],
    }


def responses(model: str, stream: bool = False) -> dict[str, Any]:
    return {
        "model": model, "max_output_tokens": MAX_TOKENS, "stream": stream, "store": False,
        "instructions": SYSTEM,
        "input": [
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": QUESTION}]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Let me check."}]},
            {"type": "function_call", "call_id": CALL_ID, "name": "get_weather",
             "arguments": CALL_ARGS},
            {"type": "function_call_output", "call_id": CALL_ID, "output": RESULT},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": FOLLOW_UP}]},
        ],
        "tools": [{"type": "function", "name": n, "description": d, "parameters": p}
                  for n, d, p in TOOLS],
    }


BUILDERS = {CHAT: chat, MESSAGES: messages, RESPONSES: responses}


def body(dialect: str, model: str, stream: bool = False) -> str:
    """The dialect's body as JSON text."""
    return json.dumps(BUILDERS[dialect](model, stream))
