"""Which adapters a workspace may name: the shipped ones, those trained here for no one in
particular, and those trained on its own feedback (`copyloop tune --brand` records whose).

An adapter trained on one workspace's feedback is that workspace's: another one naming it gets the
same answer as for an adapter that does not exist, so names do not leak across workspaces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai.errors import InvalidInputError
from genai.tuning.adapters import ADAPTERS_DIR, Adapter, find_adapter, load_adapter

__all__ = ["SCOPE_FILE", "AdapterInfo", "check_visible", "visible_adapters", "write_scope"]

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


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _owner(folder: Path) -> str | None:
    owner = _json(folder / SCOPE_FILE).get("workspace_id")
    return owner if isinstance(owner, str) else None


def check_visible(adapters_dir: Path, workspace_id: str, name: str) -> None:
    """Raise InvalidInputError (field ``adapter``) when `name` is another workspace's adapter."""
    found = find_adapter(name, [adapters_dir]) if (adapters_dir / name).is_dir() else None
    if found is None or found.path.parent == ADAPTERS_DIR:
        return  # "none", a shipped one, or one only the backend knows (a vLLM server's)
    owner = _owner(found.path)
    if owner is not None and owner != workspace_id:
        raise InvalidInputError(f"no adapter named {name!r}", field="adapter")


def visible_adapters(adapters_dir: Path, workspace_id: str) -> list[AdapterInfo]:
    """The shipped adapters, then those trained here that the workspace may name, by name."""
    found: list[AdapterInfo] = []
    for origin, root in (("shipped", ADAPTERS_DIR), ("trained here", adapters_dir)):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            owner = _owner(folder)
            if origin != "shipped" and owner is not None and owner != workspace_id:
                continue
            try:
                adapter = load_adapter(folder)
            except InvalidInputError:
                continue  # not an adapter folder (an interrupted training, say)
            found.append(
                AdapterInfo(adapter, origin, _json(folder / SCOPE_FILE), _json(folder / "training.json"))
            )
    return found
