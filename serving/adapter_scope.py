"""Which adapters a workspace may name: the shipped ones, those trained here for no one in
particular, and those trained on its own feedback (`copyloop tune --brand` records whose).

An adapter trained on one workspace's feedback is that workspace's: another one naming it gets the
same answer as for an adapter that does not exist, so names do not leak across workspaces.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai.errors import InvalidInputError
from genai.tuning.adapters import ADAPTER_NAME, ADAPTERS_DIR, Adapter, load_adapter

__all__ = [
    "SCOPE_FILE",
    "AdapterInfo",
    "check_visible",
    "is_visible",
    "read_json",
    "reserve_adapter",
    "visible_adapters",
    "write_scope",
]

SCOPE_FILE = "scope.json"


@dataclass(frozen=True)
class AdapterInfo:
    """An adapter a workspace may name, where it comes from, and what its training reported."""

    adapter: Adapter
    origin: str  # "shipped" or "trained here"
    scope: dict[str, Any]  # whose feedback trained it (empty: no one's in particular)
    training: dict[str, Any]  # its training.json, when it has one


def write_scope(folder: Path, scope: dict[str, str | None]) -> None:
    """Record whose feedback trained the adapter in `folder`."""
    (folder / SCOPE_FILE).write_text(json.dumps(scope, indent=2) + "\n", encoding="utf-8")


def reserve_adapter(adapters_dir: Path, brand_name: str, name: str | None = None) -> tuple[str, Path]:
    """Claim a name and its folder for a new adapter: `name`, or ``<brand>-v<N>`` with the first N
    free here and among the shipped adapters. The folder is created at once, so two trainings never
    share one; a `name` that is taken is refused naming the field."""
    adapters_dir.mkdir(parents=True, exist_ok=True)
    if name is not None:
        if not ADAPTER_NAME.fullmatch(name) or (ADAPTERS_DIR / name).exists():
            raise InvalidInputError(f"{name!r} is not a free adapter name", field="name")
        try:
            (adapters_dir / name).mkdir()
        except FileExistsError:
            raise InvalidInputError(f"an adapter named {name!r} exists", field="name") from None
        return name, adapters_dir / name
    stem = re.sub(r"[^a-z0-9]+", "-", brand_name.lower()).strip("-")[:50] or "brand"
    for version in range(1, 100_000):
        candidate = f"{stem}-v{version}"
        if (ADAPTERS_DIR / candidate).exists():
            continue
        try:
            (adapters_dir / candidate).mkdir()
        except FileExistsError:
            continue
        return candidate, adapters_dir / candidate
    raise InvalidInputError(f"no free adapter name for {brand_name!r}", field="name")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object kept beside an adapter; {} when it is missing or not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _owner(folder: Path) -> str | None:
    owner = read_json(folder / SCOPE_FILE).get("workspace_id")
    return owner if isinstance(owner, str) else None


def _trained_here(adapters_dir: Path, name: str) -> Path | None:
    """The folder of an adapter trained here under `name` (not a shipped one, whose name wins)."""
    if not ADAPTER_NAME.fullmatch(name) or (ADAPTERS_DIR / name).is_dir():
        return None
    folder = adapters_dir / name
    return folder if folder.is_dir() else None


def is_visible(adapters_dir: Path, workspace_id: str, name: str) -> bool:
    """False when `name` is an adapter trained on another workspace's feedback."""
    folder = _trained_here(adapters_dir, name)
    owner = _owner(folder) if folder is not None else None
    return owner is None or owner == workspace_id


def check_visible(adapters_dir: Path, workspace_id: str, name: str) -> None:
    """Raise InvalidInputError (field ``adapter``) when `name` is another workspace's adapter (as if
    there were none of that name), or this workspace's one that has not finished training."""
    if not is_visible(adapters_dir, workspace_id, name):
        raise InvalidInputError(f"no adapter named {name!r}", field="adapter")
    folder = _trained_here(adapters_dir, name)
    if folder is not None:
        try:
            load_adapter(folder)
        except InvalidInputError:
            raise InvalidInputError(
                f"adapter {name!r} is not ready: it is still training, or its training failed",
                field="adapter",
            ) from None


def visible_adapters(adapters_dir: Path, workspace_id: str) -> list[AdapterInfo]:
    """The shipped adapters, then those trained here that the workspace may name, by name."""
    found: list[AdapterInfo] = []
    for origin, root in (("shipped", ADAPTERS_DIR), ("trained here", adapters_dir)):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            owner = _owner(folder)
            if origin != "shipped" and (
                owner not in (None, workspace_id) or (ADAPTERS_DIR / folder.name).is_dir()
            ):
                continue  # another workspace's, or hidden behind a shipped adapter's name
            try:
                adapter = load_adapter(folder)
            except InvalidInputError:
                continue  # not an adapter folder (an interrupted training, say)
            found.append(
                AdapterInfo(
                    adapter, origin, read_json(folder / SCOPE_FILE), read_json(folder / "training.json")
                )
            )
    return found
