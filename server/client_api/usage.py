"""What a request uses in model tokens: reserved against its token's quota before it is
forwarded, read from the upstream answer (whole or streamed), estimated where the answer
says nothing believable.

Pure functions over dicts: no I/O, so the relay (whole answers, stream chunks), the quota
reservation and the tests all share one reading of the same numbers.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

# A count past this is not a real request's (today's largest context windows are a few
# million tokens) but a broken or hostile upstream's; believing it would use up a quota
# at once, and it would not fit the log's 32-bit columns on PostgreSQL.
MAX_COUNT = 100_000_000

Usage = tuple[int, int]  # (prompt tokens, completion tokens)


def count(value: Any) -> int | None:
    """`value` as a token count, or None unless it is a whole number 0..MAX_COUNT."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return value


def read_usage(usage: Any) -> Usage | None:
    """(prompt, completion) from an OpenAI `usage` object; None when it is absent or not
    to be believed (not an object, a count negative, not a whole number, or absurd).
    A missing or null `completion_tokens` is 0: embeddings answers have none."""
    if not isinstance(usage, dict):
        return None
    prompt = count(usage.get("prompt_tokens"))
    completion = usage.get("completion_tokens")
    completion = 0 if completion is None else count(completion)
    if prompt is None or completion is None:
        return None
    return prompt, completion


def cached_count(value: Any, prompt: int) -> int:
    """`value` as the count of `prompt`'s tokens read from the provider's prompt cache:
    0 unless it is a whole number 0..prompt. A bad count costs the request nothing it
    did not use: its tokens are then all priced as uncached input, the dearer price."""
    counted = count(value)
    return counted if counted is not None and counted <= prompt else 0


def read_cached(usage: Any, prompt: int) -> int:
    """The cached prompt tokens in an OpenAI `usage` object (of `prompt`, as read_usage
    read it): `prompt_tokens_details.cached_tokens`, or DeepSeek's own
    `prompt_cache_hit_tokens`; 0 when absent or not to be believed (`cached_count`)."""
    if not isinstance(usage, dict):
        return 0
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")
        if cached is None:  # the common answer: no cache said (read for every request)
            return 0
    return cached_count(cached, prompt)


def answer_problem(kind: str, answer: dict[str, Any]) -> str | None:
    """What makes a whole answer unusable as a `kind` answer (chat or embeddings), or
    None. Only what a client (or our usage estimate) relies on is checked."""
    if kind == "chat":
        choices = answer.get("choices")
        if not isinstance(choices, list):
            return "its choices are not a list"
        for i, choice in enumerate(choices):
            if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
                return f"choices[{i}].message is not an object"
        return None
    if not isinstance(answer.get("data"), list):
        return "its data is not a list"
    return None


def estimate_tokens(text: str) -> int:
    """About four characters a token: an estimate for answers that carry no usage."""
    return (len(text) + 3) // 4


# An image or audio clip sent inline (a data: URL or a base64 field) costs a model a
# bounded number of tokens (an image at OpenAI's high detail: at most about 1,100), not a
# quarter of its base64 text: for a 1 MB image that would be ~350,000, and a reservation
# that size would refuse the request on most quotas.
INLINE_DATA_TOKENS = 1_500
_INLINE_DATA = re.compile(r'"(?:data:[^",]{0,100},)?[A-Za-z0-9+/=]{1024,}"')


def prompt_estimate(body: dict[str, Any]) -> int:
    """The prompt's tokens, estimated from its messages (chat) or input (embeddings)."""
    parts = body.get("messages") if "messages" in body else body.get("input")
    if not parts:
        return 0
    text, inline = _INLINE_DATA.subn('""', json.dumps(parts, ensure_ascii=False))
    return estimate_tokens(text) + inline * INLINE_DATA_TOKENS


class TokenHold(NamedTuple):
    """The model tokens a request may use, held against its token's quota."""

    most: int  # its prompt's estimate and its completion limit for each choice
    # What the hold may shrink to where less of the quota is left: the same where the
    # request named its limit; its prompt and one token where it took the default.
    least: int


def tokens_to_reserve(kind: str, body: dict[str, Any], default_completion: int) -> TokenHold:
    """The model tokens a request may use, held against its token's quota until its
    answer is counted: the prompt's estimate and, for chat, `max_completion_tokens` (or
    `max_tokens`; `default_completion` when it sets neither) for each of its `n` choices.
    The completion part is at most MAX_COUNT, the most an answer is ever counted for."""
    prompt = prompt_estimate(body)
    completion, named = completion_to_reserve(kind, body, default_completion)
    held = prompt + completion
    return TokenHold(held, held if named else prompt + 1)


def completion_to_reserve(kind: str, body: dict[str, Any],
                          default_completion: int) -> tuple[int, bool]:
    """The completion tokens a request is held for (see tokens_to_reserve) and whether it
    named its limit (True for embeddings, which have none): one that did not may be held
    for less."""
    if kind != "chat":
        return 0, True
    limit = _limit(body.get("max_completion_tokens"))
    if limit is None:
        limit = _limit(body.get("max_tokens"))
    choices = _limit(body.get("n")) or 1
    if limit is None:
        return min(MAX_COUNT, default_completion * choices), False
    return min(MAX_COUNT, limit * choices), True


def _limit(value: Any) -> int | None:
    """A request's completion limit or choice count as it is held: None where it is unset
    (absent or null); a whole number up to MAX_COUNT as it is; anything else as MAX_COUNT
    — a larger number, a negative one (-1 is "no limit" to llama.cpp, Ollama and LM
    Studio), a fraction or text (which lenient servers read as a number): what it means
    upstream is not known, and read as unset it escaped the hold."""
    if value is None:
        return None
    counted = count(value)
    return MAX_COUNT if counted is None else counted


def estimate_answer(answer: dict[str, Any]) -> int:
    """Completion tokens estimated from a chat answer's text."""
    choices = answer.get("choices")
    messages = [c.get("message") for c in choices if isinstance(c, dict)] \
        if isinstance(choices, list) else []
    texts = [m.get("content") for m in messages if isinstance(m, dict)]
    return sum(estimate_tokens(t) for t in texts if isinstance(t, str))
