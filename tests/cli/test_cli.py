"""The management commands as a new user runs them: it works, or one clear error and no change."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db import connect
from app.models import TABLES

KEY = "sk-proj-Zq8vW3nK5mT1xY7bR2cD9fG4hJ6kL0pQ"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELPROXY_BCRYPT_ROUNDS", "4")
    monkeypatch.chdir(tmp_path)  # no stray .env from the repository
    return tmp_path / "data"


def run(data_dir: Path, *args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, [*args, "--data-dir", str(data_dir)], input=stdin)


def row_counts(data_dir: Path) -> dict[str, int]:
    db = connect(f"sqlite:///{data_dir / 'modelproxy.db'}")
    with db.connection_context():
        counts = {m._meta.table_name: db.execute_sql(
            f'SELECT COUNT(*) FROM "{m._meta.table_name}"').fetchone()[0] for m in TABLES}
    db.close_all()
    return counts


@pytest.fixture
def seeded(data_dir: Path) -> Path:
    assert run(data_dir, "provider", "add", "--name", "echo", "--type", "echo").exit_code == 0
    assert run(data_dir, "endpoint", "add", "--name", "chat", "--path", "/api/chat", "--kind",
               "chat", "--model", "echo-1", "--provider", "echo").exit_code == 0
    assert run(data_dir, "admin", "create", "--username", "root",
               "--password-stdin", stdin="password123\n").exit_code == 0
    return data_dir


def test_quick_start_flow(seeded: Path) -> None:
    created = run(seeded, "token", "create", "--name", "ci", "--scopes", "chat", "--rpm", "60",
                  "--allow-ip", "10.0.0.0/8", "--json")
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)
    assert token["token"].startswith("mpx_") and token["scopes"] == ["chat"]
    listed = json.loads(run(seeded, "token", "list", "--json").stdout)["items"]
    assert [t["id"] for t in listed] == [token["id"]]
    assert "token" not in listed[0]
    revoked = run(seeded, "token", "revoke", str(token["id"]))
    assert revoked.exit_code == 0 and "revoked token 'ci'" in revoked.stdout
    assert json.loads(run(seeded, "token", "list", "--json").stdout)["items"][0]["revoked"]
    endpoints = run(seeded, "endpoint", "list")
    assert "/api/chat" in endpoints.stdout and "echo" in endpoints.stdout
    assert run(seeded, "endpoint", "remove", "chat").exit_code == 0
    assert run(seeded, "provider", "remove", "echo").exit_code == 0
    assert run(seeded, "provider", "list").stdout.strip() == "(none)"


def test_token_plaintext_printed_once_with_a_warning(seeded: Path) -> None:
    result = run(seeded, "token", "create", "--name", "t")
    plaintext = result.stdout.strip().splitlines()[-1]
    assert plaintext.startswith("mpx_") and "will not be shown again" in result.stderr
    assert plaintext not in run(seeded, "token", "list", "--json").stdout


BAD_INPUT = [
    (["admin", "create", "--username", "bob"], None, "--password-stdin"),
    (["admin", "create", "--username", "bob", "--password-stdin"], "short\n", "at least 8"),
    (["admin", "create", "--username", "bob", "--password-stdin"], "", "no password"),
    (["admin", "create", "--username", "root", "--password-stdin"], "password9\n", "exists"),
    (["admin", "create", "--username", "bob", "--password-stdin", "--role", "god"], "password9",
     "'god' is not one of"),
    (["provider", "add", "--name", "x", "--type", "nope"], None, "type must be one of"),
    (["provider", "add", "--name", "x", "--type", "openai_compatible"], None,
     "base_url is required"),
    (["provider", "add", "--name", "x", "--type", "openai", "--base-url", "localhost:11434"],
     None, "must be an http:// or https:// URL"),
    (["provider", "add", "--name", "echo", "--type", "echo"], None, "already exists"),
    (["provider", "add", "--name", "x", "--type", "echo", "--header", "nocolon"], None,
     "expected NAME:VALUE"),
    (["provider", "add", "--name", "x", "--type", "echo", "--timeout", "-1"], None,
     "more than 0"),
    (["provider", "add", "--name", "x", "--type", "openai", "--api-key-stdin"], "",
     "no API key on standard input"),
    (["provider", "remove", "ghost"], None, "no provider named 'ghost'"),
    (["provider", "remove", "echo"], None, "used by endpoint"),
    (["endpoint", "add", "--name", "e", "--path", "/v1/e", "--kind", "chat", "--model", "m",
      "--provider", "echo"], None, "path must start with /api/"),
    (["endpoint", "add", "--name", "e", "--path", "/api/e", "--kind", "chat", "--model", "m",
      "--provider", "ghost"], None, "no provider named 'ghost'"),
    (["endpoint", "add", "--name", "e", "--path", "/api/e", "--kind", "images", "--model", "m",
      "--provider", "echo"], None, "'images' is not one of"),
    (["endpoint", "add", "--name", "e2", "--path", "/api/chat", "--kind", "chat", "--model",
      "m", "--provider", "echo"], None, "already exists"),
    (["endpoint", "remove", "ghost"], None, "no endpoint 'ghost'"),
    (["token", "create", "--name", "t", "--scopes", "chat,admin"], None, "unknown scope"),
    (["token", "create", "--name", "t", "--rpm", "-5"], None, "rpm must be a whole number"),
    (["token", "create", "--name", "t", "--monthly-requests", "many"], None,
     "monthly_requests must be a whole number"),
    (["token", "create", "--name", "t", "--allow-ip", "10.0.0.300"], None,
     "not an IP address or CIDR"),
    (["token", "create", "--name", "t", "--endpoint", "ghost"], None, "no endpoint 'ghost'"),
    (["token", "create", "--name", "t", "--expires-at", "soon"], None, "ISO 8601"),
    (["token", "create", "--name", ""], None, "name is required"),
    (["token", "revoke", "999"], None, "no token with id 999"),
    (["token", "revoke", "abc"], None, "'abc' is not a valid integer"),
]


@pytest.mark.parametrize(("args", "stdin", "message"), BAD_INPUT,
                         ids=[" ".join(a[:3]) + f" #{i}" for i, (a, _, _) in
                              enumerate(BAD_INPUT)])
def test_bad_input_is_one_clear_error_and_changes_nothing(seeded, args, stdin, message) -> None:
    before = row_counts(seeded)
    result = run(seeded, *args, stdin=stdin)
    assert result.exit_code != 0
    assert message in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert row_counts(seeded) == before


def test_bad_setting_names_it(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPROXY_DATABASE_URL", "mysql://x")
    result = run(data_dir, "provider", "list")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: MODELPROXY_DATABASE_URL: expected sqlite:///PATH or postgresql://..., "
        "got scheme 'mysql'")


def test_secret_rotate_from_the_command_line(seeded: Path) -> None:
    assert run(seeded, "provider", "add", "--name", "oa", "--type", "openai",
               "--api-key-stdin", stdin=KEY).exit_code == 0
    before = (seeded / "secret.key").read_text()
    result = run(seeded, "secret", "rotate")
    assert result.exit_code == 0 and "re-encrypted 1 provider key" in result.stdout
    assert (seeded / "secret.key").read_text() != before
    assert "…pQ" not in result.stdout
    assert "…L0pQ" in run(seeded, "provider", "list").stdout


def test_version_and_help() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("modelproxy, version ")
    assert "token" in CliRunner().invoke(cli, ["--help"]).stdout


def _modelproxy(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "MODELPROXY_DATA_DIR": str(data_dir), "MODELPROXY_BCRYPT_ROUNDS": "4"}
    return subprocess.run([sys.executable, "-m", "app.main", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)


def test_provider_key_never_reaches_the_data_directory(data_dir: Path) -> None:
    """The installed command, run as a user would; then no 8-byte window of the key is in
    any file of the data directory (database, WAL, key file)."""
    added = _modelproxy(data_dir, "provider", "add", "--name", "oa", "--type", "openai",
                        "--api-key-stdin", stdin=KEY + "\n")
    assert added.returncode == 0, added.stderr
    listed = _modelproxy(data_dir, "provider", "list", "--json")
    assert json.loads(listed.stdout)["items"][0]["api_key_hint"] == "…L0pQ"
    key = KEY.encode()
    windows = {key[i:i + 8] for i in range(len(key) - 7)}
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"modelproxy.db", "secret.key"}
    for path in files:
        content = path.read_bytes()
        assert not any(w in content for w in windows), path


def test_endpoint_aliases_and_logs_by_dialect(seeded: Path) -> None:
    added = run(seeded, "endpoint", "add", "--name", "coder", "--path", "/api/coder", "--kind",
                "chat", "--model", "m", "--provider", "echo", "--alias",
                "claude-sonnet-4-5-20250929", "--alias", "openai/gpt-5:free")
    assert added.exit_code == 0, added.output
    listed = json.loads(run(seeded, "endpoint", "list", "--json").stdout)["items"]
    assert [e["aliases"] for e in listed if e["name"] == "coder"] == [
        ["claude-sonnet-4-5-20250929", "openai/gpt-5:free"]]
    assert "claude-sonnet-4-5-20250929,openai/gpt-5:free" in run(seeded, "endpoint",
                                                                 "list").stdout
    clash = run(seeded, "endpoint", "add", "--name", "again", "--path", "/api/again", "--kind",
                "chat", "--model", "m", "--provider", "echo", "--alias", "openai/gpt-5:free")
    assert clash.exit_code != 0 and "already an alias of the endpoint 'coder'" in clash.output

    from server.logwriter import write_batch  # rows as the server writes them

    db = connect(f"sqlite:///{seeded / 'modelproxy.db'}")
    with db.connection_context(), db.atomic():
        write_batch(db, [{"time": dt.datetime(2026, 1, 1, 0, i), "request_id": f"r{i}",
                          "status": 200, "latency_ms": 1.0, "client_dialect": dialect}
                         for i, dialect in enumerate(("messages", "chat", "messages"))])
    db.close_all()
    shown = json.loads(run(seeded, "logs", "--dialect", "messages", "--json").stdout)["items"]
    assert [r["request_id"] for r in shown] == ["r2", "r0"]
    assert all(r["client_dialect"] == "messages" for r in shown)
    assert run(seeded, "logs", "--dialect", "klingon").exit_code == 2
