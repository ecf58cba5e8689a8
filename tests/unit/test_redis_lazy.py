"""Without MODELPROXY_REDIS_URL a server never imports the Redis client (~8 MB of memory
in every process, measured by the bench's streams RSS line)."""

import subprocess
import sys

CHECK = """
import sys, tempfile
from app.settings import load_settings
from server.factory import create_app
app = create_app(load_settings({"data_dir": tempfile.mkdtemp()}, environ={}, env_file=None))
app.extensions["modelproxy"].close()
print("redis" in sys.modules)
"""


def test_a_server_without_redis_does_not_import_it() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
