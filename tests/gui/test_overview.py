"""The Overview names what is wrong: providers never checked are not down, failing ones
are named, clients' 4xx are not upstream errors, and the page refreshes by itself."""

from __future__ import annotations

import requests

from gui.pages.overview import (
    OverviewPage,
    budget_warnings,
    card_texts,
    cost_text,
    cost_tip,
    health_text,
)

WAIT = 10_000
PROVIDERS = [{"name": "echo", "enabled": True, "ok": True},
             {"name": "openai-team", "enabled": True, "ok": None},
             {"name": "old", "enabled": False, "ok": False}]


def test_a_provider_never_checked_is_not_counted_as_down() -> None:
    assert health_text(PROVIDERS) == "1 ok, 1 not checked"  # was "1/2 providers ok"


def test_failing_providers_are_named() -> None:
    failing = [*PROVIDERS, {"name": "openrouter", "enabled": True, "ok": False},
               {"name": "gpu-box", "enabled": True, "ok": False}]
    assert health_text(failing) == "failing: openrouter, gpu-box"
    assert health_text([]) == "no providers"


def test_only_client_errors_show_no_upstream_errors() -> None:
    """401s and 429s only (the numbers the server gives for 1 answered, 4 refused): the
    single "Error rate" card said 80.0 %."""
    overview = {"requests_today": 5, "tokens_this_month": 10, "cost_this_month": 0,
                "active_tokens": 1, "error_rate_24h": 0.8, "requests_24h": 5,
                "client_errors_24h": 4, "upstream_errors_24h": 0,
                "client_error_rate_24h": 0.8, "upstream_error_rate_24h": 0.0,
                "upstream_health": PROVIDERS[:1]}
    texts = card_texts(overview)
    assert texts["upstream_errors"] == "0.0 % (0)"
    assert texts["client_errors"] == "80.0 % (4)"
    assert texts["upstream_health"] == "1 ok"


def test_a_server_before_the_split_shows_no_guess() -> None:
    old = {"requests_today": 5, "tokens_this_month": 10, "cost_this_month": 0,
           "active_tokens": 1, "error_rate_24h": 0.8, "upstream_health": []}
    assert card_texts(old)["upstream_errors"] == "—"


def test_the_overview_refreshes_itself_while_shown(qtbot, ctx, gui_server) -> None:
    page = OverviewPage(ctx, refresh_ms=300)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.refresh()
    assert not page.timer.isActive()  # not on screen: nothing is asked
    page.show()
    qtbot.waitExposed(page)
    assert page.timer.isActive()
    before = int(page.cards["requests_today"].value.text().replace(",", ""))
    requests.post(f"{gui_server.url}/api/chat", timeout=10,
                  headers={"Authorization": f"Bearer {gui_server.client_token}"},
                  json={"messages": [{"role": "user", "content": "counted by itself"}]})
    qtbot.waitUntil(lambda: int(page.cards["requests_today"].value.text().replace(",", ""))
                    > before, timeout=WAIT)  # no refresh() called: the timer did it
    page.hide()
    assert not page.timer.isActive()
    ctx.tasks.wait()


def test_cost_this_month_in_its_currency_names_unpriced_requests() -> None:
    overview = {"cost_this_month": 12.5, "currency": "USD",
                "unpriced_requests_this_month": 0}
    assert cost_text(overview) == "$12.50"
    assert cost_text({**overview, "unpriced_requests_this_month": 3}) == "$12.50 *"
    assert "* 3 requests used a model with no price" in cost_tip(
        {**overview, "unpriced_requests_this_month": 3})
    assert "*" not in cost_tip(overview)
    assert cost_text({"cost_this_month": 0.0042}) == "$0.0042"  # a server before currency
    assert cost_text({"cost_this_month": 2, "currency": "EUR"}) == "2.00 EUR"


def test_budget_warnings_list_the_subjects_near_or_over_their_budget() -> None:
    overview = {"currency": "USD", "budgets": [
        {"subject": "token", "id": 1, "name": "laptop", "budget": 5.0, "spent": 1.0,
         "percent": 20.0, "level": "ok"},
        {"subject": "endpoint", "id": 2, "name": "chat", "budget": 10.0, "spent": 8.5,
         "percent": 85.0, "level": "warning"},
        {"subject": "token", "id": 3, "name": "ci", "budget": 5.0, "spent": 5.2,
         "percent": 104.0, "level": "exceeded"}]}
    assert budget_warnings(overview) == [
        "✖ token ci: $5.20 of $5.00 (104 %), budget reached",
        "⚠ endpoint chat: $8.50 of $10.00 (85 %)"]
    assert budget_warnings({"budgets": []}) == budget_warnings({}) == []


def test_the_page_shows_budget_warnings_only_when_there_are_some(qtbot, ctx) -> None:
    page = OverviewPage(ctx)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.refresh()
    ctx.tasks.wait()
    overview = ctx.api.get("/overview")
    assert page.budgets.isHidden() == (not budget_warnings(overview))
    assert page.cards["cost_this_month"].value.text() == cost_text(overview)
