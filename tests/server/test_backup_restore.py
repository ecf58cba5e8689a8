"""`modelproxy backup` and `modelproxy restore` end to end: a backup made while a real
server runs carries the database and the secret key in one owner-only file; the data
directory is wiped; the restore brings both back and a new server opens the provider key
(the fake upstream refuses any other key)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import Appliance, chat_body, clean_environ

PROVIDER_KEY = "sk-backup-restore-key-7c1d"
ORG_KEY = "org-backup-credential-55e0"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        upstream.require_api_key(PROVIDER_KEY)
        yield upstream


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.main", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60, env=clean_environ(),
                          check=False)


def _chat(url: str, token: str) -> requests.Response:
    return requests.post(f"{url}/api/chat", json=chat_body(),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_backup_wipe_restore_and_the_provider_key_still_works(
        tmp_path: Path, fake: FakeUpstream) -> None:
    data = tmp_path / "data"
    app = Appliance(data)
    app.provider("upstream", base_url=fake.base_url, api_key=PROVIDER_KEY,
                 headers={"X-Org-Key": ORG_KEY})
    app.endpoint("chat", "/api/chat", "upstream")
    token = app.token("office")
    app.db.close_all()  # the test process keeps no connection: only the server's remain
    target = tmp_path / "elsewhere" / "appliance.tar.gz"
    try:
        app.serve()
        assert _chat(app.url, token.plaintext).status_code == 200

        made = app.cli("backup", str(target))  # while the server runs
        assert made.returncode == 0, made.stderr
        assert _mode(target) == 0o600
        with tarfile.open(target) as archive:
            assert sorted(archive.getnames()) == ["backup.json", "modelproxy.db", "secret.key"]
            assert json.load(archive.extractfile("backup.json"))["secret_key"] == "included"

        refused = app.cli("restore", str(target), "--force")
        assert refused.returncode == 1
        assert "is in use (a server or another command has it open)" in refused.stderr
        assert app.stop() == 0
    finally:
        app.close()

    shutil.rmtree(data)
    restored = app.cli("restore", str(target))
    assert restored.returncode == 0, restored.stderr
    assert "the secret key was restored" in restored.stdout
    assert _mode(data / "secret.key") == 0o600 and _mode(data / "modelproxy.db") == 0o600

    fake.clear()
    app.serve()
    try:
        answer = _chat(app.url, token.plaintext)  # the same token, the same provider key
        assert answer.status_code == 200, answer.text
        assert fake.last_request.headers["Authorization"] == f"Bearer {PROVIDER_KEY}"
        assert fake.last_request.headers["X-Org-Key"] == ORG_KEY
        again = app.cli("restore", str(target))
        assert again.returncode == 1 and "in use" in again.stderr
    finally:
        app.close()

    again = app.cli("restore", str(target))
    assert again.returncode == 1 and "already holds an appliance" in again.stderr
    forced = app.cli("restore", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    kept = next((data / "backups").glob("before-restore-*.tar.gz"))
    assert _mode(kept) == 0o600 and _mode(data / "backups") == 0o700


def test_restore_refuses_a_backup_whose_key_is_missing(tmp_path: Path) -> None:
    """An old bare database copy, restored where no key opens it, changes nothing."""
    app = Appliance(tmp_path / "data")
    app.provider("keyed", type="openai", api_key="sk-some-provider-key-0001")
    app.db.close_all()
    copy = tmp_path / "old.db"
    with sqlite3.connect(app.settings.database.removeprefix("sqlite:///")) as source, \
            sqlite3.connect(copy) as target:
        source.backup(target)
    source.close()
    target.close()
    elsewhere = tmp_path / "other"
    result = _cli(elsewhere, "restore", str(copy))
    assert result.returncode == 1
    assert "holds no key that opens its provider keys" in result.stderr
    assert "put the secret.key it was made with at" in result.stderr
    assert not (elsewhere / "modelproxy.db").exists()
    # with its key put back first, the same copy restores
    shutil.copy(app.settings.key_file, elsewhere / "secret.key")
    result = _cli(elsewhere, "restore", str(copy), "--force")
    assert result.returncode == 0, result.stderr
    assert "opens with the key already at" in result.stdout


def test_backup_and_restore_on_postgresql_point_to_pg_dump(tmp_path: Path) -> None:
    from tests.conftest import POSTGRES_UP, PostgresSchema

    if not POSTGRES_UP:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    with PostgresSchema() as schema:
        app = Appliance(tmp_path / "data", schema.url)
        try:
            made = app.cli("backup", str(tmp_path / "pg.tar.gz"))
            assert made.returncode == 1 and "pg_dump" in made.stderr
            assert "secret.key" in made.stderr and not (tmp_path / "pg.tar.gz").exists()
            restored = app.cli("restore", str(tmp_path / "pg.tar.gz"))
            assert restored.returncode == 1 and "pg_restore" in restored.stderr
        finally:
            app.close()
