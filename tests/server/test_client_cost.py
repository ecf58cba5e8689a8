"""What requests cost, through a real server and the fake upstream: each row's cost at its
target's price (whole and streamed answers, every dialect), cached prompt tokens at the
cached price, no price -> a null cost counted as unpriced, history kept as it was when a
price changes, and the overview's budgets."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import requests

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from app.models import Endpoint, EndpointTarget, Token, utcnow  # noqa: E402
from tests.fakes.script import Turn, echo_turn  # noqa: E402
from tests.fakes.upstream import FakeUpstream  # noqa: E402
from tests.server.admin_fixtures import (  # noqa: E402
    HTTP_TIMEOUT,
    PROVIDER_KEY,
    AdminAppliance,
    build_admin_appliance,
)

PRICED = (Decimal(2), Decimal("0.5"), Decimal(8))  # input, cached input, output per million
CLAUDE = (Decimal(3), Decimal("0.3"), Decimal(15))
GPT_4O = (2.5, 1.25, 10.0)  # the shipped table's openai gpt-4o (app/data/prices.json)


@dataclass
class CacheScript:
    """The fake upstream's model: echo, with `cached` prompt tokens read from its cache."""

    cached: int = 0
    seen: list[str] = field(default_factory=list)

    def __call__(self, dialect: str, body: dict[str, Any]) -> Turn:
        self.seen.append(dialect)
        return Turn(echo_turn(dialect, body).text, cached=self.cached)


