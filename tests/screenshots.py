"""`make screenshots`: every page of the window, the new-token dialog and its "Use with…"
panel, rendered offscreen against a server seeded with realistic demo data, saved as PNG
files in build/screenshots/ (not tracked), or in the folder given:
`python tests/screenshots.py docs/screenshots` refreshes the ones the docs show.

The demo appliance: four providers (three served by a local fake OpenAI upstream, so
their health checks pass), six endpoints with prices, eight tokens with assorted limits,
and a few thousand request-log rows over the last 30 days.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "bench")]

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402
from seed_logs import rows  # noqa: E402

from app.db import open_database  # noqa: E402
from app.models import Endpoint, Token  # noqa: E402
from app.services import admins, endpoints, providers, secret_key, tokens  # noqa: E402
from app.services.audit import Actor  # noqa: E402
from app.settings import load_settings  # noqa: E402
from gui.api import AdminAPI  # noqa: E402
from gui.main import application  # noqa: E402
from gui.pages.base import Context  # noqa: E402
from gui.tasks import Tasks  # noqa: E402
from gui.widgets import Banner  # noqa: E402
from gui.window import MainWindow  # noqa: E402
from server.logwriter import write_batch  # noqa: E402
from tests.fakes.upstream import FakeUpstream  # noqa: E402
from tests.live import LiveServer  # noqa: E402

DEFAULT_OUT = ROOT / "build" / "screenshots"
OUT = DEFAULT_OUT
ADMIN = ("admin", "demo-password")


def seed(data_dir: Path, upstream: str) -> None:
    settings = load_settings({"data_dir": str(data_dir), "bcrypt_rounds": 4}, environ={},
                             env_file=None)
    db = open_database(settings)
    actor = Actor("demo")
    with db.connection_context():
        box = secret_key.load_box(settings)
        admins.create(actor, *ADMIN, rounds=4)
        admins.create(actor, "dana", "demo-password", role="viewer", rounds=4)
        providers.create(box, actor, name="openai", type="openai", base_url=upstream,
                         api_key="sk-demo-openai-7f3a")
        providers.create(box, actor, name="openrouter", type="openrouter", base_url=upstream,
                         api_key="sk-or-demo-91c2")
        providers.create(box, actor, name="gpu-box", type="openai_compatible",
                         base_url=upstream, timeout_s=120)
        providers.create(box, actor, name="echo", type="echo")
        prices: dict[int, tuple[float, float | None]] = {}  # endpoint id: $ per M in, out
        for name, model, provider, kind, price_in, price_out in [
            ("gpt-4o-mini", "gpt-4o-mini", "openai", "chat", 0.15, 0.6),
            ("gpt-4o", "gpt-4o", "openai", "chat", 2.5, 10),
            ("claude-sonnet", "anthropic/claude-sonnet-4", "openrouter", "chat", 3, 15),
            ("embed-small", "text-embedding-3-small", "openai", "embeddings", 0.02, None),
            ("llama-70b", "llama-3.3-70b", "gpu-box", "chat", None, None),
            ("echo", "echo-1", "echo", "chat", None, None),
        ]:
            made = endpoints.create(actor, name=name, path=f"/api/{name}", kind=kind,
                                    model=model, provider=provider,
                                    price_input_per_m=price_in, price_output_per_m=price_out)
            if price_in is not None:
                prices[made.id] = (price_in, price_out)
        for name, scopes, rpm, month_requests, month_tokens, budget in [
            ("research-notebooks", ["chat", "embeddings"], 120, 20000, 5_000_000, 0.1),
            ("support-bot", ["chat"], 600, None, 20_000_000, 40),
            ("ci-pipeline", ["chat", "models"], 60, 5000, None, None),
            ("docs-search", ["embeddings"], 300, None, None, None),
            ("alice-laptop", ["all"], 30, 2000, 1_000_000, 0.1),
            ("bob-laptop", ["all"], 30, 2000, 1_000_000, None),
            ("data-team", ["all"], None, None, 50_000_000, 100),
            ("old-prototype", ["chat"], 10, 100, None, None),
        ]:
            tokens.create(actor, 4, name=name, scopes=scopes, rpm=rpm,
                          monthly_requests=month_requests, monthly_tokens=month_tokens,
                          monthly_budget=budget)
        tokens.revoke(actor, Token.get(Token.name == "old-prototype").id)
        token_ids = [t.id for t in Token.select()]
        log_rows = [priced(row, prices) for row in
                    rows(4000, 30, token_ids, list(Endpoint.select()), random.Random(3))]
        with db.atomic():
            write_batch(db, log_rows)
    db.close_all()


def priced(row: dict, prices: dict[int, tuple[float, float | None]]) -> dict:
    """A seeded log row with what it cost at its endpoint's prices (None: no price)."""
    price = prices.get(row["endpoint_id"])
    if price is None:
        return {**row, "cost_nanos": None if row["prompt_tokens"] else 0}
    cost = row["prompt_tokens"] * price[0] + row["completion_tokens"] * (price[1] or 0)
    return {**row, "cost_nanos": round(cost * 1000)}


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(check: Callable[[], bool], timeout_ms: int = 10_000) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while not check() and time.monotonic() < deadline:
        wait(50)


