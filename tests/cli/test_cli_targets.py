"""Targets and money budgets from the command line: an endpoint's fallbacks added, listed and
removed, budgets set and lifted, and bad input one clear error with nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import row_counts, run


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with the provider echo and the endpoint chat (echo's echo-1)."""
    monkeypatch.setenv("MODELPROXY_BCRYPT_ROUNDS", "4")
    monkeypatch.chdir(tmp_path)  # no stray .env from the repository
    data_dir = tmp_path / "data"
    assert run(data_dir, "provider", "add", "--name", "echo", "--type", "echo").exit_code == 0
    assert run(data_dir, "endpoint", "add", "--name", "chat", "--path", "/api/chat", "--kind",
               "chat", "--model", "echo-1", "--provider", "echo").exit_code == 0
    return data_dir


def _json(where: Path, *args: str) -> list[dict]:
    result = run(where, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["items"]


def test_an_endpoints_targets_from_the_command_line(seeded: Path) -> None:
    assert run(seeded, "provider", "add", "--name", "spare", "--type", "echo").exit_code == 0
    added = run(seeded, "endpoint", "target", "add", "--endpoint", "chat", "--provider",
                "spare", "--model", "echo-2", "--weight", "3", "--price-input", "0.5",
                "--price-output", "1.5")
    assert added.exit_code == 0, added.output
    assert "priority 1, weight 3" in added.stdout  # a fallback by default
    listed = _json(seeded, "endpoint", "target", "list", "--endpoint", "chat")
    assert [(t["provider"], t["model"], t["priority"], t["weight"]) for t in listed] == [
        ("echo", "echo-1", 0, 1), ("spare", "echo-2", 1, 3)]
    assert listed[1]["price"] == {"input": 0.5, "cached_input": 0.5, "output": 1.5,
                                  "source": "target"}
    table = run(seeded, "endpoint", "target", "list").stdout
    assert "$0.5/0.5/1.5 (target)" in table and "no price" in table  # echo has no price
    assert "echo:echo-1 -> spare:echo-2 (w=3)" in run(seeded, "endpoint", "list").stdout

    first = listed[0]["id"]
    moved = run(seeded, "endpoint", "target", "update", str(listed[1]["id"]), "--priority",
                "-1", "--price-input", "none")
    assert moved.exit_code == 0 and "priority -1" in moved.stdout, moved.output
    shown = _json(seeded, "endpoint", "list")[0]
    assert (shown["model"], shown["targets"][0]["price_input_per_m"]) == ("echo-2", None)
    assert run(seeded, "endpoint", "target", "update", str(listed[1]["id"]), "--priority",
               "1").exit_code == 0
    removed = run(seeded, "endpoint", "target", "remove", str(first))
    assert removed.exit_code == 0 and "removed target" in removed.stdout
    shown = _json(seeded, "endpoint", "list")[0]
    assert (shown["model"], shown["provider"]) == ("echo-2", "spare")  # the next one is first
    last = run(seeded, "endpoint", "target", "remove", str(listed[1]["id"]))
    assert last.exit_code == 1 and "only enabled one" in last.stderr
    assert run(seeded, "provider", "remove", "spare").exit_code == 1  # a target uses it


def test_budgets_from_the_command_line(seeded: Path) -> None:
    added = run(seeded, "endpoint", "add", "--name", "paid", "--path", "/api/paid", "--kind",
                "chat", "--model", "m", "--provider", "echo", "--monthly-budget", "20")
    assert added.exit_code == 0, added.output
    assert run(seeded, "endpoint", "update", "paid", "--monthly-budget", "7.5").exit_code == 0
    budgets = {e["name"]: e["monthly_budget"] for e in _json(seeded, "endpoint", "list")}
    assert budgets == {"chat": None, "paid": 7.5}
    assert run(seeded, "endpoint", "update", "paid", "--monthly-budget", "none").exit_code == 0
    assert _json(seeded, "endpoint", "list")[1]["monthly_budget"] is None

    created = json.loads(run(seeded, "token", "create", "--name", "ci", "--monthly-budget",
                             "5", "--json").stdout)
    assert created["monthly_budget"] == 5.0
    updated = run(seeded, "token", "update", str(created["id"]), "--monthly-budget", "none",
                  "--rpm", "30")
    assert updated.exit_code == 0, updated.output
    token = _json(seeded, "token", "list")[0]
    assert (token["monthly_budget"], token["rpm"]) == (None, 30)


BAD_INPUT = [
    (["endpoint", "target", "add", "--endpoint", "chat", "--provider", "ghost", "--model",
      "m"], "no provider named 'ghost'"),
    (["endpoint", "target", "add", "--endpoint", "chat", "--provider", "echo", "--model", "m",
      "--weight", "0"], "weight must be a whole number from 1 to 1000"),
    (["endpoint", "target", "add", "--endpoint", "chat", "--provider", "echo", "--model", "m",
      "--price-input", "lots"], "price_input_per_m must be a number"),
    (["endpoint", "target", "add", "--endpoint", "ghost", "--provider", "echo", "--model",
      "m"], "no endpoint 'ghost'"),
    (["endpoint", "target", "remove", "999"], "no target with id 999"),
    (["endpoint", "target", "update", "999", "--weight", "2"], "no target with id 999"),
    (["endpoint", "target", "update", "1", "--weight", "0"], "weight must be"),
    (["endpoint", "target", "update", "1"], "nothing to change"),
    (["endpoint", "update", "chat", "--monthly-budget", "-1"], "monthly_budget must be"),
    (["endpoint", "update", "chat"], "nothing to change"),
    (["token", "create", "--name", "t", "--monthly-budget", "lots"],
     "monthly_budget must be a number"),
    (["token", "update", "999", "--monthly-budget", "5"], "no token with id 999"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_one_clear_error_and_changes_nothing(seeded: Path, args: list[str],
                                                          message: str) -> None:
    before = row_counts(seeded)
    result = run(seeded, *args)
    assert result.exit_code != 0 and message in result.stderr, result.output
    assert "Traceback" not in result.output + result.stderr
    assert row_counts(seeded) == before
