"""Money budgets on an endpoint whose fallback costs more: each request is held at the
dearest target's price, so when the cheap first target fails and the dear one answers
every request, what is let through still spends no more than the budget."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import peewee as pw
import requests

from app.models import EndpointTarget, Token, UsageDaily, utcnow
from server.client_api.usage import prompt_estimate
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import UPSTREAM_KEY, Appliance, chat_body, wait_for

MAX_TOKENS = 100
BODY = chat_body("hi", max_tokens=MAX_TOKENS)
PROMPT = prompt_estimate(BODY)
CHEAP = PROMPT * 1_000 + MAX_TOKENS * 2_000  # nanos at $1 / $2 per million
DEAR = PROMPT * 10_000 + MAX_TOKENS * 20_000  # nanos at $10 / $20 per million
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "finish_reason": "length",
                       "message": {"role": "assistant", "content": "a long answer"}}],
          "usage": {"prompt_tokens": PROMPT, "completion_tokens": MAX_TOKENS,
                    "total_tokens": PROMPT + MAX_TOKENS}}
ALLOWED = 10


def test_a_pricier_fallback_answering_every_request_stays_within_the_budget(tmp_path) -> None:
    with FakeUpstream() as cheap, FakeUpstream() as dear:
        app = Appliance(tmp_path / "data")
        try:
            app.provider("cheap", base_url=cheap.base_url, api_key=UPSTREAM_KEY)
            dear_id = app.provider("dear", base_url=dear.base_url, api_key=UPSTREAM_KEY)
            endpoint = app.endpoint("mixed", "/api/mixed", "cheap",
                                    price_input_per_m=Decimal(1), price_output_per_m=Decimal(2))
            token = app.token("budgeted")
            with app.session():
                EndpointTarget.create(endpoint=endpoint, provider=dear_id, model="dear-m",
                                      priority=1, price_input_per_m=Decimal(10),
                                      price_output_per_m=Decimal(20))
                # Room for ALLOWED dear requests, or more than 9 times as many cheap ones.
                Token.update(monthly_budget=Decimal(ALLOWED * DEAR) / 1_000_000_000,
                             updated_at=utcnow()).where(Token.id == token.id).execute()
            app.serve()
            app.wait_for_provider_checks(2)
            cheap.fail_always(500)
            dear.fail_next(200, ANSWER, count=None)  # max_tokens honoured, as it is billed
            dear.set_delay(0.2)  # all in flight at once: holds, not settled spend, decide

            def post(_: int) -> requests.Response:
                return requests.post(app.url + "/api/mixed", json=BODY, timeout=30,
                                     headers=token.headers)

            with ThreadPoolExecutor(max_workers=50) as pool:
                answers = list(pool.map(post, range(50)))
            assert Counter(r.status_code for r in answers) == {200: ALLOWED, 429: 50 - ALLOWED}
            answered = [app.log_row(r.headers["X-Request-ID"]) for r in answers
                        if r.status_code == 200]
            assert {(r["model"], r["cost_nanos"]) for r in answered} == {("dear-m", DEAR)}
            # Fallbacks, until the cheap one cooled down and requests went straight on.
            assert {r["attempts"] for r in answered} <= {1, 2}
            assert sum(r["attempts"] == 2 for r in answered) >= 3  # cooldown_failures

            def spent() -> int:
                with app.session():
                    return int(UsageDaily.select(pw.fn.SUM(UsageDaily.cost_nanos)).where(
                        UsageDaily.token_id == token.id).scalar() or 0)

            assert wait_for(lambda: spent() == ALLOWED * DEAR, 10)  # the budget, not past it
        finally:
            app.close()
