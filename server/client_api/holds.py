"""What a request is held for before it is forwarded, and against which subjects: its
token's quotas and budget, its endpoint's budget. Its money hold is its token hold
(usage.tokens_to_reserve) priced at the highest price among the endpoint's targets, since
any of them may answer it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from app.prices import NANOS_PER_USD, Price
from server.client_api.quota_terms import ENDPOINT, TOKEN, Ask, Limits
from server.client_api.usage import (
    TokenHold,
    completion_to_reserve,
    prompt_estimate,
    tokens_to_reserve,
)

if TYPE_CHECKING:
    from server.catalog import EndpointRecord, TargetRecord, TokenRecord


class Asked(NamedTuple):
    """One subject a request is held against."""

    subject: str  # TOKEN or ENDPOINT
    subject_id: int
    limits: Limits
    ask: Ask
    naming: str  # what a refusal's message ends with: " for this token"


def asks(token: TokenRecord, endpoint: EndpointRecord | None, kind: str,
         body: dict[str, Any] | None, options: Mapping[str, Any]) -> list[Asked]:
    """What to hold a `kind` request of `body` against (none: it has no limits). A
    request to an unpriced endpoint is not held against any budget (its cost counts 0).
    `options["quota_reserve_tokens"]`: the completion held for a chat request without
    max_tokens (read only where something is held)."""
    endpoint_budget = endpoint.monthly_budget if endpoint is not None else None
    if (token.monthly_requests is None and token.monthly_tokens is None
            and token.monthly_budget is None and endpoint_budget is None):
        return []  # the common case: nothing to hold, nothing estimated
    reserve_tokens = int(options["quota_reserve_tokens"])
    prices = prices_of(endpoint.targets) if endpoint is not None else []
    budgeted = prices and (token.monthly_budget is not None or endpoint_budget is not None)
    tokens = TokenHold(0, 0)
    if token.monthly_tokens is not None and body is not None:
        tokens = tokens_to_reserve(kind, body, reserve_tokens)
    money = CostHold(0, 0)
    if budgeted and body is not None:
        money = cost_to_reserve(kind, body, reserve_tokens, prices)
    ask = Ask(tokens.most, tokens.least, money.most, money.least)
    found = []
    limits = Limits(token.monthly_requests, token.monthly_tokens,
                    budget_nanos(token.monthly_budget) if prices else None)
    if limits != Limits():
        found.append(Asked(TOKEN, token.id, limits, ask, " for this token"))
    if endpoint_budget is not None and prices:
        found.append(Asked(ENDPOINT, endpoint.id, Limits(nanos=budget_nanos(endpoint_budget)),
                           ask, f" for the endpoint {endpoint.name!r}"))
    return found


class CostHold(NamedTuple):
    """Nanos held: `most` for the request as asked; `least` what it may shrink to where
    less of a budget is left (its prompt and one token, for a request without
    max_tokens; else the same)."""

    most: int
    least: int


def prices_of(targets: Sequence[TargetRecord]) -> list[Price]:
    """The prices of the targets that have one. Empty: the endpoint is unpriced, so no
    budget can be checked for it (its requests count as costing nothing)."""
    return [t.price for t in targets if t.price is not None]


def cost_to_reserve(kind: str, body: dict[str, Any], default_completion: int,
                    prices: Sequence[Price]) -> CostHold:
    """The most the request may cost on any of `prices` (not empty): its prompt's
    estimate at the input price (uncached: the cache only makes it cheaper) and its
    completion limit at the output price."""
    prompt = prompt_estimate(body)
    completion, named = completion_to_reserve(kind, body, default_completion)
    most = max(p.cost_nanos(prompt, 0, completion) for p in prices)
    if named:
        return CostHold(most, most)
    return CostHold(most, max(p.cost_nanos(prompt, 0, 1) for p in prices))


def budget_nanos(budget: Decimal | None) -> int | None:
    """A monthly budget in USD as nanos (None: no budget)."""
    return None if budget is None else int(budget * NANOS_PER_USD)
