"""The TypeScript SDK's tests (`node --test`, in sdks/typescript/test/) against the real
server of tests/sdks/conftest.py, which they are told about through the environment.

Each live test file runs from its own pytest test, which first arms the fake upstream's
faults for it and afterwards counts what reached the upstream (or the server's request
log): retries are counted where they land, not where they are made. `make test` builds the
SDK first (`npm ci` in sdks/typescript, whose `prepare` runs tsc).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.sdks.conftest import REPO, SdkServer, node_environment
from tests.server.client_fixtures import clean_environ

TS = REPO / "sdks" / "typescript"
NODE = shutil.which("node")
NPM = shutil.which("npm")


def require_built() -> None:
    if NODE is None:
        pytest.fail("node is not on PATH: the TypeScript SDK's tests need Node 18 or newer")
    dist, tsc = TS / "dist" / "index.js", TS / "node_modules" / "typescript"
    if not dist.is_file() or not tsc.is_dir():
        pytest.fail("the TypeScript SDK is not built: `make test` builds it, or run "
                    "`npm ci` in sdks/typescript")
    newest_source = max(p.stat().st_mtime for p in (TS / "src").glob("*.ts"))
    if dist.stat().st_mtime < newest_source:
        pytest.fail("sdks/typescript/dist is older than src/: run `npm run build` there")


def run_node(*files: str, server: SdkServer | None = None, expect: int,
             env: dict[str, str] | None = None) -> str:
    """`node --test FILES` in sdks/typescript; all `expect` tests must run and pass."""
    require_built()
    env = {**clean_environ(), **(node_environment(server) if server else {}), **(env or {})}
    result = subprocess.run(
        [str(NODE), "--test", "--test-reporter=spec", *files], cwd=TS, env=env,
        capture_output=True, text=True, timeout=90, check=False)
    output = result.stdout + result.stderr
    # the spec reporter's summary: "\N{INFORMATION SOURCE} pass 3" and so on
    counts = {k: int(v) for k, v in re.findall(r"^\S (tests|pass|fail) (\d+)$", output, re.M)}
    assert result.returncode == 0 and counts.get("fail") == 0, output
    assert counts.get("pass") == expect == counts.get("tests"), output
    return output


def test_unit_tests() -> None:
    run_node("test/unit/", expect=16)


def test_every_method_and_error_class(sdk_server: SdkServer) -> None:
    run_node("test/live/api.test.mjs", server=sdk_server, expect=16)
    # the quota refusal was not retried (maxRetries 3), nor the long rate-limit wait
    assert sdk_server.token_statuses("ts-quota", 2) == [200, 429]
    assert sdk_server.token_statuses("ts-rpm", 2, settle=0) == [200, 429]


def test_readme_examples(sdk_server: SdkServer) -> None:
    run_node("test/live/readme.test.mjs", server=sdk_server, expect=1)
    # chat, the story stream, embeddings, the cancelled stream
    assert len(sdk_server.calls) == 4


def test_502_twice_then_success_on_the_third_attempt(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(500, count=2)
    run_node("test/live/retry-502.test.mjs", server=sdk_server, expect=1)
    seen = sdk_server.calls
    assert len(seen) == 3
    ids = {r.headers["X-Request-ID"] for r in seen}
    assert len(ids) == 1, "every attempt of one call has the same request id"
    assert [r["status"] for r in sdk_server.log_rows(ids.pop(), 3, 0.4)] == [502, 502, 200]


def test_retries_stop_after_max_retries(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(503, count=5)
    run_node("test/live/retries-exhausted.test.mjs", server=sdk_server, expect=1)
    assert len(sdk_server.calls) == 2


def test_502_without_retries(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(500)
    run_node("test/live/upstream-502.test.mjs", server=sdk_server, expect=1)
    assert len(sdk_server.calls) == 1


def test_a_providers_long_retry_after_is_not_sat_out(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(429, headers={"Retry-After": "30"})
    run_node("test/live/provider-retry-after-long.test.mjs", server=sdk_server, expect=1)
    assert len(sdk_server.calls) == 1


def test_a_providers_short_retry_after_is_waited_out(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(429, headers={"Retry-After": "1"})
    run_node("test/live/provider-retry-after-short.test.mjs", server=sdk_server, expect=1)
    assert len(sdk_server.calls) == 2


def test_400_is_not_retried(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(400, {"error": {"message": "max_tokens is too large",
                                              "type": "invalid_request_error", "code": None}})
    run_node("test/live/no-retry-400.test.mjs", server=sdk_server, expect=1)
    assert len(sdk_server.calls) == 1


def test_504_and_the_clients_own_timeout(sdk_server: SdkServer) -> None:
    sdk_server.set_delay(1)
    run_node("test/live/timeouts.test.mjs", server=sdk_server, expect=2)
    assert len(sdk_server.calls) == 3


def test_mid_stream_failure_is_not_retried(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_mid_stream(after=2)
    run_node("test/live/mid-stream.test.mjs", server=sdk_server, expect=1)
    assert len(sdk_server.calls) == 1


def test_break_and_abort_close_the_stream_upstream(sdk_server: SdkServer) -> None:
    sdk_server.fake.stream_delay(0.5)
    run_node("test/live/stream-abort.test.mjs", server=sdk_server, expect=3)
    assert sdk_server.fake.wait_until(lambda f: f.streams_aborted == 2, timeout=3), \
        f"{sdk_server.fake.streams_aborted} upstream streams aborted, not 2"
    assert len(sdk_server.calls) == 2  # the pre-aborted call sent nothing
    assert sdk_server.fake.streams_completed == 0


def test_a_stream_is_retried_before_it_starts(sdk_server: SdkServer) -> None:
    sdk_server.fake.fail_next(500)
    run_node("test/live/stream-retry.test.mjs", server=sdk_server, expect=1)
    assert len(sdk_server.calls) == 2


def test_npm_install_from_another_project_works(tmp_path: Path) -> None:
    """`npm install ./sdks/typescript` in a fresh project; then the package imports in
    node and type-checks in a strict TypeScript consumer."""
    require_built()
    assert NPM is not None
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "package.json").write_text(json.dumps(
        {"name": "consumer", "private": True, "type": "module"}))
    env = {**clean_environ(), "npm_config_cache": str(tmp_path / "npm-cache")}
    install = subprocess.run(
        [NPM, "install", "--offline", "--no-audit", "--no-fund", str(TS)], cwd=project,
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    manifest = json.loads((project / "package.json").read_text())
    assert "modelproxy-client" in manifest["dependencies"]
    probe = subprocess.run(
        [str(NODE), "--input-type=module", "-e",
         "import { ModelProxyClient, RateLimitError } from 'modelproxy-client';"
         "console.log(typeof ModelProxyClient, RateLimitError.name)"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0 and probe.stdout.split() == ["function", "RateLimitError"], \
        probe.stderr
    (project / "use.ts").write_text(
        "import { ModelProxyClient, type ChatCompletion } from 'modelproxy-client';\n"
        "const client = new ModelProxyClient('http://127.0.0.1:8787', 'mpx_x',"
        " { maxRetries: 1 });\n"
        "export const reply: Promise<ChatCompletion> = client.chatCompletion("
        "{ endpoint: '/api/chat', messages: [{ role: 'user', content: 'Hello' }] });\n"
        "// @ts-expect-error: messages is required\n"
        "export const wrong = client.chatCompletion({ endpoint: '/api/chat' });\n")
    (project / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "strict": True, "noEmit": True, "module": "nodenext", "moduleResolution": "nodenext",
        "target": "es2022", "lib": ["es2022", "dom"], "types": []}, "files": ["use.ts"]}))
    check = subprocess.run(
        [str(NODE), str(TS / "node_modules" / "typescript" / "bin" / "tsc"), "-p", "."],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_npm_install_from_a_fresh_clone_builds_the_package(tmp_path: Path) -> None:
    """`npm install PATH/sdks/typescript` where the folder is as a fresh clone has it (no
    node_modules, no dist): the package's `prepare` builds it, so it imports. It failed
    with ERR_MODULE_NOT_FOUND dist/index.js until `npm ci && npm run build` were run."""
    assert NPM is not None and NODE is not None
    tracked = subprocess.run(["git", "ls-files", "sdks/typescript"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    clone = tmp_path / "clone"
    for name in tracked:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    sdk = clone / "sdks" / "typescript"
    assert not (sdk / "dist").exists() and not (sdk / "node_modules").exists()
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "package.json").write_text(json.dumps(
        {"name": "consumer", "private": True, "type": "module"}))
    env = clean_environ()  # the machine's npm cache: typescript comes from it or the registry
    install = subprocess.run(
        [NPM, "install", "--prefer-offline", "--no-audit", "--no-fund", str(sdk)],
        cwd=project, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (sdk / "dist" / "index.js").is_file()
    probe = subprocess.run(
        [NODE, "--input-type=module", "-e",
         "import { ModelProxyClient } from 'modelproxy-client'; console.log(typeof "
         "ModelProxyClient)"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert (probe.returncode, probe.stdout.strip()) == (0, "function"), probe.stderr