@dataclass
class Money:
    env: AdminAppliance
    script: CacheScript
    endpoints: dict[str, dict[str, Any]]
    token: dict[str, Any]

    @property
    def url(self) -> str:
        return self.env.url

    def row(self, response: requests.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        [row] = self.env.admin.wait_for_log_rows(
            1, request_id=response.headers["X-Request-ID"])
        return row


def set_prices(env: AdminAppliance, endpoint_id: int,
               prices: tuple[Decimal, Decimal, Decimal] | None) -> None:
    """The endpoint's target's own prices (None: none, the shipped table's), set on its row
    in the database; the server reloads on the endpoint's next change."""
    values = prices or (None, None, None)
    with env.appliance.session():
        EndpointTarget.update(price_input_per_m=values[0], price_cached_input_per_m=values[1],
                              price_output_per_m=values[2], updated_at=utcnow()).where(
            EndpointTarget.endpoint == endpoint_id).execute()
    env.admin.ok("PATCH", f"endpoints/{endpoint_id}", json={"enabled": True})


def cost(row: dict[str, Any], prices: tuple[Any, Any, Any]) -> float:
    price_in, price_cached, price_out = (float(p) for p in prices)
    uncached = row["prompt_tokens"] - row["cached_tokens"]
    return (uncached * price_in + row["cached_tokens"] * price_cached
            + row["completion_tokens"] * price_out) / 1e6


@pytest.fixture(scope="module")
def _money(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Money]:
    script = CacheScript()
    with FakeUpstream(script=script) as fake:
        env = build_admin_appliance(tmp_path_factory.mktemp("money"), fake)
        try:
            root = env.admin
            ids = {name: root.ok("POST", "providers", 201, json={
                "name": name, "type": kind, "base_url": fake.base_url,
                "api_key": PROVIDER_KEY})["id"]
                for name, kind in (("claude", "anthropic"), ("oai", "openai"))}
            made = {
                "priced": root.create_endpoint(env.provider_ids["fake"], name="priced",
                                               model="gpt-4o-mini"),
                "unpriced": root.create_endpoint(env.provider_ids["fake"], name="unpriced",
                                                 model="no-such-model-anywhere"),
                "claude": root.create_endpoint(ids["claude"], name="claude",
                                               model="claude-upstream"),
                "oai": root.create_endpoint(ids["oai"], name="oai", model="gpt-4o"),
            }
            set_prices(env, made["priced"]["id"], PRICED)
            set_prices(env, made["claude"]["id"], CLAUDE)
            token = root.create_token(name="money")
            yield Money(env, script, made, token)
        finally:
            env.appliance.close()


@pytest.fixture
def money(_money: Money) -> Money:
    _money.script.cached = 0
    _money.env.fake.reset()
    return _money


def chat(m: Money, endpoint: str, text: str = "how much is this", stream: bool = False
         ) -> requests.Response:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": text}], "stream": stream}
    return requests.post(m.url + m.endpoints[endpoint]["path"], json=body,
                         timeout=HTTP_TIMEOUT, headers=_auth(m))


def _auth(m: Money) -> dict[str, str]:
    return {"Authorization": f"Bearer {m.token['token']}",
            "X-Request-ID": "cost-" + uuid.uuid4().hex}


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_costs_its_targets_price(money: Money, stream: bool) -> None:
    row = money.row(chat(money, "priced", "one two three four five", stream=stream))
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert not row["usage_estimated"] and row["cached_tokens"] == 0
    assert row["cost"] == pytest.approx(cost(row, PRICED), abs=1e-9)
    assert row["target_id"] is not None and row["attempts"] == 1
    assert row["attempt_log"][0]["target_id"] == row["target_id"]


@pytest.mark.parametrize("stream", [False, True])
def test_cached_prompt_tokens_cost_the_cached_price(money: Money, stream: bool) -> None:
    money.script.cached = 3
    row = money.row(chat(money, "priced", "one two three four five six", stream=stream))
    assert row["cached_tokens"] == 3 and row["prompt_tokens"] > 3
    assert row["cost"] == pytest.approx(cost(row, PRICED), abs=1e-9)
    assert row["cost"] < cost({**row, "cached_tokens": 0}, PRICED)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_cache_reads_cost_the_cached_price(money: Money, stream: bool) -> None:
    """A Messages client of an Anthropic provider: the cache reads are in the prompt and
    priced as cached (input_tokens leaves them out; the row counts them in)."""
    money.script.cached = 4
    body = {"model": "claude", "max_tokens": 50, "stream": stream,
            "messages": [{"role": "user", "content": "a b c d e f g h"}]}
    response = requests.post(money.url + "/v1/messages", json=body, timeout=HTTP_TIMEOUT,
                             headers=_auth(money))
    row = money.row(response)
    assert row["client_dialect"] == row["provider_dialect"] == "messages"
    assert row["cached_tokens"] == 4 and row["prompt_tokens"] == 8
    assert row["cost"] == pytest.approx(cost(row, CLAUDE), abs=1e-9)


@pytest.mark.parametrize("stream", [False, True])
def test_the_shipped_table_prices_a_target_without_its_own(money: Money,
                                                           stream: bool) -> None:
    """A Responses client of an OpenAI provider's gpt-4o: the table's price, cached too."""
    money.script.cached = 2
    body = {"model": "oai", "input": "seven words in this little prompt", "stream": stream}
    response = requests.post(money.url + "/v1/responses", json=body, timeout=HTTP_TIMEOUT,
                             headers=_auth(money))
    row = money.row(response)
    assert row["provider_dialect"] == "responses" and row["cached_tokens"] == 2
    assert row["cost"] == pytest.approx(cost(row, GPT_4O), abs=1e-9)


def test_a_model_without_a_price_costs_null_and_counts_as_unpriced(money: Money) -> None:
    before = money.env.admin.ok("GET", "overview")["unpriced_requests_this_month"]
    row = money.row(chat(money, "unpriced"))
    assert row["prompt_tokens"] > 0 and row["cost"] is None
    root = money.env.admin
    usage = root.ok("GET", "usage", params={"range": "24h",
                                             "endpoint_id": money.endpoints["unpriced"]["id"]})
    assert usage["totals"]["unpriced_requests"] >= 1 and usage["totals"]["cost"] == 0
    overview = root.ok("GET", "overview")
    assert overview["currency"] == "USD"
    assert overview["unpriced_requests_this_month"] == before + 1


def _shift_to_last_month(m: Money, endpoint_id: int) -> dt.datetime:
    """Move the endpoint's rows and rollups back a month, as if sent then (a day's worth
    before this month began); the moment they now have."""
    from app.models import RequestLog, UsageDaily, UsageHourly

    back = dt.timedelta(days=utcnow().day)
    with m.env.appliance.session():
        for row in RequestLog.select().where(RequestLog.endpoint_id == endpoint_id):
            row.time = row.time - back
            row.save()
        for row in UsageHourly.select().where(UsageHourly.endpoint_id == endpoint_id):
            row.hour = row.hour - back
            row.save()
        for row in UsageDaily.select().where(UsageDaily.endpoint_id == endpoint_id):
            row.day = row.day - back
            row.save()
        return RequestLog.select().where(RequestLog.endpoint_id == endpoint_id).get().time


def test_a_price_changed_after_traffic_leaves_its_cost_as_it_was(money: Money) -> None:
    root = money.env.admin
    made = root.create_endpoint(money.env.provider_ids["fake"], name="history",
                                model="gpt-4o-mini")
    set_prices(money.env, made["id"], PRICED)
    money.endpoints["history"] = made
    old = [money.row(chat(money, "history", "words " * (i + 2))) for i in range(3)]
    old_cost = sum(r["cost"] for r in old)
    assert old_cost == pytest.approx(sum(cost(r, PRICED) for r in old), abs=1e-9)
    moment = _shift_to_last_month(money, made["id"])
    last_month = {"from": (moment - dt.timedelta(days=1)).isoformat(),
                  "to": (moment + dt.timedelta(days=1)).isoformat(),
                  "endpoint_id": made["id"]}

    def history() -> tuple[float, float]:
        series = root.ok("GET", "usage", params=last_month)
        daily = root.ok("GET", "usage", params={**last_month, "bucket": "day"})
        return series["totals"]["cost"], daily["totals"]["cost"]

    month_before = root.ok("GET", "overview")["cost_this_month"]
    assert history() == (pytest.approx(old_cost, abs=2e-6),) * 2
    dearer = (Decimal(20), Decimal(5), Decimal(80))
    set_prices(money.env, made["id"], dearer)
    assert history() == (pytest.approx(old_cost, abs=2e-6),) * 2, "history is kept"
    assert root.ok("GET", "overview")["cost_this_month"] == pytest.approx(month_before)
    new = money.row(chat(money, "history", "now it costs more"))
    assert new["cost"] == pytest.approx(cost(new, dearer), abs=1e-9)
    assert root.ok("GET", "overview")["cost_this_month"] == pytest.approx(
        month_before + new["cost"], abs=2e-6)
    assert history() == (pytest.approx(old_cost, abs=2e-6),) * 2


def test_usage_costs_are_the_rows_costs(money: Money) -> None:
    for stream in (False, True):
        money.row(chat(money, "priced", "sum me up", stream=stream))
    root = money.env.admin
    rows = root.log_rows(endpoint_id=money.endpoints["priced"]["id"])
    usage = root.ok("GET", "usage", params={"range": "24h",
                                             "endpoint_id": money.endpoints["priced"]["id"]})
    assert usage["totals"]["cost"] == pytest.approx(sum(r["cost"] for r in rows), abs=2e-6)
    assert usage["totals"]["cached_tokens"] == sum(r["cached_tokens"] for r in rows)
    assert usage["totals"]["unpriced_requests"] == 0


def test_the_overview_lists_the_budgets(money: Money) -> None:
    """Spend this month against each budget. The budgets are set after the traffic (as on
    the first of a month with spend already): the overview reads the month's rollups."""
    root = money.env.admin
    token = root.create_token(name="budgeted")
    endpoint = root.create_endpoint(money.env.provider_ids["fake"], name="budgeted",
                                    model="gpt-4o-mini")
    set_prices(money.env, endpoint["id"], (Decimal(10_000), Decimal(10_000), Decimal(10_000)))
    money.endpoints["budgeted"], money.token, mine = endpoint, token, money.token
    try:
        rows = [money.row(chat(money, "budgeted", "a b c d e")) for _ in range(2)]
    finally:
        money.token = mine
    spent = sum(r["cost"] for r in rows)  # 2 requests of ~11 tokens at $10,000 per million
    with money.env.appliance.session():  # the admin API's budget fields: another part
        Token.update(monthly_budget=Decimal(str(round(spent * 0.9, 6)))).where(
            Token.id == token["id"]).execute()
        Endpoint.update(monthly_budget=Decimal(str(round(spent / 0.85, 6)))).where(
            Endpoint.id == endpoint["id"]).execute()
        Endpoint.update(monthly_budget=Decimal(1000)).where(
            Endpoint.id == money.endpoints["priced"]["id"]).execute()
    budgets = {(b["subject"], b["id"]): b for b in root.ok("GET", "overview")["budgets"]}
    theirs = budgets[("token", token["id"])]
    assert (theirs["name"], theirs["level"]) == ("budgeted", "exceeded")
    assert theirs["spent"] == pytest.approx(spent, abs=2e-6)
    assert theirs["percent"] == pytest.approx(100 / 0.9, abs=0.01)
    warned = budgets[("endpoint", endpoint["id"])]
    assert (warned["level"], warned["percent"]) == ("warning", pytest.approx(85, abs=0.01))
    assert warned["budget"] == pytest.approx(spent / 0.85, abs=1e-6)
    fine = budgets[("endpoint", money.endpoints["priced"]["id"])]
    assert (fine["level"], fine["budget"]) == ("ok", 1000.0) and fine["percent"] < 80
    assert ("token", money.token["id"]) not in budgets  # no budget, not listed


@pytest.mark.parametrize("stream", [False, True])
def test_a_fallback_costs_the_price_of_the_target_that_answered(money: Money,
                                                                stream: bool) -> None:
    """The first target fails (500), the second answers: the row is priced at the
    second's prices, and names it."""
    root, env = money.env.admin, money.env
    backup = root.ok("POST", "providers", 201, json={
        "name": f"backup-{int(stream)}", "type": "openai_compatible",
        "base_url": env.fake.base_url, "api_key": PROVIDER_KEY})
    made = root.create_endpoint(env.provider_ids["fake"], name=f"fallback-{int(stream)}",
                                model="gpt-4o-mini")
    money.endpoints[made["name"]] = made
    dearer = (Decimal(20), Decimal(5), Decimal(80))
    with env.appliance.session():
        second = EndpointTarget.create(
            endpoint=made["id"], provider=backup["id"], model="gpt-4o-mini", priority=1,
            price_input_per_m=dearer[0], price_cached_input_per_m=dearer[1],
            price_output_per_m=dearer[2])
    with env.appliance.session():  # the first target: cheaper prices of its own
        EndpointTarget.update(price_input_per_m=PRICED[0], price_cached_input_per_m=PRICED[1],
                              price_output_per_m=PRICED[2], updated_at=utcnow()).where(
            EndpointTarget.id != second.id, EndpointTarget.endpoint == made["id"]).execute()
    root.ok("PATCH", f"endpoints/{made['id']}", json={"enabled": True})
    env.fake.fail_next(500)
    row = money.row(chat(money, made["name"], "fall back to the second", stream=stream))
    assert (row["attempts"], row["target_id"]) == (2, second.id)
    assert [a["status"] for a in row["attempt_log"]] == [500, 200]
    assert row["cost"] == pytest.approx(cost(row, dearer), abs=1e-9)
    assert row["cost"] > cost(row, PRICED)
