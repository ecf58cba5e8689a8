"""docs/install.md's commands are real: every `modelproxy` command in its shell blocks names
a command this CLI has, with options it takes; and its backup, upgrade and rollback steps
work as written, on a data directory of the test's own."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app import migrations
from app.cli import cli
from app.db import open_database
from app.settings import load_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "install.md"


def doc_commands() -> list[list[str]]:
    """The `modelproxy ...` invocations of the shell blocks, as argument lists (after any
    `sudo -u USER`, `env NAME=value` or pipe in front of them, up to `&&`, `|` or `#`)."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S):
        for line in block.splitlines():
            words = shlex.split(line.split(" #")[0], comments=False)
            for start, word in enumerate(words):
                if word != "modelproxy" or not _runs_here(words, start):
                    continue
                rest = []
                for token in words[start + 1:]:
                    if token in {"&&", "|", ";"}:
                        break
                    rest.append(token)
                found.append(rest)
    return found


def _runs_here(words: list[str], at: int) -> bool:
    """Whether words[at] is a command (not a user name, a unit or an argument)."""
    before = words[at - 1] if at else "|"
    return (before in {"|", "&&", ";"} or (at >= 2 and words[at - 2] == "-u" and
                                           words[at - 3:at - 2] == ["sudo"])
            or re.fullmatch(r"[A-Z_]+=\S*", before) is not None)


def test_the_doc_has_the_commands_it_promises() -> None:
    commands = [" ".join(c[:1]) for c in doc_commands()]
    for name in ["install-service", "admin", "backup", "restore", "gui", "--version"]:
        assert name in commands, name


@pytest.mark.parametrize("args", doc_commands(), ids=lambda args: " ".join(args) or "-")
def test_each_command_parses_as_written(args: list[str]) -> None:
    command: click.Command = cli
    words = list(args)
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    if words == ["--version"]:
        answered = CliRunner().invoke(cli, words)
        assert answered.exit_code == 0 and answered.output.startswith("modelproxy")
        return
    assert not isinstance(command, click.Group), f"no such command: modelproxy {' '.join(args)}"
    context = command.make_context(command.name or "modelproxy", words)  # raises if wrong
    assert context.command is command and not context.args, context.args


def test_backup_then_rollback_as_the_doc_says(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MODELPROXY_BCRYPT_ROUNDS", "4")
    monkeypatch.chdir(tmp_path)
    data = str(tmp_path / "data")
    run = CliRunner().invoke
    assert run(cli, ["admin", "create", "--username", "admin", "--password-stdin",
                     "--data-dir", data], input="choose-a-long-password").exit_code == 0
    before = tmp_path / "data" / "backups" / "before-upgrade.tar.gz"
    made = run(cli, ["backup", str(before), "--data-dir", data])
    assert made.exit_code == 0, made.output
    # a newer version migrated the database; the old one, put back, refuses it ...
    settings = load_settings({"data_dir": data}, environ={}, env_file=None)
    db = open_database(settings)
    with db.connection_context(), db.bind_ctx([migrations.SchemaVersion]):
        migrations.SchemaVersion.create(version=migrations.LATEST + 1)
    db.close_all()
    refused = run(cli, ["admin", "list", "--data-dir", data])
    assert refused.exit_code == 1
    assert "upgraded by a newer ModelProxy" in refused.output
    # ... until the backup made before the upgrade is restored over it
    restored = run(cli, ["restore", str(before), "--force", "--data-dir", data])
    assert restored.exit_code == 0, restored.output
    assert "what was there before is backed up in" in restored.output
    listed = run(cli, ["admin", "list", "--data-dir", data])
    assert listed.exit_code == 0 and "admin" in listed.output
    # the replaced appliance was kept as it was: only the newer version can restore it
    kept = next((tmp_path / "data" / "backups").glob("before-restore-*.tar.gz"))
    again = run(cli, ["restore", str(kept), "--data-dir", str(tmp_path / "elsewhere")])
    assert again.exit_code == 1 and "made by a newer ModelProxy" in again.output
