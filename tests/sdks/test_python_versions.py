"""The Python SDK on the oldest Python it claims (requires-python >= 3.10) and the newest
one this machine has, besides the 3.11 the suite runs on: `pip install` of the SDK into a
fresh venv of that Python (requests comes from the package index), then the README's
examples run there against the SDK test server. An interpreter the machine lacks is
skipped, by name."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.sdks import readme
from tests.sdks.conftest import REPO, SdkServer

VERSIONS = ("3.10", "3.13")


def interpreter(version: str) -> str | None:
    """A working `python<version>`: on the PATH, else one pyenv installed."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}"),
                  *sorted(map(str, pyenv.glob(f"versions/{version}.*/bin/python{version}")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "pass"], capture_output=True, timeout=30,
                               check=False)
        if probe.returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module", params=VERSIONS)
def sdk_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[str, Path]:
    """(version, the python of a new venv of it with the SDK installed, not editable)."""
    python = interpreter(request.param)
    if python is None:
        pytest.skip(f"no Python {request.param} on this machine")
    work = tmp_path_factory.mktemp(f"py{request.param}")
    shutil.copytree(REPO / "sdks" / "python", work / "sdk",
                    ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    subprocess.run([python, "-m", "venv", str(work / "venv")], check=True, timeout=120)
    venv_python = work / "venv" / "bin" / "python"
    install = subprocess.run([str(venv_python), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", str(work / "sdk")],
                             capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    return request.param, venv_python


def test_readme_examples_run_on_other_pythons(sdk_python: tuple[str, Path],
                                              sdk_server: SdkServer, tmp_path: Path) -> None:
    version, python = sdk_python
    program = "import modelproxy, sys; print('%d.%d' % sys.version_info[:2], modelproxy.__file__)\n"
    result = subprocess.run([str(python), "-c", program + readme.source(sdk_server)],
                            cwd=tmp_path, env={"PATH": os.environ["PATH"]},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    first, _, printed = result.stdout.partition("\n")
    ran, sdk_file = first.split()
    assert ran == version
    assert sdk_file.startswith(str(python.parents[1]))  # the installed SDK, not the repo's
    readme.assert_printed(printed, sdk_server)
