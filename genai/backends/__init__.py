"""Generation backends, registered by name and imported only when used.

    from genai.backends import get_backend
    backend = get_backend("transformers")            # the embedded default
    backend = get_backend("vllm", base_url="http://gpu-box:8000/v1")

A third-party backend registers itself the same way the built-in ones do:
`register_backend("mine", "mypkg.backend:MyBackend")`.
"""

from __future__ import annotations

import importlib
from typing import Any

from genai.backends.base import (
    Backend,
    Candidate,
    GenerationRequest,
    GenerationResult,
    Message,
    SamplingParams,
)
from genai.errors import InvalidInputError

__all__ = [
    "Backend",
    "Candidate",
    "GenerationRequest",
    "GenerationResult",
    "Message",
    "SamplingParams",
    "available_backends",
    "get_backend",
    "register_backend",
]

_REGISTRY: dict[str, str] = {
    "transformers": "genai.backends.hf:TransformersBackend",
    "vllm": "genai.backends.vllm_server:VLLMServerBackend",
    "fake": "genai.backends.fake:FakeBackend",
}


def register_backend(name: str, target: str) -> None:
    """Register a backend class by name as "module.path:ClassName"."""
    _REGISTRY[name] = target


def available_backends() -> list[str]:
    """The registered backend names."""
    return sorted(_REGISTRY)


def get_backend(name: str, **options: Any) -> Backend:
    """Import and build the backend registered as `name`."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown backend {name!r}; choose one of {', '.join(available_backends())}", field="backend"
        ) from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    backend: Backend = cls(**options)
    return backend
