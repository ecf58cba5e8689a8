"""The Makefile's front door and the project metadata pip reads (`make install`)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dry_run(*args: str) -> str:
    """The commands `make` would run, without running them."""
    return subprocess.run(["make", "-n", "-s", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=True).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_screenshots_go_to_an_untracked_folder_unless_asked() -> None:
    assert "tests/screenshots.py build/screenshots" in dry_run("screenshots")
    assert "tests/screenshots.py docs/screenshots" in dry_run("screenshots",
                                                             "OUT=docs/screenshots")
    ignored = subprocess.run(["git", "check-ignore", "-q", "build/screenshots/01.png"],
                             cwd=ROOT, timeout=30)
    assert ignored.returncode == 0, "build/ is not ignored by git"


def test_the_license_is_an_spdx_expression() -> None:
    """setuptools warns at length, on every install, about the old `{text = ...}` table."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "LicenseRef-Proprietary"
    assert project["build-system"]["requires"] == ["setuptools>=77"]
