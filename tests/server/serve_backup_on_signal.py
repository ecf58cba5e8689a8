"""`modelproxy serve` whose nightly backup also starts on SIGUSR1, so that a test can watch
the server while a backup runs. The schedule is the only change: the job, its lease and the
thread it runs in are the real ones (server/scheduler.py)."""

from __future__ import annotations

import datetime as dt
import signal
import sys
from typing import Any

import server.runner  # noqa: F401  (monkey-patches first, as `modelproxy serve` does)
from app.main import main
from server import scheduler

_start = scheduler.start


def _start_with_signal(state: Any) -> Any:
    housekeeping = _start(state)
    job = housekeeping.get_job("backup")
    import gevent

    gevent.signal_handler(signal.SIGUSR1,
                          lambda: job.modify(next_run_time=dt.datetime.now(dt.UTC)))
    return housekeeping


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # until the scheduler is there to start it
    scheduler.start = _start_with_signal
    main(sys.argv[1:])
