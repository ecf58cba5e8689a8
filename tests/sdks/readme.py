"""The Python SDK README's examples as one program, and what it must print when run
against the SDK test server (test_python_package.py, test_python_versions.py)."""

from __future__ import annotations

import json
import re

from tests.sdks.conftest import REPO, SdkServer

README = REPO / "sdks" / "python" / "README.md"


def source(server: SdkServer) -> str:
    """Every python block of the README, in order; only the placeholder address and token
    are replaced (and each must be there to replace)."""
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)
    assert len(blocks) >= 5
    text = "\n".join(blocks)
    assert "client.chat_completion(endpoint='/api/chat', messages=[{\"role\": \"user\", " \
           "\"content\": \"Hello\"}])" in text, "the seed's call, exactly as written"
    for placeholder in ('"http://127.0.0.1:8787"', '"mpx_..."'):
        assert text.count(placeholder) >= 2, placeholder
    text = text.replace('"http://127.0.0.1:8787"', json.dumps(server.url))
    return text.replace('"mpx_..."', json.dumps(server.tokens["readme"]))


def assert_printed(printed: str, server: SdkServer) -> None:
    assert "echo: Hello\n" in printed
    assert "echo: Tell me a story\n" in printed  # the streamed one, chunk by chunk
    assert "2 vectors of 8" in printed
    assert "chat /api/chat chat fake" in printed
    assert "'status': 'ok'" in printed
    assert "404 endpoint_not_found" in printed
    assert printed.rstrip().endswith("ok")
    assert len(server.calls) == 3  # chat, stream, embeddings
