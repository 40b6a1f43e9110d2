"""One thread for the process's tensor work: model loading, generation and embeddings.

PyTorch's CPU build runs its parallel kernels on OpenMP, and OpenMP keeps a team of worker threads
for each thread that starts parallel work. Once a process holds more OpenMP threads than there are
cores, libgomp stops letting idle workers spin between parallel regions and wakes them through the
kernel at every region instead. A decode step of the embedded model opens about a hundred regions:
measured on a 2-core machine, a model loaded on one thread and decoded on another (the
micro-batcher's) ran at 15 to 18 tokens a second, against 20 to 25 when one thread did both. So
the transformers backend and the embedder hand their work to this one thread, whichever thread
asks: the process keeps a single team, sized to the cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["on_torch_thread", "torch_thread_ident"]

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_ident: int | None = None


def _mark() -> None:
    global _ident
    _ident = threading.get_ident()


def torch_thread_ident() -> int | None:
    """The tensor thread's identifier once it has started (None before)."""
    return _ident


def on_torch_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `fn` on the tensor thread and return what it returns; its exception is raised here.

    Called from the tensor thread itself (work that hands on more work), `fn` runs in place.
    """
    global _pool
    if threading.get_ident() == _ident:
        return fn(*args, **kwargs)
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="copyloop-torch", initializer=_mark)
        pool = _pool
    return pool.submit(fn, *args, **kwargs).result()


def _forget_after_fork() -> None:
    # a forked child has no copy of the thread: it starts its own on first use
    global _pool, _ident, _lock
    _pool, _ident, _lock = None, None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