def save(widget: QWidget, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"saved {os.path.relpath(path)}")
    return path


def shoot_pages(window: MainWindow, tasks: Tasks) -> None:
    for row, page in enumerate(window.pages):
        window.sidebar.setCurrentRow(row)
        wait(100)
        wait_until(lambda: tasks.busy == 0)
        wait(400)  # charts animate and lay out
        save(window, f"{row + 1:02d}-{page.title.lower().replace(' ', '-')}")


def shoot_new_token(window: MainWindow, tasks: Tasks) -> None:
    """The dialog that shows a new token once, and its "Use with…" panel."""
    from gui.dialogs.token import NewTokenDialog

    token = window.ctx.api.create("tokens", {"name": "new-intern", "scopes": ["chat"],
                                             "rpm": 30})
    dialog = NewTokenDialog(token, window, window.ctx.api.base_url,
                            window.ctx.api.items("endpoints"))
    dialog.show()
    wait(300)
    save(dialog, "10-new-token-dialog")
    use_with = dialog.open_use_with()  # its "Use with…" panel, with the plaintext
    use_with.model.setCurrentText("claude-sonnet")
    wait(300)
    save(use_with, "11-use-with")
    dialog.close()


def shoot_endpoint_dialog(window: MainWindow) -> None:
    """The endpoint dialog of gpt-4o with a fallback through OpenRouter."""
    from gui.dialogs.endpoint import EndpointDialog

    api = window.ctx.api
    by_name = {p["name"]: p["id"] for p in api.items("providers")}
    endpoint = next(e for e in api.items("endpoints") if e["name"] == "gpt-4o")
    endpoint = api.update("endpoints", endpoint["id"], {"targets": [
        {"provider_id": by_name["openai"], "model": "gpt-4o", "priority": 0},
        {"provider_id": by_name["openrouter"], "model": "openai/gpt-4o", "priority": 1,
         "price_input_per_m": 2.5, "price_output_per_m": 10}], "monthly_budget": 250})
    dialog = EndpointDialog(window.ctx, api.items("providers"), endpoint, window)
    dialog.show()
    wait(300)
    save(dialog, "12-endpoint-dialog")
    dialog.close()


def main() -> None:
    global OUT
    OUT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEFAULT_OUT
    app = application()
    with tempfile.TemporaryDirectory() as tmp, FakeUpstream() as fake:
        data_dir = Path(tmp) / "data"
        seed(data_dir, fake.base_url)
        with LiveServer(data_dir, env={"MODELPROXY_LOG_LEVEL": "WARNING"}) as live:
            wait_for_health_checks(live.url)
            api = AdminAPI(live.url)
            api.login(*ADMIN)
            tasks = Tasks()
            window = MainWindow(Context(api, tasks, Banner()))
            window.resize(1280, 800)
            window.show()
            shoot_pages(window, tasks)
            shoot_new_token(window, tasks)
            shoot_endpoint_dialog(window)
            window.close()
            tasks.wait()
    app.quit()


def wait_for_health_checks(url: str) -> None:
    """The server checks providers at start; the overview shows the result."""
    api = AdminAPI(url)
    api.login(*ADMIN)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        health = api.get("/overview")["upstream_health"]
        if all(h["ok"] is not None for h in health):
            return
        time.sleep(0.3)


if __name__ == "__main__":
    main()
