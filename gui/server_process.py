"""Desktop mode's own server: `modelproxy serve` as a child process of the window.

The same executable is used (the PyInstaller binary or this Python), so it works packaged.
The window talks HTTP to it like to any other server, and stops it on close if it
started it. Qt and gevent never share a process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from gui.api import Unreachable


def serve_command(port: int, data_dir: Path | None = None) -> list[str]:
    """How to run `modelproxy serve` with the executable this process runs from. One
    worker, whatever MODELPROXY_WORKERS says (the flag wins): the window's own server
    serves one person, and needs no Redis."""
    base = [sys.executable] if getattr(sys, "frozen", False) else [
        sys.executable, "-m", "app.main"]
    command = [*base, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return command


# The window's own server listens on 127.0.0.1 only and speaks plain HTTP: TLS settings
# meant for the office server (the environment, a .env) are emptied, which unsets them.
PLAIN_LOOPBACK = {"MODELPROXY_TLS_CERT": "", "MODELPROXY_TLS_KEY": ""}


# Looked up before any fork: the child, between fork and exec, must only call it.
_PRCTL = ctypes.CDLL("libc.so.6").prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """On Linux, the server gets SIGTERM if the window's process dies without closing it
    (killed, crashed): a server the window started never outlives it."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when a ModelProxy server answers its health check at `url`."""
    try:
        return requests.get(f"{url}/api/health", timeout=timeout).status_code in (200, 503)
    except requests.RequestException:
        return False


def serves_https_only(url: str, timeout: float = 1.0) -> bool:
    """True when the server at plain-http `url` speaks only TLS (it answered 400
    https_required): a server of this machine's, started with a certificate."""
    try:
        response = requests.get(f"{url}/api/health", timeout=timeout)
        return response.status_code == 400 and \
            response.json().get("error", {}).get("code") == "https_required"
    except (requests.RequestException, ValueError, AttributeError):
        return False


class LocalServer:
    """A `modelproxy serve` child process on 127.0.0.1:port."""

    def __init__(self, port: int, data_dir: Path | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            serve_command(self.port, self.data_dir), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent,
            env={**os.environ, "MODELPROXY_LOG_LEVEL": os.environ.get(
                "MODELPROXY_LOG_LEVEL", "WARNING"), **PLAIN_LOOPBACK},
        )

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Return once the server answers; Unreachable with its last words if it died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                error = (self.process.stderr.read() or b"").decode(errors="replace").strip()
                raise Unreachable(error.splitlines()[-1] if error else "the server stopped")
            if answers(self.url, 0.5):
                return
            time.sleep(0.1)
        raise Unreachable(f"the server did not answer within {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (a graceful stop), then kill if it lingers. Returns the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
