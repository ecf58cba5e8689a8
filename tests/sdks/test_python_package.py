"""The Python SDK as a package: what it exports, that it installs with pip on its own, that
its README's examples run as written, and its pure parts (SSE parsing, retry delays)."""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import email.utils
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import modelproxy
import pytest
from modelproxy._client import MAX_BACKOFF, parse_retry_after, retry_delay
from modelproxy._sse import SSEDecoder

from tests.sdks import readme
from tests.sdks.conftest import REPO, SdkServer

SDK = REPO / "sdks" / "python"
ERRORS = ["APIConnectionError", "APITimeoutError", "AuthenticationError", "BadRequestError",
          "ModelProxyError", "NotFoundError", "PermissionDeniedError", "QuotaExceededError",
          "RateLimitError", "ServerError", "UpstreamError"]


def test_all_names_the_public_api_and_every_name_exists() -> None:
    assert sorted(modelproxy.__all__) == sorted([
        *ERRORS, "ModelProxyClient", "ChatCompletionStream", "__version__",
        "ChatCompletion", "ChatCompletionChunk", "ChatMessage", "Embedding",
        "EmbeddingsResponse", "Health", "Model", "ModelList", "Usage"])
    for name in modelproxy.__all__:
        assert hasattr(modelproxy, name), name
    namespace: dict[str, object] = {}
    exec("from modelproxy import *", namespace)
    assert set(modelproxy.__all__) <= set(namespace)


def test_every_error_is_a_documented_model_proxy_error_and_shadows_no_builtin() -> None:
    import builtins

    for name in ERRORS:
        cls = getattr(modelproxy, name)
        assert issubclass(cls, modelproxy.ModelProxyError)
        assert cls.__doc__, name
        assert not hasattr(builtins, name), f"{name} shadows a builtin"
        assert name in (modelproxy.__doc__ or "") or name == "ModelProxyError"
        error = cls("the server's words", status_code=418, request_id="req_1")
        assert (error.message, error.status_code, error.request_id) == (
            "the server's words", 418, "req_1")
    assert issubclass(modelproxy.APITimeoutError, modelproxy.APIConnectionError)
    assert not issubclass(modelproxy.QuotaExceededError, modelproxy.RateLimitError)
    assert modelproxy.RateLimitError("slow", retry_after=3.0).retry_after == 3.0


def test_public_functions_have_docstrings_and_annotations() -> None:
    client = modelproxy.ModelProxyClient
    for name in ("chat_completion", "chat_completion_stream", "embeddings", "models",
                 "health", "close"):
        method = getattr(client, name)
        assert method.__doc__, name
        assert "return" in method.__annotations__, name
    assert client.__doc__ and client.__init__.__annotations__


def test_the_package_is_typed_and_depends_only_on_requests() -> None:
    assert (SDK / "src" / "modelproxy" / "py.typed").is_file()
    pyproject = (SDK / "pyproject.toml").read_text()
    assert 'name = "modelproxy-client"' in pyproject
    assert re.search(r'^dependencies = \["requests[^"]*"\]$', pyproject, re.M), \
        "the SDK depends on requests and nothing else"
    for source in (SDK / "src" / "modelproxy").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in {
                    "modelproxy", "requests", "urllib3", ""}, f"{source.name} imports {name}"


def test_pip_install_of_the_directory_works_on_its_own(tmp_path: Path) -> None:
    """`pip install ./sdks/python` (not editable, no repository on the path), from a copy
    of the directory so that the build leaves nothing in the work tree."""
    shutil.copytree(SDK, tmp_path / "python",
                    ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(target), "./python"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    assert (target / "modelproxy" / "py.typed").is_file()
    meta = next(target.glob("modelproxy_client-*.dist-info")) / "METADATA"
    requires = [line for line in meta.read_text().splitlines() if line.startswith("Requires-Dist")]
    assert len(requires) == 1 and requires[0].startswith("Requires-Dist: requests")
    probe = subprocess.run(
        [sys.executable, "-c", "import modelproxy, sys; print(modelproxy.__file__); "
         "print(modelproxy.ModelProxyClient.__name__)"],
        cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr
    where, name = probe.stdout.split()
    assert where.startswith(str(target)) and name == "ModelProxyClient"


# --- the README ----------------------------------------------------------------------------


def test_readme_examples_run_as_written_against_the_server(sdk_server: SdkServer) -> None:
    """Every python block of the README, in order, in one namespace; only the placeholder
    address and token are replaced (and each must be there to replace)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(readme.source(sdk_server), "sdks/python/README.md", "exec"),
             {"__name__": "readme"})
    readme.assert_printed(out.getvalue(), sdk_server)


# --- the pure parts ------------------------------------------------------------------------


STREAM = (b'data: {"n": 1}\n\n'
          b": a comment\n"
          b'event: message\r\nid: 7\r\ndata: {"n": 2}\r\n\r\n'
          b'data: {"n":\ndata:  3}\n\n'
          b'data: {"text": "caf\xc3\xa9"}\r\r'
          b"retry: 100\n\n"
          b"data: [DONE]\n\n")
EXPECTED = ['{"n": 1}', '{"n": 2}', '{"n":\n 3}', '{"text": "café"}', "[DONE]"]


def decode(pieces: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    return [event for piece in pieces for event in decoder.feed(piece)]


def test_sse_whole() -> None:
    assert decode([STREAM]) == EXPECTED
    assert [json.loads(e) for e in EXPECTED[:4]][2] == {"n": 3}


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16])
def test_sse_split_anywhere_even_inside_crlf_and_utf8(size: int) -> None:
    assert decode([STREAM[i:i + size] for i in range(0, len(STREAM), size)]) == EXPECTED


def test_sse_every_two_way_split() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_sse_an_unfinished_event_is_not_given() -> None:
    assert decode([b'data: {"n": 1}\n\ndata: {"half"']) == ['{"n": 1}']


def test_retry_delay_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    low = [retry_delay(n, 0.5, rand=lambda: 0.0) for n in range(6)]
    high = [retry_delay(n, 0.5, rand=lambda: 1.0) for n in range(6)]
    assert low == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert high == [0.5, 1.0, 2.0, 4.0, MAX_BACKOFF, MAX_BACKOFF]
    assert 0.25 <= retry_delay(0, 0.5) <= 0.5


def test_retry_delay_honours_retry_after() -> None:
    assert retry_delay(0, 0.5, retry_after=3.0, rand=lambda: 0.0) == 3.0
    assert retry_delay(0, 0.5, retry_after=3.0, rand=lambda: 1.0) == pytest.approx(3.3)
    assert retry_delay(5, 0.5, retry_after=0.0, rand=lambda: 1.0) == 0.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    assert 25 <= parse_retry_after(email.utils.format_datetime(later, usegmt=True)) <= 31
