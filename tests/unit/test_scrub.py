"""scrub (server/providers/base.py): a provider's message with its key, and anything shaped
like a key, hidden before it is cut to length, wherever the key falls."""

from __future__ import annotations

import pytest

from server.providers.base import MESSAGE_CHARS, scrub

KEY = "pk9Q2vX7rT4mW8zL1nB6cY3dE5"  # shaped like no known key: only knowing it hides it


def test_the_providers_key_and_key_like_words_are_hidden() -> None:
    message = f"Incorrect API key provided: {KEY}; also sk-proj-abcdEFGH1234 and mpx_x1y2z3w4"
    assert scrub(message, KEY) == \
        "Incorrect API key provided: ***; also sk-*** and mpx-***"


def test_without_a_key_only_key_like_words_are_hidden() -> None:
    assert scrub("key sk-abcdefgh, no key", None) == "key sk-***, no key"
    assert scrub("short sk-abc stays", None) == "short sk-abc stays"


@pytest.mark.parametrize("at", range(MESSAGE_CHARS - len(KEY), MESSAGE_CHARS + 1))
def test_a_key_across_the_cut_leaves_none_of_itself(at: int) -> None:
    scrubbed = scrub("x" * at + KEY + " and more", KEY)
    assert len(scrubbed) <= MESSAGE_CHARS
    assert not any(KEY[:n] in scrubbed for n in range(4, len(KEY) + 1))


@pytest.mark.parametrize("at", range(4 * MESSAGE_CHARS - len(KEY), 4 * MESSAGE_CHARS + 1))
def test_a_key_across_the_end_of_what_is_read_is_not_pulled_in(at: int) -> None:
    """Keys hidden early shorten the message: text from where the reading stopped moves up
    into the first 500 characters, and a key cut there must not come with it."""
    head = (KEY + " ") * (at // (len(KEY) + 1))
    message = head + "y" * (at - len(head)) + KEY + "z" * 5000
    scrubbed = scrub(message, KEY)
    assert len(scrubbed) <= MESSAGE_CHARS
    assert not any(KEY[:n] in scrubbed for n in range(4, len(KEY) + 1))


def test_a_short_message_is_kept_whole_and_a_long_one_cut() -> None:
    assert scrub("the model is overloaded", KEY) == "the model is overloaded"
    assert scrub("a" * 10_000, KEY) == "a" * MESSAGE_CHARS
