"""The process's one tensor thread: everything handed to it runs there, in order, and errors come back."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from genai.backends.base import GenerationRequest, SamplingParams
from genai.torch_thread import on_torch_thread, torch_thread_ident


def test_work_from_any_thread_runs_on_the_one_tensor_thread() -> None:
    seen: list[int] = []

    def where() -> int:
        return threading.get_ident()

    seen.append(on_torch_thread(where))
    callers = [threading.Thread(target=lambda: seen.append(on_torch_thread(where))) for _ in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(10)
    assert len(seen) == 5 and len(set(seen)) == 1
    assert seen[0] == torch_thread_ident() != threading.get_ident()


def test_arguments_results_and_errors_cross_over() -> None:
    assert on_torch_thread(divmod, 17, 5) == (3, 2)
    assert on_torch_thread(sorted, [3, 1, 2], reverse=True) == [3, 2, 1]
    with pytest.raises(ZeroDivisionError):
        on_torch_thread(divmod, 1, 0)
    assert on_torch_thread(divmod, 4, 2) == (2, 0), "an error leaves the thread serving"


def test_work_handed_on_from_the_tensor_thread_runs_in_place() -> None:
    def outer() -> tuple[int, int]:
        return threading.get_ident(), on_torch_thread(threading.get_ident)

    first, second = on_torch_thread(outer)
    assert first == second == torch_thread_ident()


def test_the_transformers_backend_loads_and_generates_on_the_tensor_thread(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genai.backends import hf
    from tests.support.tiny_model import tiny_model_dir

    path: Path = tiny_model_dir(tmp_path_factory)
    threads: dict[str, set[int]] = {"load": set(), "generate": set()}
    real_pick = hf.pick_device

    def pick(*args: Any, **kwargs: Any) -> Any:
        threads["load"].add(threading.get_ident())
        return real_pick(*args, **kwargs)

    monkeypatch.setattr(hf, "pick_device", pick)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = hf.TransformersBackend(model=path, device="cpu", dtype="float32", timeout_s=60)
    real_group = backend._generate_group

    def group(requests: Any) -> Any:
        threads["generate"].add(threading.get_ident())
        return real_group(requests)

    monkeypatch.setattr(backend, "_generate_group", group)
    request = GenerationRequest([{"role": "user", "content": "hi"}], sampling=SamplingParams(max_tokens=2))
    try:
        backend.generate([request])  # through the micro-batcher's worker
        backend.generate_unbatched([request])  # straight from this thread
    finally:
        backend.close()
    assert threads == {"load": {torch_thread_ident()}, "generate": {torch_thread_ident()}}
