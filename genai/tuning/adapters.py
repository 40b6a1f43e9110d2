"""LoRA adapters: the shipped task adapter, a user's own, and how a backend applies one.

An adapter is a folder with `adapter_config.json` and `adapter_model.safetensors` (peft's
format, which vLLM's `--lora-modules` reads too). Its identity in every variant's lineage is
its name and the sha256 of its weights file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai.errors import InvalidInputError

# What a request may call an adapter: a name, never a path.
ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

__all__ = [
    "ADAPTERS_DIR",
    "ADAPTER_NAME",
    "DEFAULT_ADAPTER",
    "Adapter",
    "apply_adapter",
    "find_adapter",
    "load_adapter",
    "resolve_adapter",
]

ADAPTERS_DIR = Path(__file__).parent / "adapters"
DEFAULT_ADAPTER = "email-v1"
_WEIGHTS = "adapter_model.safetensors"
_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter on disk, named and fingerprinted."""

    name: str
    path: Path
    sha256: str

    @property
    def rank(self) -> int:
        """The adapter's LoRA rank, as vLLM's `--max-lora-rank` needs it."""
        return int(json.loads((self.path / _CONFIG).read_text(encoding="utf-8"))["r"])


def load_adapter(path: Path, name: str | None = None) -> Adapter:
    """Read an adapter folder; refuses one without peft's config and weights."""
    from genai.backends.checkpoint import file_sha256

    if not (path / _CONFIG).is_file() or not (path / _WEIGHTS).is_file():
        raise InvalidInputError(f"{path} has no {_CONFIG} and {_WEIGHTS}", field="adapter")
    return Adapter(name=name or path.name, path=path, sha256=file_sha256(path / _WEIGHTS))


def resolve_adapter(spec: str | Path | None) -> Adapter | None:
    """None or "default": the shipped adapter; "none": no adapter; else a shipped name or a folder."""
    if spec is None or str(spec) == "default":
        if not (ADAPTERS_DIR / DEFAULT_ADAPTER).is_dir():
            return None  # a checkout without the trained adapter runs the base model
        spec = DEFAULT_ADAPTER
    if str(spec) == "none":
        return None
    shipped = ADAPTERS_DIR / str(spec)
    if "/" not in str(spec) and shipped.is_dir():
        return load_adapter(shipped)
    path = Path(spec)
    if not path.is_dir():
        raise InvalidInputError(f"no shipped adapter named {str(spec)!r} and no such folder", field="adapter")
    return load_adapter(path)


def find_adapter(name: str, search: Sequence[Path] = ()) -> Adapter | None:
    """The adapter a request names: "none" (None: the base model), a shipped one, or a folder of that
    name in one of the `search` folders (e.g. the adapters trained for a brand), in that order."""
    if not ADAPTER_NAME.fullmatch(name) or ".." in name:
        raise InvalidInputError(
            "must be an adapter's name: letters, digits, '.', '_' or '-', at most 64", field="adapter"
        )
    if name == "none":
        return None
    for folder in (ADAPTERS_DIR, *search):
        if (folder / name).is_dir():
            return load_adapter(folder / name)
    raise InvalidInputError(f"no adapter named {name!r}", field="adapter")


def apply_adapter(model: Any, adapter: Adapter) -> Any:
    """Merge the adapter's weights into `model` and return the plain model (no per-step cost)."""
    from peft import PeftModel

    try:
        wrapped = PeftModel.from_pretrained(model, str(adapter.path))
    except (ValueError, KeyError, RuntimeError) as exc:
        raise InvalidInputError(
            f"adapter {adapter.name} does not fit this model: {exc}", field="adapter"
        ) from exc
    return wrapped.merge_and_unload()
