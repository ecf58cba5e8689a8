"""The hot spots of a py-spy profile recorded with `--format raw --threads`.

    python tests/bench/hotspots.py /tmp/modelproxy-profile.txt [N]

Only the busiest thread counts (under gevent: the event loop, where requests run).
"Self" is the share of its samples a function was on top of the stack, "total" the share
it was anywhere on the stack.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


@dataclass(frozen=True)
class Hotspots:
    samples: int
    self_share: list[tuple[str, float]]  # (function (file), % of samples), largest first
    total_share: list[tuple[str, float]]


def _stacks(path: Path) -> dict[str, list[tuple[list[str], int]]]:
    """Per thread: (frames outermost first, sample count)."""
    threads: dict[str, list[tuple[list[str], int]]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = frames.pop(0) if frames[0].startswith("thread (") else "main"
        threads.setdefault(thread, []).append(([_LINE.sub(")", f) for f in frames if f],
                                               int(count)))
    return threads


def summarize(path: Path, top: int = 15) -> Hotspots:
    threads = _stacks(path)
    if not threads:
        return Hotspots(0, [], [])
    busiest = max(threads.values(), key=lambda s: sum(n for _, n in s))
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for frames, n in busiest:
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    samples = sum(n for _, n in busiest)

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(f, 100 * n / samples) for f, n in counter.most_common(top)]

    return Hotspots(samples, shares(own), shares(total))


def render(spots: Hotspots) -> str:
    lines = [f"{spots.samples} samples of the busiest thread", "self %   function (file)"]
    lines += [f"{share:6.1f}   {name}" for name, share in spots.self_share]
    lines += ["total %  function (file)"]
    lines += [f"{share:6.1f}   {name}" for name, share in spots.total_share]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(summarize(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15)))
