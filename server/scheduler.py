"""The housekeeping schedule inside `serve` (APScheduler's gevent scheduler).

Every job first takes its lock row, so servers sharing one database run each job once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.gevent import GeventScheduler

from app import jobs

log = logging.getLogger(__name__)


def _locked(name: str, ttl: Callable[[], dt.timedelta], state: Any,
            work: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        with state.db.connection_context():
            if not jobs.acquire_lock(name, ttl()):
                return
            result = work()
        if result:
            log.info("%s: %s", name, result)

    return run


def start(state: Any) -> GeventScheduler:
    """Schedule the jobs and start the scheduler; the caller shuts it down."""
    def option(name: str) -> Any:
        return state.catalog.options[name]  # read at run time: admins change them

    def every(**span: float) -> Callable[[], dt.timedelta]:
        return lambda: dt.timedelta(**span)

    scheduler = GeventScheduler(timezone="UTC", job_defaults={"coalesce": True,
                                                              "max_instances": 1})
    scheduler.add_job(
        _locked("purge_logs", every(minutes=50), state,
                lambda: jobs.purge_request_logs(option("log_retention_days"))),
        "cron", minute=17, id="purge_logs")
    scheduler.add_job(
        _locked("check_providers",
                lambda: dt.timedelta(minutes=option("provider_check_minutes"), seconds=-5),
                state, state.health.check_all),
        "interval", minutes=1, id="check_providers", next_run_time=dt.datetime.now(dt.UTC))
    scheduler.add_job(
        _locked("purge_sessions", every(hours=1), state, jobs.purge_expired_sessions),
        "cron", hour=4, minute=7, id="purge_sessions")
    if state.settings.is_sqlite:
        # In an OS thread: copying and compressing a large database takes seconds of
        # blocking calls, which on the event loop would hold up every request.
        scheduler.add_job(
            _locked("backup", every(hours=1), state,
                    lambda: state.run_blocking(jobs.nightly_backup, state.db, state.settings,
                                               option("backups_kept"))),
            "cron", hour=3, minute=0, id="backup")
    scheduler.start()
    return scheduler
