"""Child processes for the benchmark: started on loopback ports, always stopped at the end."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refusing_port() -> tuple[socket.socket, str]:
    """A loopback socket bound but never listening, and its base URL: a connection to it is
    refused at once, and no other process can take the port while the socket is open."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def raise_nofile(wanted: int = 65536) -> None:
    """Raise this process's open-files limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < new:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark itself dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_setup(cpus: set[int] | None) -> Callable[[], None]:
    def setup() -> None:
        _die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


def pin_self(cpus: set[int] | None) -> None:
    """Run this process (and the children it starts from now on) on `cpus`."""
    if cpus:
        os.sched_setaffinity(0, cpus)


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for the proxy under test, CPUs for everything else), or (None, None) when not
    pinning: with 2+ CPUs the proxies get the last one to themselves."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


class Children:
    """The benchmark's child processes; `stop_all` (also run on exit) ends every one."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              cwd: Path | None = None, cpus: set[int] | None = None) -> subprocess.Popen:
        """Start `argv` (on `cpus` when given), its output going to NAME.log."""
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_child_setup(cpus))
        log.close()
        self.procs[name] = proc
        return proc

    def output(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def wait_ready(self, name: str, url: str, timeout: float = 30.0) -> None:
        """Wait until `url` answers anything over HTTP; fail if the child exits first."""
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{self.output(name)}")
            try:
                urllib.request.urlopen(url, timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # an HTTP error status still means it is serving
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{name} did not answer within {timeout} s:\n{self.output(name)}")

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """SIGTERM one child and wait for it (SIGKILL after `timeout`)."""
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM each child, wait, then SIGKILL whatever is left."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB: its resident memory now and at its peak."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB -> MB
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without any MODELPROXY_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPROXY_")}
    return {**env, **extra}
