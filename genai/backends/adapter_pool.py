"""Per-request LoRA adapters for an in-process backend: one loaded model per adapter in use.

The embedded backend merges its adapter into the weights it decodes with (no per-token cost, and
the lean decoder's fused and reordered weights stay as they are), so a request that names another
adapter goes to a sibling backend loaded with that adapter merged. Siblings are loaded on first
use and kept for the next request; past `max_loaded`, the one used least recently and not busy is
closed; when every slot is busy with another adapter, the request is refused as unavailable (503
through the API) rather than load one more copy of the model. Each result says which adapter wrote
it, for the variant's lineage.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from genai.backends.base import AdapterUsed, Backend, GenerationRequest, GenerationResult
from genai.errors import BackendError, BackendUnavailableError

__all__ = ["AdapterPool"]


class AdapterPool:
    """Sibling backends by adapter name, made by `factory(name)` on first use."""

    def __init__(self, factory: Callable[[str], Backend], max_loaded: int = 2) -> None:
        self.factory = factory
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[str, Backend] = OrderedDict()
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._loads = 0  # siblings being loaded now
        self._closed = False

    def loaded(self) -> list[str]:
        """The adapters with a sibling loaded now, least recently used first."""
        with self._lock:
            return list(self._loaded)

    def _acquire(self, name: str) -> Backend:
        with self._lock:
            gate = self._loading.setdefault(name, threading.Lock())
        with gate:  # one load per adapter, however many requests wait for it
            with self._lock:
                found = self._loaded.get(name)
                if found is not None:
                    self._loaded.move_to_end(name)
                    self._busy[name] = self._busy.get(name, 0) + 1
                    return found
                # room first: never more than `max_loaded` siblings in memory, loading ones included
                evicted = self._evict(room_for=1)
                if len(self._loaded) + self._loads >= self.max_loaded:
                    for old in evicted:
                        old.close()
                    raise BackendUnavailableError(
                        f"every one of the {self.max_loaded} adapter slots is busy with another adapter; "
                        "try again shortly or raise COPYLOOP_MAX_ADAPTERS"
                    )
                self._loads += 1
            for old in evicted:
                old.close()
            try:
                backend = self.factory(name)
            finally:
                with self._lock:
                    self._loads -= 1
            with self._lock:
                if self._closed:
                    backend.close()
                    raise BackendUnavailableError("the backend is closing")
                self._loaded[name] = backend
                self._busy[name] = self._busy.get(name, 0) + 1
        return backend

    def _evict(self, room_for: int = 0) -> list[Backend]:
        """Under the lock: drop idle siblings, least recently used first, until `room_for` more fit
        within `max_loaded`."""
        dropped = []
        for candidate in list(self._loaded):
            if len(self._loaded) + self._loads + room_for <= self.max_loaded:
                break
            if self._busy.get(candidate, 0) == 0:
                dropped.append(self._loaded.pop(candidate))
        return dropped

    def _release(self, name: str) -> None:
        with self._lock:
            self._busy[name] -= 1
            evicted = self._evict()
        for old in evicted:
            old.close()

    def generate(
        self,
        own: Backend,
        run_own: Callable[[list[GenerationRequest]], list[GenerationResult]],
        requests: Sequence[GenerationRequest],
    ) -> list[GenerationResult]:
        """Results in request order: `run_own` for the requests of `own`'s adapter, siblings for the rest."""
        own_name = own.adapter_name or "none"
        groups: dict[str | None, list[int]] = {}
        for index, request in enumerate(requests):
            key = None if request.adapter in (None, own_name) else request.adapter
            groups.setdefault(key, []).append(index)
        results: list[GenerationResult | None] = [None] * len(requests)
        for key, indexes in groups.items():
            batch = [requests[i] for i in indexes]
            if key is None:
                done = run_own(batch)
                used = AdapterUsed(own.adapter_name, own.adapter_sha256)
            else:
                sibling = self._acquire(key)
                try:
                    done = sibling.generate(batch)
                finally:
                    self._release(key)
                used = AdapterUsed(sibling.adapter_name, sibling.adapter_sha256)
            if len(done) != len(batch):
                raise BackendError(f"the backend returned {len(done)} results for {len(batch)} requests")
            for index, result in zip(indexes, done, strict=True):
                if requests[index].adapter is not None:
                    result.adapter = used
                results[index] = result
        return [r for r in results if r is not None]  # every index was in one group

    def close(self) -> None:
        """Close every sibling."""
        with self._lock:
            self._closed = True
            siblings = list(self._loaded.values())
            self._loaded.clear()
        for sibling in siblings:
            sibling.close()
