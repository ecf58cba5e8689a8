"""`modelproxy serve` whose catalog never polls the database for changes, so that a test
sees a change arrive on it only by a Redis notice (server/shared/notices.py). Polling is
the only change."""

from __future__ import annotations

import server.runner  # noqa: F401  (monkey-patches first, as `modelproxy serve` does)
from app.main import main
from server.catalog import Catalog

Catalog.start_watching.__defaults__ = (3600.0,)  # once an hour: never within a test

if __name__ == "__main__":
    main()
