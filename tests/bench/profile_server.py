"""`modelproxy ARGS` under a profiler switched by signals (cpu_compare.py's profile and
opcodes modes): SIGUSR1 starts it, SIGUSR2 stops it and writes what it found to OUT.

    python tests/bench/profile_server.py plain|cprofile|opcodes OUT serve --port 8080 ...

The request log's batches start at most every $MP_FLUSH_S seconds where that is set (a
profiled server is slow: at the bench's batch size, per-batch costs are per-row ones).

- cprofile: cProfile's stats (pstats reads them).
- opcodes: the bytecodes each function ran (JSON: "file:line:function" -> count), a count
  as repeatable as instructions under callgrind, but by Python function.
"""

from __future__ import annotations

import collections
import cProfile
import json
import os
import re
import signal
import sys
import threading
import types

kind, out = sys.argv[1], sys.argv[2]
profiler = cProfile.Profile()
ran: collections.Counter[types.CodeType] = collections.Counter()


def _count(frame: types.FrameType, event: str, arg: object) -> object:
    if event == "opcode":
        ran[frame.f_code] += 1
    return _count


def _trace(frame: types.FrameType, event: str, arg: object) -> object:
    frame.f_trace_opcodes = True
    ran[frame.f_code] += 0
    return _count


def _on(*_: object) -> None:
    if kind == "cprofile":
        profiler.enable()
    else:
        threading.settrace(_trace)
        sys.settrace(_trace)


def _name(code: types.CodeType) -> str:
    path = re.sub(r"^.*?/(server|app)/", r"\1/", code.co_filename)
    path = re.sub(r"^.*site-packages/", "", path)
    return f"{re.sub(r'^.*python3.11/', 'std/', path)}:{code.co_qualname}"


def _off(*_: object) -> None:
    if kind == "cprofile":
        profiler.disable()
        profiler.dump_stats(out)
        return
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    counts: collections.Counter[str] = collections.Counter()
    for code, n in ran.items():
        counts[_name(code)] += n
    with open(out, "w") as f:
        json.dump(counts, f)


signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
# server.runner first: it patches with gevent, as `serve` does, before anything that
# imports peewee (server.logwriter does): a peewee imported unpatched keeps one connection
# state per thread, which every greenlet then shares (under valgrind's pace, two greenlets'
# connection_context() interleaved: "pop from empty list", and a segfault in sqlite3).
import server.runner  # noqa: E402, I001
import server.logwriter  # noqa: E402
from app.main import main  # noqa: E402

if os.environ.get("MP_FLUSH_S"):
    defaults = list(server.logwriter.LogWriter.__init__.__defaults__)
    defaults[0] = float(os.environ["MP_FLUSH_S"])  # flush_s
    server.logwriter.LogWriter.__init__.__defaults__ = tuple(defaults)

main(sys.argv[3:])
