"""The secret key that seals provider keys: finding it, checking it, rotating it.

A known value sealed under the key (the "key check") is kept in the database, so a wrong
key is caught at start with a clear message instead of failing later on some request.
"""

from __future__ import annotations

from app.crypto import SecretBox, new_secret_key, read_key_file, write_key_file
from app.errors import SecretKeyError
from app.models import Provider, database_proxy
from app.services import audit, stored_settings
from app.services.audit import Actor
from app.settings import Settings

CHECK_KEY = "secret_key_check"
CHECK_TEXT = "modelproxy-key-check"


def load_box(settings: Settings) -> SecretBox:
    """The SecretBox for this appliance; makes the key file on first start.

    Raises SecretKeyError when the key is missing or is not the one the database was
    sealed with. Needs the database bound.
    """
    sealed_check = stored_settings.get_value(CHECK_KEY)
    box = open_box(settings, sealed_check)
    if sealed_check is None:
        stored_settings.set_value(CHECK_KEY, box.seal(CHECK_TEXT))
    return box


def open_box(settings: Settings, sealed_check: str | None) -> SecretBox:
    """The SecretBox whose key opens `sealed_check` (the stored key check; None when
    nothing was sealed yet), making the key file if there is none. Touches no table, so a
    migration step can call it with the check it read through its own frozen copy."""
    key = (settings.secret_key or _finish_rotation(settings, sealed_check)
           or read_key_file(settings.key_file))
    if key is None:
        if sealed_check is not None:
            raise SecretKeyError(
                f"the secret key file {settings.key_file} is missing and MODELPROXY_SECRET_KEY "
                "is not set; the stored provider keys cannot be decrypted without it"
            )
        key = new_secret_key()
        write_key_file(settings.key_file, key)
    box = SecretBox(key)
    if sealed_check is not None:
        box.open(sealed_check)  # raises SecretKeyError with a clear message
    return box


def current_box(settings: Settings) -> SecretBox:
    """The SecretBox that opens the stored key check now, read without changing any file:
    a running server calls it when `modelproxy secret rotate` changed the key under it.

    The key file is tried, then the rotation's pending file (the database may already
    answer to it before the file is swapped). Raises SecretKeyError when none opens it.
    """
    sealed_check = stored_settings.get_value(CHECK_KEY)
    if settings.secret_key:
        candidates = [settings.secret_key]
    else:
        pending = settings.key_file.with_name(settings.key_file.name + ".new")
        candidates = [read_key_file(settings.key_file), read_key_file(pending)]
    for key in filter(None, candidates):
        box = SecretBox(key)
        if sealed_check is None or opens(box, sealed_check):
            return box
    if settings.secret_key:
        raise SecretKeyError(
            "the secret key was rotated, but this server's MODELPROXY_SECRET_KEY is the old "
            "one: restart it with the new key to use the stored provider keys again")
    raise SecretKeyError(f"no key in {settings.key_file} opens the stored provider keys")


def opens(box: SecretBox, sealed_check: str) -> bool:
    """Whether `box` holds the key the stored key check was sealed with."""
    try:
        box.open(sealed_check)
    except SecretKeyError:
        return False
    return True


def sealed_check() -> str | None:
    """The stored key check (changes when the key is rotated). Needs the database bound."""
    return stored_settings.get_value(CHECK_KEY)


def rotate(settings: Settings, actor: Actor, new_key: str | None = None) -> int:
    """Re-seal every provider key under a new secret key; returns how many were re-sealed.

    With the key file, a new key is made and the file replaced after the database commits.
    With MODELPROXY_SECRET_KEY, the new key must be given; the caller then sets it.
    """
    old_box = load_box(settings)
    if settings.secret_key and not new_key:
        raise SecretKeyError(
            "MODELPROXY_SECRET_KEY is set: give the new key on standard input "
            "(modelproxy secret rotate --new-key-stdin), then set it in the environment"
        )
    key = new_key or new_secret_key()
    if len(key) < 32:
        raise SecretKeyError("the new secret key must be at least 32 characters")
    new_box = SecretBox(key)
    pending = settings.key_file.with_name(settings.key_file.name + ".new")
    if not settings.secret_key:
        write_key_file(pending, key)  # kept until the database commits
    count = 0
    with database_proxy.atomic():
        for provider in Provider.select().where(Provider.api_key_encrypted.is_null(False)):
            provider.api_key_encrypted = new_box.seal(old_box.open(provider.api_key_encrypted))
            provider.save()
            count += 1
        for provider in Provider.select().where(Provider.headers_encrypted.is_null(False)):
            provider.headers_encrypted = new_box.seal(old_box.open(provider.headers_encrypted))
            provider.save()
        stored_settings.set_value(CHECK_KEY, new_box.seal(CHECK_TEXT))
        audit.record(actor, "secret.rotate", "secret_key", None, {"providers": count})
    if not settings.secret_key:
        try:
            pending.replace(settings.key_file)
        except FileNotFoundError:  # a server starting meanwhile completed the swap itself
            if read_key_file(settings.key_file) != key:
                raise
    return count


def _finish_rotation(settings: Settings, sealed_check: str | None) -> str | None:
    """A rotation stopped between the commit and the file swap leaves `secret.key.new`
    behind; if the database already answers to it, complete the swap."""
    pending = settings.key_file.with_name(settings.key_file.name + ".new")
    key = read_key_file(pending)
    if key is None or sealed_check is None:
        return None
    try:
        SecretBox(key).open(sealed_check)
    except SecretKeyError:
        pending.unlink()  # the rotation never committed: the old key stands
        return None
    pending.replace(settings.key_file)
    return key
