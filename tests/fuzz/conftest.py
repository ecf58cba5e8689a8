"""Property-based fuzzing of the parsers and codecs, bounded for `make test`.

Every test here uses hypothesis under the "make-test" profile: a fixed number of examples
per test (MODELPROXY_FUZZ_EXAMPLES, default 300) and no per-example deadline, so the whole
folder runs in well under a minute on the 2-core CI machine. For a longer hunt:
`MODELPROXY_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/fuzz -p no:timeout`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "make-test",
    max_examples=int(os.environ.get("MODELPROXY_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
    print_blob=True,
)
settings.load_profile("make-test")
