"""The benchmark's result: rows of metric, value, target and pass/fail; a table and JSON."""

from __future__ import annotations

import json
import operator
import os
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq}


@dataclass(frozen=True)
class Row:
    """One metric; without `op`/`target` it is shown for information only."""

    metric: str
    value: float
    unit: str = ""
    op: str | None = None
    target: float | None = None
    how: str = ""

    @property
    def passed(self) -> bool | None:
        if self.op is None or self.target is None:
            return None
        return bool(_OPS[self.op](self.value, self.target))

    @property
    def target_text(self) -> str:
        if self.op is None:
            return "-"
        return f"{self.op} {_number(self.target)} {self.unit}".strip()

    @property
    def result_text(self) -> str:
        return {None: "info", True: "PASS", False: "FAIL"}[self.passed]

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "unit": self.unit,
                "target": self.target_text, "pass": self.passed, "how": self.how}


def _number(value: float) -> str:
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 10):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def table(rows: Iterable[Row]) -> str:
    """The rows as a fixed-width text table."""
    lines = [("metric", "value", "target", "result")]
    lines += [(r.metric, f"{_number(r.value)} {r.unit}".strip(), r.target_text, r.result_text)
              for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) if i != 1 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(line, widths, strict=True))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def write_json(path: Path, rows: list[Row], details: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "all_passed": all(r.passed is not False for r in rows),
        "rows": [r.as_dict() for r in rows],
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
