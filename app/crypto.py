"""Secrets: sealing provider keys, minting client tokens, hashing passwords.

Provider keys are sealed with Fernet (AES-CBC + HMAC-SHA256: authenticated, so a wrong
key fails loudly instead of yielding garbage). The Fernet key is derived with HKDF from
the secret key: `MODELPROXY_SECRET_KEY`, or the key file made in the data directory.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import bcrypt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.errors import SecretKeyError

T = TypeVar("T")
# run_blocking(fn, *args) -> fn(*args), perhaps in another thread: the server passes one
# that runs bcrypt off the event loop; elsewhere it runs inline.
RunBlocking = Callable[..., Any]

TOKEN_PREFIX = "mpx_"
TOKEN_LOOKUP_CHARS = 8  # random characters that, with "mpx_", form the public lookup prefix


class SecretBox:
    """Seals and opens short secrets (provider API keys) under one secret key."""

    def __init__(self, secret_key: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"modelproxy/v1")
        self._fernet = Fernet(base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        """The plaintext; SecretKeyError when `sealed` was not made with this key."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a stored secret cannot be decrypted: the secret key "
                "(MODELPROXY_SECRET_KEY or the data directory's secret.key) is not the one "
                "it was encrypted with"
            ) from None


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)


def read_key_file(path: Path) -> str | None:
    """The key stored in `path`, or None when there is no such file."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def write_key_file(path: Path, key: str) -> None:
    """Write `key` to `path` atomically, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def key_hint(api_key: str) -> str:
    """What may be shown of a provider key: its last four characters."""
    return "…" + api_key[-4:] if len(api_key) >= 8 else "…"


def header_hint(value: str) -> str:
    """What may be shown of a provider's extra header value. Header values are often
    shorter credentials than API keys, so the last four characters only from 12 on."""
    return "…" + value[-4:] if len(value) >= 12 else "…"


# --- client tokens -------------------------------------------------------------------


def mint_token() -> str:
    """A new client token: "mpx_" + 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_prefix(token: str) -> str | None:
    """The public lookup part of a token, or None when it is not shaped like one of ours."""
    if not token.startswith(TOKEN_PREFIX) or len(token) != len(TOKEN_PREFIX) + 43:
        return None
    return token[: len(TOKEN_PREFIX) + TOKEN_LOOKUP_CHARS]


def fast_digest(token: str) -> bytes:
    """A fast, non-reversible cache key for a presented token (never the token itself)."""
    return hashlib.sha256(token.encode()).digest()


# --- bcrypt: tokens and passwords -------------------------------------------------------


def hash_secret(secret: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds)).decode()


def run_inline(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


@functools.lru_cache(maxsize=4)
def dummy_hash(rounds: int) -> str:
    """A valid bcrypt hash at `rounds` of a secret nobody knows: checking a password against
    it costs what checking against a real one of that cost does."""
    return hash_secret(secrets.token_urlsafe(32), rounds)


def hash_rounds(hashed: str) -> int | None:
    """The cost a bcrypt hash ("$2b$12$...") was made with, or None if it is not one."""
    parts = hashed.split("$")
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else None


def check_secret(secret: str, hashed: str) -> bool:
    """bcrypt check; bcrypt compares in constant time."""
    try:
        return bcrypt.checkpw(secret.encode(), hashed.encode())
    except ValueError:  # malformed hash or secret longer than bcrypt takes
        return False


def same(a: str, b: str) -> bool:
    """Constant-time string equality."""
    return hmac.compare_digest(a.encode(), b.encode())
