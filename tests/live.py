"""A real `modelproxy serve` process for tests: started on a free port, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`modelproxy serve` in a child process; `.url` once healthy; `.stop()` sends SIGTERM.

    `workers=N` (N > 1) starts `serve --workers N`: the process is then the supervisor,
    and `start()` returns once all N workers are ready (see tests/workers.py for helpers
    over them; it needs MODELPROXY_REDIS_URL in `env`)."""

    def __init__(self, data_dir: Path, database_url: str | None = None,
                 env: dict[str, str] | None = None, wrap: list[str] | None = None,
                 module: str = "app.main", workers: int = 1,
                 ca_file: Path | None = None) -> None:
        self.port = free_port()
        # ca_file: the server serves TLS (its certificate, for 127.0.0.1, signed by this CA)
        self.ca_file = ca_file
        self.url = f"{'https' if ca_file else 'http'}://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.env = {**os.environ, "MODELPROXY_BCRYPT_ROUNDS": "4", **(env or {})}
        if database_url:
            self.env["MODELPROXY_DATABASE_URL"] = database_url
        self.wrap = wrap or []  # a command the server runs under, e.g. prlimit
        self.module = module  # the entry point: app.main, or a test's variant of it
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self._lines: list[str] = []
        self._drain: threading.Thread | None = None

    @property
    def output(self) -> str:
        """What the server printed so far (read all along: a pipe nobody reads fills at
        ~64 KB and then blocks the server's event loop on its next log line)."""
        return "".join(self._lines)

    def start(self, timeout: float = 20.0) -> LiveServer:
        workers = ["--workers", str(self.workers)] if self.workers > 1 else []
        self.process = subprocess.Popen(
            [*self.wrap, sys.executable, "-m", self.module, "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir), *workers],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._lines = []
        self._drain = threading.Thread(target=self._read_output, args=(self.process.stdout,),
                                       daemon=True, name="live-server-output")
        self._drain.start()
        deadline = time.monotonic() + timeout
        answering: set[str] = set()  # the workers seen (their X-ModelProxy-Worker)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._drain.join(timeout=5)
                raise RuntimeError(f"server exited early:\n{self.output}")
            try:
                response = requests.get(self.url + "/api/health", timeout=1,
                                        verify=str(self.ca_file) if self.ca_file else True)
                answering.add(response.headers.get("X-ModelProxy-Worker", ""))
                if self.workers == 1 or len(answering) >= self.workers or (
                        f"{self.workers} workers serving" in self.output):
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass  # a supervisor's socket queues connections until a worker is up
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the server and wait for it; returns its exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)
        return self.process.returncode

    def _read_output(self, stream) -> None:
        for line in stream:
            self._lines.append(line)

    def cpu_seconds(self) -> float:
        """The CPU time the server process has used so far, all its threads (Linux): a
        count that grows only while the server works, so a test can wait for work to be
        under way (bcrypt, say) without guessing how long that takes."""
        assert self.process is not None
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # after "(name)": state is the first field
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
