"""Check a built binary as a user would: `python packaging/smoke.py dist/modelproxy`.

--version; set up an echo provider, endpoint and token with the binary's commands;
`serve` answers health, a chat and a stream; `serve --workers 2` with a redis-server of
its own: both workers answer, one killed is replaced; the binary's size and start-to-healthy time
(printed for CI's log); the desktop window's own server starts from the binary too
(offscreen); and the window itself on a real X server (Xvfb) where the X11 libraries a
base X install lacks are hidden: it opens, logs in, shows its pages (screenshots in
dist/), and closes with its server. Exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from xwindow import EXTRA_X11_LIBRARIES, XServer, missing_tools, without_libraries

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.fakes.redis_server import REDIS_SERVER, RedisServer

CHAT = {"messages": [{"role": "user", "content": "packaged"}]}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "dist"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout


def answers(url: str) -> bool:
    try:
        return requests.get(url + "/api/health", timeout=1).ok
    except requests.RequestException:
        return False


def wait_health(url: str, timeout: float = 30, pause: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/health", timeout=1).json()["status"] == "ok":
                return
        except requests.RequestException:
            time.sleep(pause)
    raise SystemExit(f"no health answer from {url}")


def check_serve(binary: Path, data_dir: Path, env: dict[str, str]) -> None:
    run(binary, "provider", "add", "--name", "echo", "--type", "echo", env=env)
    run(binary, "endpoint", "add", "--name", "chat", "--path", "/api/chat", "--kind", "chat",
        "--model", "echo-1", "--provider", "echo", env=env)
    token = run(binary, "token", "create", "--name", "smoke", env=env).strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([str(binary), "serve", "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url)
        headers = {"Authorization": f"Bearer {token}"}
        answer = requests.post(url + "/api/chat", json=CHAT, headers=headers, timeout=10).json()
        assert answer["choices"][0]["message"]["content"] == "echo: packaged", answer
        stream = requests.post(url + "/v1/chat/completions", headers=headers, timeout=10,
                               json={**CHAT, "model": "chat", "stream": True}).text
        assert stream.rstrip().endswith("data: [DONE]"), stream[-200:]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0, "serve did not stop cleanly"
    print("serve: health, chat and stream ok; graceful stop ok")


def check_workers(binary: Path, data_dir: Path, env: dict[str, str]) -> None:
    """`serve --workers 2` (limits in Redis): both workers answer, a worker killed with
    SIGKILL is replaced by the supervisor, SIGTERM stops them all cleanly."""
    if REDIS_SERVER is None:
        print("workers: SKIPPED, no redis-server on this machine")
        return
    token = run(binary, "token", "create", "--name", "workers", "--rpm", "1000",
                "--monthly-requests", "100",
                env=env).strip().splitlines()[-1]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with RedisServer(data_dir / "redis") as redis_server:
        server = subprocess.Popen([str(binary), "serve", "--port", str(port), "--workers", "2"],
                                  env={**env, "MODELPROXY_REDIS_URL": redis_server.url})
        try:
            wait_health(url, timeout=60)
            chats = [requests.post(url + "/api/chat", timeout=10, json=CHAT,
                                   headers={"Authorization": f"Bearer {token}"})
                     for _ in range(10)]  # limits in Redis: each is one admit and settle
            assert [c.status_code for c in chats] == [200] * 10, chats[-1].text
            seen = workers_answering(url, want=2)
            os.kill(seen["1"], signal.SIGKILL)
            replaced = workers_answering(url, want=2, instead_of=seen["1"])
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(30) == 0, "serve --workers 2 did not stop cleanly"
    print(f"workers: 2 answered (pids {seen['1']}, {seen['2']}); worker 1 killed and "
          f"replaced (pid {replaced['1']}); graceful stop ok")


def workers_answering(url: str, want: int, instead_of: int = 0,
                      timeout: float = 60) -> dict[str, int]:
    """Worker number -> pid, from the X-ModelProxy-Worker header of health answers on new
    connections (the kernel gives each to one worker) until `want` workers answered, none
    of them with pid `instead_of`."""
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = requests.get(url + "/api/health", timeout=10)
        except requests.ConnectionError:
            continue  # the killed worker's connection
        number, pid = answer.headers["X-ModelProxy-Worker"].split("; pid=")
        if int(pid) != instead_of:
            seen[number] = int(pid)
        if len(seen) == want:
            return seen
    raise SystemExit(f"workers: only {sorted(seen)} answered in {timeout:.0f} s")


def start_to_healthy(binary: Path, env: dict[str, str], starts: int = 5) -> list[float]:
    """Seconds from starting `serve` to its first healthy answer, for each of `starts`."""
    times = []
    for _ in range(starts):
        port = free_port()
        started = time.monotonic()
        server = subprocess.Popen([str(binary), "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_health(f"http://127.0.0.1:{port}", pause=0.01)
            times.append(time.monotonic() - started)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(20)
    return times


def report_numbers(binary: Path, env: dict[str, str]) -> None:
    """Measured, not asserted (a shared CI machine's load moves them): the binary's size
    and start-to-healthy time, the median of five starts against a database set up."""
    times = start_to_healthy(binary, env)
    print(f"binary: {binary.stat().st_size / 1e6:.1f} MB; start-to-healthy: median "
          f"{statistics.median(times):.2f} s of {len(times)} starts "
          f"({', '.join(f'{t:.2f}' for t in times)}; aim: under 1.5 s)")
    installed = Path(sys.executable).with_name("modelproxy")  # the venv's, for scale
    if installed.is_file():
        times = start_to_healthy(installed, env)
        print(f"venv: start-to-healthy: median {statistics.median(times):.2f} s of "
              f"{len(times)} starts, on this machine now")


def check_desktop_server(binary: Path, data_dir: Path, env: dict[str, str]) -> None:
    port = free_port()
    window = subprocess.Popen([str(binary), "desktop", "--port", str(port)],
                              env={**env, "QT_QPA_PLATFORM": "offscreen"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url)  # the window started a server from the binary
    finally:
        window.send_signal(signal.SIGTERM)
        window.wait(20)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and answers(url):
        time.sleep(0.2)
    assert not answers(url), "the window's server outlived the window"
    print("desktop: its own server started from the binary, and ended with the window")


def check_window(binary: Path, data_dir: Path, env: dict[str, str]) -> None:
    """`modelproxy desktop` as a person meets it on an X desktop, one without the X11
    libraries the binary carries."""
    if missing_tools():
        raise SystemExit(f"the window check needs {', '.join(missing_tools())}: "
                         "bash .ci/qt-deps x11")
    subprocess.run([str(binary), "admin", "create", "--username", "admin",
                    "--password-stdin"], input="smoke-password\n", env=env, text=True,
                   capture_output=True, timeout=60, check=True)
    port = free_port()
    command = without_libraries([str(binary), "desktop", "--port", str(port)],
                                EXTRA_X11_LIBRARIES, data_dir)
    home = data_dir / "home"  # the window's remembered settings: none yet
    home.mkdir()
    with XServer() as x:
        window = subprocess.Popen(command, env={**x.env, **env, "HOME": str(home)},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            drive_window(x, port)
            output = window.communicate(timeout=30)[0]
        except (AssertionError, subprocess.TimeoutExpired):
            if window.poll() is None:  # the bootloader passes SIGTERM on to the window
                window.terminate()
            print("the window said:\n" + window.communicate(timeout=30)[0], file=sys.stderr)
            raise
        assert window.returncode == 0, f"the window ended with {window.returncode}: {output}"
        assert "Error" not in output, output
    assert not answers(f"http://127.0.0.1:{port}"), "the window's server outlived the window"
    hidden = "with " + ", ".join(EXTRA_X11_LIBRARIES[:3]) + "… hidden" if command[0] == (
        "unshare") else "with the system's X11 libraries"
    print(f"window: opened on Xvfb {hidden}, logged in, pages shown, closed with its server")


def drive_window(x: XServer, port: int) -> None:
    login = x.wait_window("Connect to ModelProxy", timeout=60)
    x.type(login, "admin")
    x.keys(login, "Tab")
    x.type(login, "smoke-password")
    x.keys(login, "Return")
    main_window = x.wait_window(f"ModelProxy — http://127.0.0.1:{port}")
    time.sleep(1.5)  # the first page loads
    shots = [x.screenshot(SCREENSHOTS / "smoke-overview.png")]
    x.keys(main_window, "ctrl+2")  # Providers: the echo provider set up above
    time.sleep(1.5)
    shots.append(x.screenshot(SCREENSHOTS / "smoke-providers.png"))
    taken = [str(s) for s in shots if s is not None]
    print("window: screenshots " + (", ".join(taken) if taken else
                                    "skipped (no ImageMagick `import`)"))
    x.keys(main_window, "ctrl+q")
    # The clients above used this server minutes ago, so closing asks first.
    question = x.wait_window("ModelProxy$")
    time.sleep(0.5)
    shot = x.screenshot(SCREENSHOTS / "smoke-close-question.png")
    print(f"window: closing asked first{f' ({shot})' if shot else ''}")
    x.keys(question, "alt+s")  # "Stop the server"


def main() -> None:
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else "dist/modelproxy").resolve()
    print(run(binary, "--version", env=dict(os.environ)).strip())
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MODELPROXY_DATA_DIR": tmp, "MODELPROXY_BCRYPT_ROUNDS": "4"}
        check_serve(binary, Path(tmp), env)
        check_workers(binary, Path(tmp), env)
        report_numbers(binary, env)
        check_desktop_server(binary, Path(tmp), env)
        check_window(binary, Path(tmp), env)
    print("smoke test passed")


if __name__ == "__main__":
    main()
