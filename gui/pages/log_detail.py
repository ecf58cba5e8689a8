"""The Logs page's detail pane: every field of the selected request-log row, and the
attempts a routed request made (one per target tried, the answering one last)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from gui.models.logs import local_time, ms_text, used_tokens
from gui.money import cost

HIDDEN = {"attempt_log"}  # shown as its own list above the fields


def field_text(key: str, value: Any, row: dict[str, Any]) -> str:
    if key == "cost":
        return cost(value, used_tokens(row))
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "time":
        return f"{local_time(value)} (local), {value}"
    return str(value)


def attempt_rows(row: dict[str, Any],
                 providers: Mapping[int, str] | None = None) -> list[tuple[str, ...]]:
    """(number, provider, model, status, latency, error) for each attempt, in the order
    they were made. A row from a server without attempt logs is its own one attempt."""
    if row.get("attempts") == 0:  # refused before it was sent to any target
        return []
    attempts = row.get("attempt_log") or [row]
    names = providers or {}
    found = []
    for number, attempt in enumerate(attempts, 1):
        provider_id = attempt.get("provider_id")
        provider = attempt.get("provider") or names.get(provider_id) or (
            f"#{provider_id}" if provider_id is not None else "—")
        status = attempt.get("status")
        found.append((str(number), str(provider), str(attempt.get("model") or "—"),
                      "—" if status is None else str(status),
                      ms_text(attempt.get("latency_ms")), str(attempt.get("error") or "")))
    return found


def attempts_html(row: dict[str, Any], providers: Mapping[int, str] | None = None) -> str:
    """One short paragraph per attempt, not a six-column table: the pane is narrow, and a
    table there broke its headers and the error mid-word ("Provid/er", "provide/r")."""
    attempts = attempt_rows(row, providers)
    if not attempts:
        return "<p><b>Not sent to any target</b> (refused by the proxy itself)</p>"
    heading = ("Answered at the first attempt" if len(attempts) == 1
               else f"{len(attempts)} attempts (targets tried in turn)")
    items = []
    for number, provider, model, status, latency, error in attempts:
        said = (f"<b>{number}.</b> {html.escape(provider)}: {html.escape(model)} "
                f"&mdash; {html.escape(status)} in {html.escape(latency)}")
        items.append(f"<p style='margin-top:2px; margin-bottom:2px'>{said}</p>")
        if error:  # indented as a block: a long error wraps under itself
            items.append(f"<p style='margin-left:14px; margin-top:0; margin-bottom:4px'>"
                         f"{html.escape(error)}</p>")
    return f"<p><b>{heading}</b></p>{''.join(items)}"


def detail_html(row: dict[str, Any] | None,
                providers: Mapping[int, str] | None = None) -> str:
    """Every field of a request-log row, as a two-column table, then its attempts."""
    if row is None:
        return "<p>Select a request to see all its fields.</p>"
    cells = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>"
                    f"{html.escape(field_text(k, v, row))}</td></tr>"
                    for k, v in row.items() if k not in HIDDEN)
    return (f"{attempts_html(row, providers)}<hr>"
            f"<table cellspacing='0' cellpadding='3'>{cells}</table>")
