"""The working directory's .env where the user cannot read it. The tests run as root, which
no permission stops, so the refusal the kernel would give another user is simulated."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import SettingsError
from app.settings import load_settings


def refuse(*_args: object, **_kwargs: object) -> None:
    raise PermissionError(13, "Permission denied")


def test_a_working_directory_the_user_may_not_enter_has_no_env_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "stat", refuse)  # what is_file() meets in a 0700 home
    settings = load_settings({"port": 9000}, environ={}, env_file=tmp_path / ".env")
    assert settings.port == 9000


def test_an_env_file_the_user_may_not_read_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MODELPROXY_PORT=9001\n")
    monkeypatch.setattr("app.settings.dotenv_values", refuse)
    with pytest.raises(SettingsError, match=rf"{env_file}: cannot read it \(Permission denied\)"):
        load_settings(environ={}, env_file=env_file)
