"""Which data directory a server uses is never a surprise: the start says it (absolute), a
relative one made anew is warned about (a server started from another folder would be a new,
empty appliance), and /api/health tells an admin's session — only that — where it is."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.live import LiveServer
from tests.server.client_fixtures import clean_environ

NEW_DIR_WARNING = "made a new, empty data directory"


def _serve_relative(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Start and stop `modelproxy serve --data-dir data` from `cwd`; its output."""
    monkeypatch.chdir(cwd)
    live = LiveServer(Path("data")).start()
    assert live.stop() == 0
    return live.output


def test_the_start_names_the_data_directory_and_warns_when_a_relative_one_is_new(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "office", tmp_path / "elsewhere"
    first.mkdir()
    second.mkdir()
    made = _serve_relative(first, monkeypatch)
    assert f"data directory {first / 'data'}," in made
    assert NEW_DIR_WARNING in made and "absolute --data-dir" in made
    again = _serve_relative(first, monkeypatch)
    assert f"data directory {first / 'data'}," in again and NEW_DIR_WARNING not in again
    other = _serve_relative(second, monkeypatch)
    assert f"{NEW_DIR_WARNING} {second / 'data'}" in other

    monkeypatch.chdir(tmp_path)
    absolute = LiveServer(tmp_path / "absolute").start()
    assert absolute.stop() == 0
    assert f"data directory {tmp_path / 'absolute'}," in absolute.output
    assert NEW_DIR_WARNING not in absolute.output  # an absolute path is what was asked for


def _admin(data_dir: Path, username: str, role: str) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "app.main", "admin", "create", "--username", username,
         "--password-stdin", "--role", role, "--data-dir", str(data_dir)],
        input=f"{username}-password-123\n", capture_output=True, text=True, timeout=60,
        env={**clean_environ(), "MODELPROXY_BCRYPT_ROUNDS": "4"}, check=False)
    assert made.returncode == 0, made.stderr


def _session(url: str, username: str) -> dict[str, str]:
    login = requests.post(f"{url}/admin/api/login", timeout=10, json={
        "username": username, "password": f"{username}-password-123"})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


def test_health_tells_an_admin_session_where_the_data_is_and_no_one_else(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _admin(data_dir, "root", "admin")
    _admin(data_dir, "watcher", "viewer")
    with LiveServer(data_dir) as live:
        health = live.url + "/api/health"
        admin = requests.get(health, headers=_session(live.url, "root"), timeout=10)
        assert admin.status_code == 200
        assert admin.json()["data_dir"] == str(data_dir)
        assert admin.json()["database_url"] == f"sqlite:///{data_dir / 'modelproxy.db'}"
        quiet = [requests.get(health, timeout=10),
                 requests.get(health, headers=_session(live.url, "watcher"), timeout=10),
                 requests.get(health, headers={"Authorization": "Bearer mps_not-a-session"},
                              timeout=10),
                 requests.get(health, headers={"Authorization": "Bearer mpx_" + "x" * 43},
                              timeout=10)]
        for response in quiet:
            assert response.status_code == 200
            assert set(response.json()) == {"status", "version", "database", "writer"}
            assert str(tmp_path) not in response.text


def _last_seen(database: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return [row[0] for row in db.execute("SELECT last_seen_at FROM admin_session")]


def test_health_reads_an_admin_session_without_touching_it(tmp_path: Path) -> None:
    """/api/health is open to anyone: with a session it only reads it (no write on the event
    loop for any `mps_` bearer); the admin API is what marks a session as seen."""
    data_dir = tmp_path / "data"
    _admin(data_dir, "root", "admin")
    database = data_dir / "modelproxy.db"
    with LiveServer(data_dir) as live:
        headers = _session(live.url, "root")
        long_ago = "2000-01-01 00:00:00"
        with contextlib.closing(sqlite3.connect(database)) as db:
            db.execute("UPDATE admin_session SET last_seen_at = ?", (long_ago,))
            db.commit()
        health = requests.get(live.url + "/api/health", headers=headers, timeout=10)
        assert health.json()["data_dir"] == str(data_dir)
        assert _last_seen(database) == [long_ago]
        me = requests.get(live.url + "/admin/api/me", headers=headers, timeout=10)
        assert me.status_code == 200
        assert _last_seen(database) != [long_ago]
