"""Budget alerts on each database: a crossing's row is inserted once (a second server's
insert of the same crossing sends nothing), the webhook is retried with backoff and each
try noted, a full queue drops alerts with a warning, and stopping never waits for
retries. The webhook here is a function (the real POST is tested end to end in
tests/server/test_client_budgets.py)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

import peewee as pw
import pytest

from app.models import BudgetAlert, Endpoint, utcnow
from app.services import endpoints, options, providers, secret_key
from server.budget_alerts import BACKOFF_S, BudgetAlerts, Crossing
from server.catalog import Catalog
from server.client_api.quota_terms import Spend

MONTH = dt.date(2026, 12, 1)
HOOK = "http://127.0.0.1:9/hooks/budget"
CROSSING = Crossing("endpoint", 5, "chat", MONTH, 80, 1_000_000_000, 850_000_000)


class Webhook:
    """Refuses its first `failures` bodies; records every try and every wait."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict] = []
        self.waits: list[float] = []

    def post(self, url: str, body: dict) -> bool:
        assert url == HOOK
        self.bodies.append(body)
        return len(self.bodies) > self.failures

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return False  # not stopping


def _catalog(settings, db: pw.Database, actor, webhook_url: str = HOOK) -> Catalog:
    if webhook_url:
        options.update(settings, actor, {"budget_webhook_url": webhook_url})
    catalog = Catalog(settings, secret_key.load_box(settings), db)
    catalog.reload()
    return catalog


def _rows() -> list[tuple[int, int, bool]]:
    return [(r.threshold, r.tries, r.sent_at is not None)
            for r in BudgetAlert.select().order_by(BudgetAlert.id)]


def test_a_crossing_is_recorded_once_and_retried_until_accepted(db, settings, actor) -> None:
    hook = Webhook(failures=2)
    alerts = BudgetAlerts(_catalog(settings, db, actor), db, post=hook.post, wait=hook.wait)
    assert alerts.deliver(CROSSING) is True
    assert hook.waits == [1, 2] and len(hook.bodies) == 3
    assert hook.bodies[0] == CROSSING.body()
    assert _rows() == [(80, 3, True)]
    other_server = BudgetAlerts(_catalog(settings, db, actor, ""), db, post=hook.post)
    assert other_server.deliver(CROSSING) is False  # the row is there: nothing sent
    assert len(hook.bodies) == 3 and _rows() == [(80, 3, True)]


def test_a_webhook_that_never_accepts_is_given_up_after_the_last_backoff(
        db, settings, actor, caplog: pytest.LogCaptureFixture) -> None:
    hook = Webhook(failures=100)
    alerts = BudgetAlerts(_catalog(settings, db, actor), db, post=hook.post, wait=hook.wait)
    with caplog.at_level(logging.WARNING, "server.budget_alerts"):
        assert alerts.deliver(CROSSING) is True
    assert hook.waits == list(BACKOFF_S) == [1, 2, 4, 8, 16]
    assert _rows() == [(80, 6, False)]
    assert "gave up after 6 tries" in caplog.text


def test_without_a_webhook_the_crossing_is_only_recorded(db, settings, actor) -> None:
    hook = Webhook(failures=0)
    alerts = BudgetAlerts(_catalog(settings, db, actor, ""), db, post=hook.post)
    assert alerts.deliver(CROSSING) is True
    assert hook.bodies == [] and _rows() == [(80, 0, False)]


def _budgeted_endpoint(settings, actor) -> int:
    box = secret_key.load_box(settings)
    providers.create(box, actor, name="p", type="openai_compatible",
                     base_url="http://127.0.0.1:9", api_key="sk-test-key-1234")
    endpoint_id = endpoints.create(actor, name="chat", path="/api/chat", kind="chat",
                                   model="gpt-4o-mini", provider="p").id
    Endpoint.update(monthly_budget=Decimal("1"), updated_at=utcnow()).where(
        Endpoint.id == endpoint_id).execute()
    return endpoint_id


def test_stopping_does_not_wait_for_retries(db, settings, actor) -> None:
    """A webhook that is down: the thread is in its backoff when the server stops."""
    endpoint_id = _budgeted_endpoint(settings, actor)
    hook = Webhook(failures=100)
    alerts = BudgetAlerts(_catalog(settings, db, actor), db, post=hook.post)  # real waits
    alerts.start()
    alerts.spent([Spend(("endpoint", endpoint_id, MONTH), 0, 900_000_000)])  # crosses 80 %
    deadline = time.monotonic() + 5
    while not hook.bodies and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    alerts.stop()
    assert time.monotonic() - started < 0.5  # not the 31 s of backoff
    assert len(hook.bodies) == 1 and hook.bodies[0]["name"] == "chat"
    assert _rows() == [(80, 1, False)]


def test_past_the_queue_bound_alerts_are_dropped_with_a_warning(
        db, settings, actor, caplog: pytest.LogCaptureFixture) -> None:
    endpoint_id = _budgeted_endpoint(settings, actor)
    alerts = BudgetAlerts(_catalog(settings, db, actor), db, queue_max=1)  # not started
    with caplog.at_level(logging.WARNING, "server.budget_alerts"):
        alerts.spent([Spend(("endpoint", endpoint_id, MONTH), 0, 2_000_000_000)])
    assert "budget alert dropped" in caplog.text and "at 100%" in caplog.text
    alerts.spent([Spend(("endpoint", endpoint_id + 1, MONTH), 0, 2_000_000_000)])
    alerts.spent([Spend(("token", 12345, MONTH), 0, 2_000_000_000)])  # no such token
    assert caplog.text.count("budget alert dropped") == 1  # no budget: nothing queued
