"""`modelproxy serve --workers N` (N > 1): one supervisor process and N gevent workers.

The supervisor binds the listening socket once and starts N workers, each the same
executable (`modelproxy serve`, so it works packaged) inheriting the socket: one accept
queue that every worker takes connections from, so a worker stopping leaves nothing queued
behind it. It is never monkey-patched (it imports no gevent): it only starts processes,
waits on pipes and forwards signals.

- A worker says "ready" on a pipe once it accepts connections. One that dies is replaced
  (its exit status or signal logged); one that dies before it was ready is retried after
  a backoff (0.5 s doubling to 30 s). At the first start, a worker that dies before ready
  stops them all: `serve` exits 1, as the one process does when it cannot start.
- SIGTERM / SIGINT: every worker gets SIGTERM and stops gracefully (grace period, log rows
  written); the supervisor waits, then exits 0.
- SIGHUP: workers are replaced one at a time, each new one ready before the old one stops.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.settings import Settings, env_name
from server import process, startup

log = logging.getLogger("modelproxy")

POLL_S = 0.1  # how often the supervisor looks at its workers and signals
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
READY_TIMEOUT_S = 60.0  # a worker not ready in this time is taken as failed at start
STOP_MARGIN_S = 10.0  # beyond the grace period, before a worker still running is killed
METRICS_DIR = "metrics"  # under the data directory: the workers' prometheus_client files


@dataclass
class Worker:
    """One worker process and the read end of its "ready" pipe."""

    number: int
    process: subprocess.Popen[bytes]
    ready_pipe: int | None
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    retiring: bool = False  # SIGTERM sent: it stops, and is not replaced

    @property
    def pid(self) -> int:
        return self.process.pid

    def name(self) -> str:
        return f"worker {self.number} (pid {self.pid})"


def supervise(settings: Settings) -> int:
    """Run N workers until SIGTERM or SIGINT. Returns the exit status."""
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(message)s")
    startup.check_workers(settings)
    listener = startup.listen(settings)
    try:
        startup.prepare(settings)
        return Supervisor(settings, listener).run()
    finally:
        listener.close()


class Supervisor:
    def __init__(self, settings: Settings, listener: socket.socket) -> None:
        self.settings = settings
        self.listener = listener
        self.workers: dict[int, Worker] = {}  # by pid
        self.failures: dict[int, int] = {}  # by number: deaths before ready in a row
        self.due: dict[int, float] = {}  # by number: when to start its replacement
        self.stopping = False
        self.restarting = False
        self.metrics_dir = _fresh_dir(settings.data_dir / METRICS_DIR)

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        for number in range(1, self.settings.workers + 1):
            self._start(number)
        started = self._pump_until(lambda: all(w.ready for w in self.workers.values())
                                   and len(self.workers) == self.settings.workers,
                                   READY_TIMEOUT_S, fail_on_death=True)
        if not started and not self.stopping:
            log.error("the workers did not all start; stopping")
            self._stop_all()
            return 1
        log.info("%d workers serving (pids %s)", len(self.workers),
                 ", ".join(str(pid) for pid in sorted(self.workers)))
        while not self.stopping:
            self._pump(POLL_S)
            if self.restarting and not self.stopping:
                self.restarting = False
                self._roll()
        self._stop_all()
        log.info("stopped")
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # stopped already: exit 0 whatever comes
        return 0

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _on_hup(self, signum: int, frame: object) -> None:
        self.restarting = True

    def _pump(self, timeout: float) -> bool:
        """Wait up to `timeout` for a ready pipe; reap the dead; start replacements that
        are due. False when a worker died before it was ready."""
        pipes = {w.ready_pipe: w for w in self.workers.values() if w.ready_pipe is not None}
        try:
            readable, _, _ = select.select(list(pipes), [], [], timeout)
        except InterruptedError:  # a signal: the caller looks at the flags
            readable = []
        for fd in readable:
            self._read_ready(pipes[fd])
        healthy = self._reap()
        now = time.monotonic()
        for number, when in list(self.due.items()):
            if when <= now and not self.stopping:
                del self.due[number]
                self._start(number)
        return healthy

    def _pump_until(self, done, timeout: float, fail_on_death: bool = False) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if self.stopping or time.monotonic() > deadline:
                return False
            if not self._pump(POLL_S) and fail_on_death:
                return False
        return True

    # --- workers ------------------------------------------------------------------------

    def _start(self, number: int) -> Worker:
        read_end, write_end = os.pipe()
        fd = self.listener.fileno()
        env = {**os.environ, **self._settings_env(),
               process.LISTEN_FD_ENV: str(fd), process.READY_FD_ENV: str(write_end),
               process.WORKER_ENV: str(number),
               process.METRICS_DIR_ENV: str(self.metrics_dir)}
        try:
            child = subprocess.Popen(worker_command(), env=env, pass_fds=(fd, write_end),
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        finally:
            os.close(write_end)
        worker = Worker(number, child, read_end)
        self.workers[child.pid] = worker
        log.info("%s starting", worker.name())
        return worker

    def _settings_env(self) -> dict[str, str]:
        """The flags `serve` was given, as environment: a worker reads the same settings."""
        s = self.settings
        env = {env_name("host"): s.host, env_name("port"): str(s.port),
               env_name("data_dir"): str(s.data_dir), env_name("workers"): str(s.workers)}
        if s.database_url:
            env[env_name("database_url")] = s.database_url
        return env

    def _read_ready(self, worker: Worker) -> None:
        assert worker.ready_pipe is not None
        said = os.read(worker.ready_pipe, 1)
        os.close(worker.ready_pipe)
        worker.ready_pipe = None
        if said:
            worker.ready = True
            self.failures.pop(worker.number, None)
            log.info("%s ready", worker.name())

    def _reap(self) -> bool:
        """Forget the workers that have exited, logging how; schedule replacements.
        Returns False when one died before it was ready."""
        healthy = True
        for pid, worker in list(self.workers.items()):
            status = worker.process.poll()
            if status is None:
                continue
            del self.workers[pid]
            if worker.ready_pipe is not None:
                os.close(worker.ready_pipe)
            _forget_metrics(pid, self.metrics_dir)
            if worker.retiring:
                log.info("%s stopped (%s)", worker.name(), describe_exit(status))
                continue
            if not worker.ready:
                healthy = False
            self._replace(worker, status)
        return healthy

    def _replace(self, worker: Worker, status: int) -> None:
        if self.stopping:
            log.warning("%s ended while stopping (%s)", worker.name(), describe_exit(status))
            return
        if any(w.number == worker.number and not w.retiring for w in self.workers.values()):
            log.error("%s died (%s); its number is served by another", worker.name(),
                      describe_exit(status))  # a restart's new one that failed: old kept
            return
        if worker.ready:
            delay = 0.0
            log.error("%s died (%s); starting another", worker.name(), describe_exit(status))
        else:
            fails = self.failures.get(worker.number, 0) + 1
            self.failures[worker.number] = fails
            delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (fails - 1))
            log.error("%s died at start (%s, %d time(s) in a row); starting another in "
                      "%.1f s", worker.name(), describe_exit(status), fails, delay)
        self.due[worker.number] = time.monotonic() + delay

    def _retire(self, worker: Worker) -> None:
        worker.retiring = True
        worker.process.send_signal(signal.SIGTERM)  # nothing if it has exited already

    # --- SIGHUP and SIGTERM -------------------------------------------------------------

    def _roll(self) -> None:
        """Replace the workers one at a time: the new one ready before the old one stops."""
        log.info("SIGHUP: restarting the workers one at a time")
        for old in sorted(self.workers.values(), key=lambda w: w.number):
            if self.stopping:
                return
            if old.pid not in self.workers or old.retiring:
                continue
            new = self._start(old.number)
            if not self._pump_until(lambda new=new: new.ready, READY_TIMEOUT_S):
                log.error("%s did not become ready: keeping %s; restart stopped",
                          new.name(), old.name())
                if new.pid in self.workers:
                    self._retire(new)
                return
            self._retire(old)
            self._pump_until(lambda old=old: old.pid not in self.workers,
                             self.settings.grace_s + STOP_MARGIN_S)
        log.info("restart done: pids %s", ", ".join(str(p) for p in sorted(self.workers)))

    def _stop_all(self) -> None:
        """SIGTERM to every worker; wait for each to finish its requests and write its log
        rows (the grace period and a margin), then kill what is left."""
        self.due.clear()
        self.stopping = True
        log.info("stopping %d workers: finishing requests in flight (up to %.0f s)",
                 len(self.workers), self.settings.grace_s)
        for worker in list(self.workers.values()):
            self._retire(worker)
        # Not needed any more: once every worker has closed its copy too, a new connection
        # is refused at once rather than queued for no one.
        self.listener.close()
        deadline = time.monotonic() + self.settings.grace_s + STOP_MARGIN_S
        while self.workers and time.monotonic() < deadline:
            self._pump(POLL_S)
        for worker in list(self.workers.values()):
            log.error("%s did not stop in time: killing it", worker.name())
            worker.process.kill()
            worker.process.wait()
        self._reap()


def worker_command() -> list[str]:
    """`modelproxy serve` with the executable this process runs from (packaged or not)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "serve"]
    return [sys.executable, "-m", "app.main", "serve"]


def describe_exit(status: int) -> str:
    """`exit status 1` or `killed by signal 9 (SIGKILL)`, from a Popen returncode."""
    if status >= 0:
        return f"exit status {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = "unknown"
    return f"killed by signal {-status} ({name})"


def _fresh_dir(path: Path) -> Path:
    """An empty directory for this run's metric files (a last run's counters would add
    to this one's)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700, parents=True)
    return path


def _forget_metrics(pid: int, metrics_dir: Path) -> None:
    """Drop a dead worker's live gauges (open streams); its counters stay in the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(metrics_dir))


# Looked up before any fork: the child, between fork and exec, must only call it.
_PRCTL = None
if sys.platform.startswith("linux"):
    import ctypes

    _PRCTL = ctypes.CDLL(None).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """On Linux, a worker gets SIGTERM if the supervisor dies without stopping it
    (kill -9): no worker outlives it holding the port."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
