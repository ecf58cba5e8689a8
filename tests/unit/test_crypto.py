"""Sealing, tokens and hashing."""

from __future__ import annotations

import re

import pytest

from app.crypto import (
    SecretBox,
    check_secret,
    hash_secret,
    key_hint,
    mint_token,
    token_prefix,
    write_key_file,
)
from app.errors import SecretKeyError


def test_seal_round_trip_and_no_plaintext() -> None:
    box = SecretBox("a" * 32)
    sealed = box.seal("sk-live-123")
    assert "sk-live" not in sealed and box.open(sealed) == "sk-live-123"
    assert box.seal("sk-live-123") != sealed  # random IV: equal keys do not look equal


def test_wrong_key_is_an_error_not_garbage() -> None:
    sealed = SecretBox("a" * 32).seal("sk-live-123")
    with pytest.raises(SecretKeyError, match="not the one it was encrypted with"):
        SecretBox("b" * 32).open(sealed)


def test_tampered_ciphertext_is_refused() -> None:
    box = SecretBox("a" * 32)
    sealed = box.seal("sk-live-123")
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SecretKeyError):
        box.open(tampered)


def test_token_shape_and_prefix() -> None:
    tokens = {mint_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert re.fullmatch(r"mpx_[A-Za-z0-9_-]{43}", token)
        assert token_prefix(token) == token[:12]
    assert token_prefix("sk-notours") is None
    assert token_prefix("mpx_short") is None


def test_hash_and_check() -> None:
    hashed = hash_secret("mpx_secret", rounds=4)
    assert hashed.startswith("$2b$04$")
    assert check_secret("mpx_secret", hashed)
    assert not check_secret("mpx_other", hashed)
    assert not check_secret("mpx_secret", "not-a-bcrypt-hash")


def test_key_hint_shows_only_the_end() -> None:
    assert key_hint("sk-abcdefgh1234") == "…1234"
    assert key_hint("short") == "…"


def test_key_file_is_owner_only(tmp_path) -> None:
    path = tmp_path / "d" / "secret.key"
    write_key_file(path, "k" * 43)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().strip() == "k" * 43
