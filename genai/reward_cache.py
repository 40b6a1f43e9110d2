"""The reward models a process has loaded, by model id: a stored model is immutable, so one loaded
once serves every later ranking; only the most recently used few stay in memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["RewardCache"]

T = TypeVar("T")


class RewardCache(Generic[T]):
    """Loaded models by id, the `size` most recently used kept; a load that raises is not kept."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], T]) -> T:
        """The model kept under `key`, or what `load` returns, then kept."""
        # one lock around the load too: two rankings that want the same new model load it once
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            item = load()
            self._items[key] = item
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return item

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
