"""`modelproxy desktop` from this checkout on a real X server (Xvfb), driven with xdotool:
what offscreen Qt cannot show (the window aborted with rc 134 on a stock X display)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gui.api import AdminAPI
from gui.server_process import answers
from tests.gui.conftest import ADMIN, seed
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]


def _xwindow():
    """packaging/xwindow.py (not importable by name: `packaging` is also a PyPI package)."""
    spec = importlib.util.spec_from_file_location("xwindow", ROOT / "packaging" / "xwindow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


xwindow = _xwindow()
pytestmark = pytest.mark.skipif(bool(xwindow.missing_tools()),
                                reason="needs Xvfb, xdotool, xwininfo: bash .ci/qt-deps x11")


def logged_row(url: str) -> None:
    """Wait for the request's log row (the writer commits every 250 ms)."""
    api = AdminAPI(url)
    api.login(*ADMIN)
    deadline = time.monotonic() + 10
    while not api.logs_page(limit=1)[0] and time.monotonic() < deadline:
        time.sleep(0.1)


def test_the_window_opens_on_x_logs_in_and_asks_before_stopping_a_used_server(tmp_path):
    token = seed(tmp_path / "data")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"QT_QPA_PLATFORM": "xcb", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "MODELPROXY_BCRYPT_ROUNDS": "4"}
    with xwindow.XServer() as x:
        window = subprocess.Popen(
            [sys.executable, "-m", "app.main", "desktop", "--port", str(port),
             "--data-dir", str(tmp_path / "data")],
            env={**os.environ, **x.env, **env}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        try:
            login = x.wait_window("Connect to ModelProxy")
            x.type(login, ADMIN[0])
            x.keys(login, "Tab")
            x.type(login, ADMIN[1])
            x.keys(login, "Return")
            main = x.wait_window(f"ModelProxy — {url}")
            requests.post(f"{url}/api/chat", headers={"Authorization": f"Bearer {token}"},
                          json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10)
            logged_row(url)
            x.keys(main, "ctrl+q")
            question = x.wait_window("ModelProxy$")  # clients used it: asked, not stopped
            assert answers(url)
            x.keys(question, "alt+s")  # Stop the server
            output = window.communicate(timeout=30)[0]
        finally:
            if window.poll() is None:
                window.terminate()
                window.communicate(timeout=30)
    assert window.returncode == 0, output
    assert not answers(url)
