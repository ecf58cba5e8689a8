"""Whether `serve` supervises workers, decided before gevent is imported (app/serve_mode.py),
and how the supervisor names a worker's end."""

from __future__ import annotations

import os
import signal

import pytest

from app.serve_mode import supervises
from server.supervisor import describe_exit


@pytest.mark.parametrize(("args", "environ", "expected"), [
    ([], {}, False),
    (["--workers", "2"], {}, True),
    (["--workers=3", "--port", "1"], {}, True),
    (["--workers", "1"], {"MODELPROXY_WORKERS": "4"}, False),  # the flag wins
    ([], {"MODELPROXY_WORKERS": "2"}, True),
    ([], {"MODELPROXY_WORKERS": "lots"}, False),  # Settings then reports the bad value
    (["--workers", "2"], {"MODELPROXY_LISTEN_FD": "3"}, False),  # a worker serves itself
])
def test_supervises_from_the_flag_then_the_environment(args, environ, expected,
                                                       tmp_path) -> None:
    assert supervises(args, environ, tmp_path / "none.env") is expected


def test_supervises_reads_the_env_file_last(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# workers\nexport MODELPROXY_WORKERS='2'  # two\n")
    assert supervises([], {}, env_file)
    assert not supervises([], {"MODELPROXY_WORKERS": "1"}, env_file)


def test_auto_is_the_cpu_count(tmp_path) -> None:
    assert supervises(["--workers", "auto"], {}, tmp_path / "x") is ((os.cpu_count() or 1) > 1)


def test_describe_exit() -> None:
    assert describe_exit(0) == "exit status 0"
    assert describe_exit(3) == "exit status 3"
    assert describe_exit(-signal.SIGKILL) == "killed by signal 9 (SIGKILL)"
