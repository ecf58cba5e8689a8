"""Settings: flags > environment > .env > defaults, and bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import SettingsError
from app.settings import Settings, data_dir_notice, load_settings


def test_defaults() -> None:
    s = load_settings({}, environ={}, env_file=None)
    assert (s.host, s.port, s.data_dir, s.secret_key) == (
        "127.0.0.1", 8787, Path("data").resolve(), None)
    assert s.data_dir.is_absolute() and s.data_dir_relative
    assert s.database == f"sqlite:///{Path('data/modelproxy.db').resolve()}"
    assert s.max_body_bytes == 8 * 1024 * 1024


def test_flags_beat_environment_beats_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "MODELPROXY_PORT=1111\nMODELPROXY_HOST=10.0.0.1\nexport MODELPROXY_DATA_DIR='/srv/x'\n"
        "OPENAI_API_KEY=sk-from-file\n"
    )
    s = load_settings({"port": 3333}, environ={"MODELPROXY_PORT": "2222",
                                               "MODELPROXY_HOST": "0.0.0.0"}, env_file=env_file)
    assert (s.port, s.host, s.data_dir, s.openai_api_key) == (
        3333, "0.0.0.0", Path("/srv/x"), "sk-from-file")


def test_postgres_url_is_used_as_given() -> None:
    url = "postgresql://u:p@db:5432/mp"
    s = load_settings({}, environ={"MODELPROXY_DATABASE_URL": url}, env_file=None)
    assert s.database == url and not s.is_sqlite


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MODELPROXY_PORT": "http"}, "MODELPROXY_PORT: expected a whole number, got 'http'"),
        ({"MODELPROXY_PORT": "70000"}, "MODELPROXY_PORT: expected 1..65535, got 70000"),
        ({"MODELPROXY_DATABASE_URL": "mysql://x"}, "MODELPROXY_DATABASE_URL: expected sqlite"),
        ({"MODELPROXY_SECRET_KEY": "short"}, "MODELPROXY_SECRET_KEY: must be at least 32"),
        ({"MODELPROXY_TRUSTED_PROXIES": "10.0.0.0/8 nope"}, "'nope' is not an IP address"),
        ({"MODELPROXY_GRACE_S": "-1"}, "MODELPROXY_GRACE_S: expected a number >= 0"),
        ({"MODELPROXY_LOG_LEVEL": "loud"}, "MODELPROXY_LOG_LEVEL: expected DEBUG"),
    ],
)
def test_bad_values_name_the_setting(environ: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_settings({}, environ=environ, env_file=None)


def test_settings_are_immutable() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


def test_a_relative_data_dir_is_made_absolute_from_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = load_settings({"data_dir": "appliance/../data"}, environ={}, env_file=None)
    assert (relative.data_dir, relative.data_dir_relative) == (tmp_path / "data", True)
    given = load_settings({}, environ={"MODELPROXY_DATA_DIR": str(tmp_path / "srv")},
                          env_file=None)
    assert (given.data_dir, given.data_dir_relative) == (tmp_path / "srv", False)
    assert data_dir_notice(given, existed=False) is None  # absolute: what was asked for
    assert data_dir_notice(relative, existed=True) is None  # the appliance already there
    notice = data_dir_notice(relative, existed=False)
    assert notice and str(tmp_path / "data") in notice and "absolute --data-dir" in notice


def test_connection_limits_have_defaults_and_named_errors() -> None:
    s = load_settings({}, environ={}, env_file=None)
    assert (s.header_timeout_s, s.body_timeout_s, s.keepalive_s, s.max_connections) == (
        10.0, 60.0, 30.0, None)
    s = load_settings({}, environ={"MODELPROXY_MAX_CONNECTIONS": "300",
                                   "MODELPROXY_HEADER_TIMEOUT_S": "2.5"}, env_file=None)
    assert (s.max_connections, s.header_timeout_s) == (300, 2.5)
    for name, raw, message in [
        ("MODELPROXY_HEADER_TIMEOUT_S", "0", "above 0"),
        ("MODELPROXY_BODY_TIMEOUT_S", "soon", "expected a number of seconds"),
        ("MODELPROXY_KEEPALIVE_S", "7200", "at most 3600"),
        ("MODELPROXY_MAX_CONNECTIONS", "0", "expected 1..1000000"),
    ]:
        with pytest.raises(SettingsError, match=f"{name}: .*{message}"):
            load_settings({}, environ={name: raw}, env_file=None)
