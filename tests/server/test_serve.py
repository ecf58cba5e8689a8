"""`modelproxy serve` as a process: health, error shape, graceful stop, clear start-up errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from app.db import connect
from app.models import database_proxy
from app.settings import load_settings
from server.factory import create_app
from tests.live import LiveServer, free_port


@pytest.fixture
def server(tmp_path, database_url):
    with LiveServer(tmp_path / "data", database_url) as live:
        yield live


def test_health_says_ok_with_version_and_database(server) -> None:
    response = requests.get(server.url + "/api/health", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["version"]


def test_unknown_path_and_method_get_the_error_shape(server) -> None:
    missing = requests.get(server.url + "/nothing-here", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"
    assert set(missing.json()["error"]) >= {"message", "type", "code"}
    wrong = requests.delete(server.url + "/api/health", timeout=5)
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_stop_exits_zero_without_waiting_on_idle_connections(tmp_path, sig) -> None:
    live = LiveServer(tmp_path / "data", env={"MODELPROXY_GRACE_S": "60"}).start()
    session = requests.Session()  # a keep-alive connection left idle
    assert session.get(live.url + "/api/health", timeout=5).status_code == 200
    started = time.monotonic()
    assert live.stop(sig) == 0
    assert time.monotonic() - started < 30  # far below the 60 s grace: idle ones are ended
    assert "stopped" in live.output
    with pytest.raises(requests.ConnectionError):
        requests.get(live.url + "/api/health", timeout=2)


def test_first_start_tells_how_to_create_an_admin(server) -> None:
    server.stop()
    assert "modelproxy admin create" in server.output


def test_port_in_use_is_a_clear_error(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "app.main", "serve", "--port", str(port), "--data-dir",
             str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_at_start_is_a_clear_error(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "serve", "--port", str(free_port()), "--data-dir",
         str(tmp_path), "--database-url", "postgresql://mp:hunter2@127.0.0.1:1/mp"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Error: cannot open the database postgresql://mp:***@127.0.0.1:1/mp" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_health_is_503_when_the_database_stops_answering(tmp_path) -> None:
    settings = load_settings({"data_dir": str(tmp_path), "bcrypt_rounds": 4}, environ={},
                             env_file=None)
    app = create_app(settings)
    state = app.extensions["modelproxy"]
    gateway = state.gateway
    gateway.db = connect("postgresql://nobody@127.0.0.1:1/none")  # gone
    try:
        response = app.test_client().get("/api/health")
    finally:
        gateway.db = state.db
        state.close()  # else its threads would query whatever database later tests open
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "version": response.get_json()["version"],
                                   "database": "error", "writer": "ok"}


def test_health_is_503_when_the_log_writer_is_not_running(tmp_path) -> None:
    settings = load_settings({"data_dir": str(tmp_path), "bcrypt_rounds": 4}, environ={},
                             env_file=None)
    app = create_app(settings)
    state = app.extensions["modelproxy"]
    client = app.test_client()
    try:
        running = client.get("/api/health")
        state.log_writer.stop()
        stopped = client.get("/api/health")
    finally:
        state.close()
    assert (running.status_code, running.get_json()["writer"]) == (200, "ok")
    assert stopped.status_code == 503
    assert {k: stopped.get_json()[k] for k in ("status", "database", "writer")} == {
        "status": "error", "database": "ok", "writer": "error"}


def test_the_admin_api_answers_503_when_no_database_connection_frees_in_time(
        tmp_path) -> None:
    """A full pool (or a database restarting) is a 503 to retry, not a 500."""
    settings = load_settings({"data_dir": str(tmp_path), "bcrypt_rounds": 4}, environ={},
                             env_file=None)
    app = create_app(settings)
    state = app.extensions["modelproxy"]
    tiny = connect(settings.database, max_connections=1,
                   wait_s=0.05)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with tiny.connection_context():
            taken.set()
            release.wait(timeout=10)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(timeout=5)
    database_proxy.initialize(tiny)
    try:
        response = app.test_client().post("/admin/api/login",
                                          json={"username": "a", "password": "b"})
    finally:
        release.set()
        holder.join(timeout=5)
        database_proxy.initialize(state.db)
        state.close()
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"]["code"] == "database_unavailable"
