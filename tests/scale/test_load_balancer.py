"""docs/scale.md's HAProxy configuration, as printed there (only the addresses are the
test's): in front of two instances on one PostgreSQL schema and one Redis, requests
through it reach both; one instance stopped, the health check takes it out and requests
keep succeeding; Redis stopped, requests that need no limit decision still go through.
HAProxy is the Debian package `haproxy` (`make test` installs it where it can, see the
Makefile); the test is skipped only where it is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.live import LiveServer, free_port
from tests.scale.cluster import Cluster, chat, cluster_on, until

pytestmark = pytest.mark.postgres
HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
SCALE_MD = Path(__file__).resolve().parents[2] / "docs" / "scale.md"
DOC_SERVERS = ("10.0.0.11:8787", "10.0.0.12:8787")
DOC_BIND = "bind :8080"


def doc_config() -> str:
    """The first ```haproxy block of docs/scale.md."""
    found = re.search(r"```haproxy\n(.*?)```", SCALE_MD.read_text(), re.S)
    assert found, "docs/scale.md has a haproxy block"
    return found.group(1)


class HAProxy:
    def __init__(self, workdir: Path, servers: list[LiveServer]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = doc_config().replace(DOC_BIND, f"bind 127.0.0.1:{self.port}")
        for doc_address, live in zip(DOC_SERVERS, servers, strict=True):
            config = config.replace(doc_address, f"127.0.0.1:{live.port}")
        self.config = workdir / "haproxy.cfg"
        self.config.write_text(config)
        self._lines: list[str] = []
        self.process: subprocess.Popen | None = None

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def start(self) -> HAProxy:
        assert HAPROXY is not None
        check = subprocess.run([HAPROXY, "-c", "-f", str(self.config)], capture_output=True,
                               text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        self.process = subprocess.Popen([HAPROXY, "-db", "-f", str(self.config)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        threading.Thread(target=lambda: self._lines.extend(self.process.stdout),
                         daemon=True).start()
        assert until(self._answers), f"haproxy did not answer:\n{self.output}"
        return self

    def _answers(self) -> bool:
        try:
            return requests.get(self.url + "/api/health", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def served_by(live: LiveServer, endpoint: str) -> float:
    """The 200s an instance answered for `endpoint` (its own /metrics, asked directly)."""
    text = requests.get(live.url + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("modelproxy_requests_total{") and 'status="200"' in line
               and f'endpoint="{endpoint}"' in line)


@pytest.fixture
def cluster(tmp_path: Path, redis_server) -> Iterator[Cluster]:
    if HAPROXY is None:
        pytest.skip("haproxy is not installed (Debian: apt-get install haproxy)")
    with cluster_on(tmp_path, redis_server.url) as cluster:
        yield cluster


def test_the_documented_haproxy_spreads_requests_and_drops_a_stopped_instance(
        cluster: Cluster, tmp_path: Path, redis_server) -> None:
    one, two = cluster.start(2, MODELPROXY_TRUSTED_PROXIES="127.0.0.1")
    balancer = HAProxy(tmp_path, [one, two]).start()
    try:
        admin = cluster.admin(one)
        endpoint = admin.create_endpoint(cluster.echo_id)
        token = admin.create_token(scopes=["all"])["token"]
        assert until(lambda: chat(two.url, endpoint["path"], token).status_code == 200)
        answers = [chat(balancer.url, endpoint["path"], token).status_code for _ in range(20)]
        assert answers == [200] * 20
        assert served_by(one, endpoint["name"]) > 0 and served_by(two, endpoint["name"]) > 0

        one.stop()
        answers = [chat(balancer.url, endpoint["path"], token).status_code for _ in range(20)]
        assert answers == [200] * 20, "the stopped one's requests went to the other"
        assert until(lambda: "modelproxy/mp1 is DOWN" in balancer.output), balancer.output
        before = served_by(two, endpoint["name"])
        answers = [chat(balancer.url, endpoint["path"], token).status_code for _ in range(20)]
        assert answers == [200] * 20 and served_by(two, endpoint["name"]) == before + 20

        redis_server.stop()  # shared by all: the balancer keeps the instances in
        answers = [chat(balancer.url, endpoint["path"], token).status_code for _ in range(20)]
        assert answers == [200] * 20, "a token with no limits needs no Redis"
    finally:
        balancer.stop()
