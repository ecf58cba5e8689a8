"""Whatever JSON an upstream sends as an answer or a usage object, reading it never fails
and never yields a count a quota or a log column cannot take."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.client_api.usage import (
    MAX_COUNT,
    answer_problem,
    estimate_answer,
    prompt_estimate,
    read_cached,
    read_usage,
    tokens_to_reserve,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)
KEYS = st.sampled_from(["usage", "choices", "message", "content", "data", "prompt_tokens",
                        "completion_tokens", "messages", "input", "max_tokens", "n",
                        "prompt_tokens_details", "cached_tokens", "prompt_cache_hit_tokens"])
OBJECT = st.dictionaries(KEYS, JSON | st.dictionaries(KEYS, JSON, max_size=4), max_size=6)


@given(JSON | OBJECT)
def test_usage_reads_as_none_or_as_two_sane_counts(usage: Any) -> None:
    read = read_usage(usage)
    assert read is None or all(isinstance(n, int) and 0 <= n <= MAX_COUNT for n in read)


@given(JSON | OBJECT)
def test_cached_tokens_read_as_a_whole_number_within_the_prompt(usage: Any) -> None:
    read = read_usage(usage)
    prompt = read[0] if read is not None else 0
    cached = read_cached(usage, prompt)
    assert type(cached) is int and 0 <= cached <= prompt


@given(OBJECT, st.sampled_from(["chat", "embeddings"]))
def test_any_answer_is_checked_and_estimated_without_failing(answer: dict[str, Any],
                                                             kind: str) -> None:
    problem = answer_problem(kind, answer)
    assert problem is None or isinstance(problem, str)
    assert estimate_answer(answer) >= 0


@given(OBJECT, st.sampled_from(["chat", "embeddings"]))
def test_any_body_holds_a_whole_number_of_tokens(body: dict[str, Any], kind: str) -> None:
    """Never less than the prompt, never more than the prompt and MAX_COUNT; a limit the
    body sets is held whole (up to MAX_COUNT), whatever its type."""
    most, least = tokens_to_reserve(kind, body, 1024)
    prompt = prompt_estimate(body)
    assert all(isinstance(n, int) and not isinstance(n, bool) for n in (most, least))
    assert prompt <= least <= most <= prompt + MAX_COUNT
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if kind == "chat" and limit is not None:
        declared = limit if type(limit) is int and limit >= 0 else MAX_COUNT
        assert least == most >= prompt + min(declared, MAX_COUNT)
