"""The secret key: made on first start, checked on every start, rotated on demand."""

from __future__ import annotations

import dataclasses

import pytest

from app.crypto import SecretBox
from app.errors import SecretKeyError
from app.models import Provider
from app.services import providers, secret_key


def test_first_start_makes_an_owner_only_key_file(db, settings) -> None:
    box = secret_key.load_box(settings)
    assert settings.key_file.stat().st_mode & 0o777 == 0o600
    assert secret_key.load_box(settings).open(box.seal("x")) == "x"  # same key next time


def test_wrong_environment_key_fails_clearly(db, settings, actor) -> None:
    box = secret_key.load_box(settings)
    providers.create(box, actor, name="oa", type="openai", api_key="sk-abcdefgh")
    wrong = dataclasses.replace(settings, secret_key="w" * 40)
    with pytest.raises(SecretKeyError, match="not the one it was encrypted with"):
        secret_key.load_box(wrong)


def test_missing_key_file_with_sealed_data_fails_clearly(db, settings) -> None:
    secret_key.load_box(settings)
    settings.key_file.unlink()
    with pytest.raises(SecretKeyError, match=r"secret\.key is missing"):
        secret_key.load_box(settings)
    assert not settings.key_file.exists()  # no new key made over sealed data


def test_rotate_with_key_file_reseals_every_provider(db, settings, actor) -> None:
    box = secret_key.load_box(settings)
    for i in range(3):
        providers.create(box, actor, name=f"p{i}", type="openai", api_key=f"sk-key-number-{i}")
    old_key = settings.key_file.read_text().strip()
    assert secret_key.rotate(settings, actor) == 3
    new_key = settings.key_file.read_text().strip()
    assert new_key != old_key
    new_box = secret_key.load_box(settings)
    keys = [providers.api_key(new_box, p) for p in Provider.select().order_by(Provider.name)]
    assert keys == ["sk-key-number-0", "sk-key-number-1", "sk-key-number-2"]
    with pytest.raises(SecretKeyError):
        SecretBox(old_key).open(Provider.select().first().api_key_encrypted)


def test_rotate_with_environment_key_needs_the_new_key(db, settings, actor) -> None:
    env = dataclasses.replace(settings, secret_key="e" * 40)
    box = secret_key.load_box(env)
    providers.create(box, actor, name="oa", type="openai", api_key="sk-abcdefgh")
    with pytest.raises(SecretKeyError, match="--new-key-stdin"):
        secret_key.rotate(env, actor)
    assert secret_key.rotate(env, actor, new_key="n" * 40) == 1
    rotated = dataclasses.replace(settings, secret_key="n" * 40)
    assert providers.api_key(secret_key.load_box(rotated), Provider.get()) == "sk-abcdefgh"


def test_rotation_cut_short_after_commit_is_completed_at_next_start(db, settings, actor) -> None:
    box = secret_key.load_box(settings)
    providers.create(box, actor, name="oa", type="openai", api_key="sk-abcdefgh")
    secret_key.rotate(settings, actor)
    new_key = settings.key_file.read_text()
    # Simulate a stop between the commit and the file swap: old file back, new one pending.
    pending = settings.key_file.with_name("secret.key.new")
    pending.write_text(new_key)
    settings.key_file.write_text("o" * 43)
    recovered = secret_key.load_box(settings)
    assert providers.api_key(recovered, Provider.get()) == "sk-abcdefgh"
    assert settings.key_file.read_text() == new_key and not pending.exists()
