"""`modelproxy serve --workers N`: a supervisor and N gevent workers on one port (real
processes, a redis-server of the test's own: N > 1 needs MODELPROXY_REDIS_URL)."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.live import free_port
from tests.server.client_fixtures import Appliance, clean_environ, wait_for
from tests.workers import (
    answered_by,
    gevent_loaded,
    seen_workers,
    wait_for_line,
    wait_for_workers,
    worker_pids,
)


def _echo_appliance(tmp_path, database_url=None) -> Appliance:
    """An appliance with the offline echo provider, its endpoint and a token (`.issued`)."""
    app = Appliance(tmp_path / "data", database_url)
    app.provider("echo", type="echo")
    app.endpoint("echo", "/api/chat", "echo", model="echo-model")
    app.issued = app.token("load")
    return app


@pytest.fixture
def appliance(tmp_path):
    """On SQLite (several processes writing one file: the harder case for the log)."""
    app = _echo_appliance(tmp_path)
    yield app
    app.close()


@pytest.fixture
def any_appliance(tmp_path, database_url):
    """On SQLite, then on PostgreSQL."""
    app = _echo_appliance(tmp_path, database_url)
    yield app
    app.close()


def _chat(app: Appliance, **kwargs) -> requests.Response:
    return requests.post(app.url + "/api/chat", headers=app.issued.headers, timeout=30,
                         json={"messages": [{"role": "user", "content": "hi"}]}, **kwargs)


# --- refusal without Redis ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "environment", "auto"])
def test_several_workers_without_redis_are_refused(tmp_path, how) -> None:
    if how == "auto" and (os.cpu_count() or 1) < 2:
        pytest.skip("auto is one worker on one CPU")
    command = [sys.executable, "-m", "app.main", "serve", "--port", str(free_port()),
               "--data-dir", str(tmp_path / "data")]
    env = clean_environ()
    if how == "flag":
        command += ["--workers", "2"]
    else:
        env["MODELPROXY_WORKERS"] = "2" if how == "environment" else "auto"
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1, result.stderr
    workers = 2 if how != "auto" else os.cpu_count()
    assert (f"Error: MODELPROXY_WORKERS={workers} needs MODELPROXY_REDIS_URL: without Redis "
            "each worker keeps its own rate limits and quotas") in result.stderr
    assert "--workers 1" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_a_bad_workers_value_is_a_clear_error(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "serve", "--workers", "lots", "--data-dir",
         str(tmp_path)], capture_output=True, text=True, timeout=60, env=clean_environ())
    assert result.returncode == 1
    assert "Error: MODELPROXY_WORKERS: expected a whole number, got 'lots'" in result.stderr


# --- serving -------------------------------------------------------------------------------


def test_two_workers_answer_on_one_port(appliance, redis_server) -> None:
    live = appliance.serve(workers=2, MODELPROXY_REDIS_URL=redis_server.url)
    pids = worker_pids(live)
    assert len(pids) == 2
    assert seen_workers(live, want=2) == pids  # both take connections from the one socket
    assert not gevent_loaded(live.process.pid)  # the supervisor is never patched
    assert all(gevent_loaded(pid) for pid in pids)
    numbers = {answered_by(requests.get(live.url + "/api/health", timeout=5))[0]
               for _ in range(50)}
    assert numbers <= {1, 2}
    # migrations and the setup code once, in the supervisor
    assert live.output.count("Setup code:") == 1
    assert "2 workers serving" in live.output


def test_metrics_add_up_over_the_workers(appliance, redis_server) -> None:
    live = appliance.serve(workers=2, MODELPROXY_REDIS_URL=redis_server.url)
    for _ in range(30):  # each on a new connection: both workers take some
        assert _chat(appliance).status_code == 200
    assert wait_for(lambda: len(appliance.log_rows()) == 30, timeout=10)
    total = 'modelproxy_requests_total{endpoint="echo",status="200"} 30.0'
    rows_written: dict[int, float] = {}  # each worker's own log writer, by worker number
    for _ in range(200):
        response = requests.get(live.url + "/metrics", timeout=5)
        assert response.status_code == 200
        assert total in response.text  # the sum over the workers, whichever answered
        number, pid = answered_by(response)
        assert pid in worker_pids(live)
        assert f'modelproxy_log_writer_up{{worker="{number}"}} 1.0' in response.text
        written = re.search(rf'modelproxy_log_rows_written_total{{worker="{number}"}} (\S+)',
                            response.text)
        rows_written[number] = float(written.group(1))
        if len(rows_written) == 2:
            break
    assert sum(rows_written.values()) == 30 and all(rows_written.values()), rows_written


def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(
        appliance, redis_server) -> None:
    live = appliance.serve(workers=2, MODELPROXY_REDIS_URL=redis_server.url)
    before = worker_pids(live)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    for _ in range(20):  # the other worker answers while the victim is replaced
        assert _chat(appliance).status_code == 200
    wait_for_line(live, rf"worker \d \(pid {victim}\) died \(killed by signal 9 \(SIGKILL\)\); "
                        "starting another")
    after = wait_for_workers(live, 2, other_than={victim})
    assert victim not in after and len(after - before) == 1
    assert seen_workers(live, want=2) == after


def test_a_worker_that_keeps_dying_at_start_is_retried_with_a_backoff(
        appliance, redis_server) -> None:
    live = appliance.serve(workers=2, MODELPROXY_REDIS_URL=redis_server.url)
    key = appliance.data_dir / "secret.key"
    hidden = key.with_name("secret.key.hidden")
    key.rename(hidden)  # a replacement cannot open the provider keys: it exits at start
    try:
        victim = min(worker_pids(live))
        os.kill(victim, signal.SIGKILL)
        wait_for_line(live, r"died at start \(exit status 1, 1 time\(s\) in a row\); "
                            r"starting another in 0\.5 s")
        wait_for_line(live, r"died at start \(exit status 1, 2 time\(s\) in a row\); "
                            r"starting another in 1\.0 s")
        assert _chat(appliance).status_code == 200  # the other one serves meanwhile
    finally:
        hidden.rename(key)
    wait_for_workers(live, 2, other_than={victim}, timeout=30)
    assert live.stop() == 0


# --- stopping and restarting ---------------------------------------------------------------

TOTAL = 300
CLIENTS = 16


def _load(app: Appliance, until: threading.Event | None = None,
          total: int = TOTAL) -> tuple[dict[str, int], list[Exception], threading.Thread]:
    """Chats from CLIENTS threads (new connections each) in a background thread: until
    `until` is set, else `total` of them. Returns (request id -> status, errors, thread)."""
    answered: dict[str, int] = {}
    errors: list[Exception] = []
    numbers = itertools.count()
    lock = threading.Lock()

    def client() -> None:
        while (until is None and next(numbers) < total) or (
                until is not None and not until.is_set()):
            try:
                response = _chat(app)
            except requests.RequestException as exc:
                with lock:
                    errors.append(exc)
                continue
            with lock:
                answered[response.headers["X-Request-ID"]] = response.status_code

    def run() -> None:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            for _ in range(CLIENTS):
                pool.submit(client)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return answered, errors, thread


def test_sigterm_under_load_stops_every_worker_and_loses_no_log_row(
        any_appliance, redis_server) -> None:
    appliance = any_appliance
    live = appliance.serve(workers=2, MODELPROXY_REDIS_URL=redis_server.url,
                           MODELPROXY_GRACE_S="20")
    pids = worker_pids(live)
    answered, errors, load = _load(appliance)
    assert wait_for(lambda: len(answered) >= 60, timeout=30)
    live.process.send_signal(signal.SIGTERM)
    load.join(timeout=60)
    assert live.stop() == 0, live.output

    assert len(answered) + len(errors) == TOTAL
    assert all(isinstance(e, requests.ConnectionError) for e in errors)  # refused: stopped
    assert set(answered.values()) <= {200, 503}
    rows = appliance.log_rows()
    assert len(rows) == len(answered)  # exactly one row each, none lost
    assert {r["request_id"]: r["status"] for r in rows} == answered
    for pid in pids:
        assert f"(pid {pid}) stopped (exit status 0)" in live.output
    assert "Traceback" not in live.output


def test_sighup_restarts_the_workers_one_at_a_time_without_refusing(
        appliance, redis_server) -> None:
    live = appliance.serve(workers=2, MODELPROXY_REDIS_URL=redis_server.url)
    old = worker_pids(live)
    done = threading.Event()
    answered, errors, load = _load(appliance, until=done)
    try:
        assert wait_for(lambda: len(answered) >= 30, timeout=30)
        live.process.send_signal(signal.SIGHUP)
        wait_for_line(live, r"restart done", timeout=60)
        served_before = len(answered)
        assert wait_for(lambda: len(answered) >= served_before + 30, timeout=30)
    finally:
        done.set()
        load.join(timeout=60)
    assert errors == []  # no connection refused or reset during the restart
    assert set(answered.values()) == {200}
    new = worker_pids(live)
    assert len(new) == 2 and not new & old
    events = _ready_and_stopped(live.output)
    for pid in old:  # each old one stopped only once its replacement was ready
        number = next(n for n, p, what in events if p == pid)
        stopped = events.index((number, pid, "stopped"))
        assert any(n == number and p in new and what == "ready"
                   for n, p, what in events[:stopped]), live.output
    assert live.stop() == 0
    assert len(appliance.log_rows()) == len(answered)


def _ready_and_stopped(output: str) -> list[tuple[int, int, str]]:
    """The supervisor's `worker N (pid P) ready|stopped` lines, in order."""
    return [(int(n), int(p), what) for n, p, what in
            re.findall(r"worker (\d+) \(pid (\d+)\) (ready|stopped)", output)]


def test_no_worker_outlives_a_killed_supervisor(appliance, redis_server) -> None:
    live = appliance.serve(workers=2, MODELPROXY_REDIS_URL=redis_server.url)
    pids = worker_pids(live)
    live.process.kill()  # the supervisor, without a chance to stop them
    live.process.wait(timeout=10)
    assert wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") and
                                    "zombie" not in _state(pid) for pid in pids), timeout=30)
    with pytest.raises(requests.ConnectionError):  # nobody holds the port any more
        requests.get(live.url + "/api/health", timeout=2)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(line for line in status if line.startswith("State:"))
    except FileNotFoundError:
        return "gone"
