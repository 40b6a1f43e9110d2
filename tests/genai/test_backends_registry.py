"""The backend registry: built-in and third-party backends by name, imported only when used."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence

import pytest

import genai.backends as backends
from genai.backends import (
    Backend,
    Candidate,
    GenerationRequest,
    GenerationResult,
    available_backends,
    get_backend,
    register_backend,
)
from genai.backends.fake import FakeBackend
from genai.errors import InvalidInputError
from tests.support.paths import REPO


class EchoBackend(Backend):
    """A third-party backend that answers each request with its last message."""

    name = "echo"

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Echo the last message n times."""
        return [
            GenerationResult(
                [Candidate(self.prefix + r.messages[-1]["content"], 1, "stop") for _ in range(r.n)],
                tokens_in=1,
                ttft_s=0.0,
                total_s=0.0,
            )
            for r in requests
        ]


@pytest.fixture
def registry() -> Iterator[None]:
    """Undo any registration a test makes."""
    saved = dict(backends._REGISTRY)
    yield
    backends._REGISTRY.clear()
    backends._REGISTRY.update(saved)


def test_get_backend_fake_builds_a_fake_backend_with_the_given_options() -> None:
    backend = get_backend("fake", outputs=["hello"], model_id="m1")
    assert isinstance(backend, FakeBackend)
    assert backend.name == "fake" and backend.model_id == "m1"
    result = backend.generate([GenerationRequest([{"role": "user", "content": "hi"}])])
    assert [c.text for c in result[0].candidates] == ["hello"]


def test_builtin_backends_are_listed() -> None:
    assert {"transformers", "vllm", "fake"} <= set(available_backends())


def test_unknown_backend_raises_invalid_input_naming_the_backend_field() -> None:
    with pytest.raises(InvalidInputError) as info:
        get_backend("no-such-backend")
    assert info.value.field == "backend"
    assert "no-such-backend" in str(info.value)
    assert "fake" in info.value.message  # the message lists the choices


def test_third_party_backend_registers_by_module_and_class_string(registry: None) -> None:
    register_backend("echo", f"{__name__}:EchoBackend")
    assert "echo" in available_backends()
    backend = get_backend("echo", prefix="> ")
    assert isinstance(backend, EchoBackend)
    result = backend.generate([GenerationRequest([{"role": "user", "content": "ping"}], n=2)])
    assert [c.text for c in result[0].candidates] == ["> ping", "> ping"]


def test_importing_the_backends_package_does_not_import_torch() -> None:
    code = "import genai.backends, sys; print('torch' in sys.modules, 'httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
