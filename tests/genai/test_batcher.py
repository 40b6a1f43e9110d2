"""The micro-batcher: concurrent requests share one run, within bounds and deadlines."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from genai.backends.base import Candidate, GenerationRequest, GenerationResult
from genai.backends.batcher import MicroBatcher
from genai.errors import BackendError, GenerationTimeoutError, QueueFullError


class Recorder:
    """A run_batch that records every batch and answers each request with its own prompt.

    While `gate` is clear, a batch that contains the prompt "hold" waits for it, so a test can
    keep the worker busy and fill the queue behind it. `fail` makes every other batch raise.
    """

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.running = threading.Event()
        self.fail: Exception | None = None

    def __call__(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        prompts = [r.messages[0]["content"] for r in requests]
        self.batches.append(prompts)
        self.running.set()
        if "hold" in prompts:
            assert self.gate.wait(10), "the test never released the worker"
        elif self.fail is not None:
            raise self.fail
        return [
            GenerationResult([Candidate(f"{p}#{i}", 1, "stop") for i in range(r.n)], 1, 0.0, 0.0)
            for p, r in zip(prompts, requests, strict=True)
        ]

    def sizes(self) -> list[int]:
        """Requests per batch, in order."""
        return [len(b) for b in self.batches]


def request(prompt: str, n: int = 1, timeout_s: float | None = None) -> GenerationRequest:
    return GenerationRequest([{"role": "user", "content": prompt}], n=n, timeout_s=timeout_s)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_batcher(recorder: Recorder) -> Iterator[Callable[..., MicroBatcher]]:
    made: list[MicroBatcher] = []

    def make(**options: float) -> MicroBatcher:
        batcher = MicroBatcher(recorder, **options)  # type: ignore[arg-type]
        made.append(batcher)
        return batcher

    yield make
    recorder.gate.set()
    for batcher in made:
        batcher.close()


def hold_worker(batcher: MicroBatcher, recorder: Recorder) -> threading.Thread:
    """Start a request that keeps the worker busy until `recorder.gate` is set."""
    recorder.gate.clear()
    recorder.running.clear()
    thread = threading.Thread(target=batcher.generate, args=([request("hold")],), daemon=True)
    thread.start()
    assert recorder.running.wait(5)
    return thread


def wait_for_depth(batcher: MicroBatcher, depth: int) -> None:
    deadline = time.monotonic() + 5
    while batcher.depth < depth:
        assert time.monotonic() < deadline, f"queue depth stayed at {batcher.depth}"
        time.sleep(0.002)


def test_concurrent_submits_from_threads_are_merged_into_one_batch(
    make_batcher: Callable[..., MicroBatcher], recorder: Recorder
) -> None:
    # The batch closes as soon as it holds max_batch candidates, so the long wait costs nothing.
    batcher = make_batcher(max_batch=6, wait_s=5.0)
    barrier = threading.Barrier(6)
    answers: dict[str, list[str]] = {}

    def call(prompt: str) -> None:
        barrier.wait()
        answers[prompt] = [c.text for c in batcher.generate([request(prompt)])[0].candidates]

    threads = [threading.Thread(target=call, args=(f"p{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert recorder.sizes() == [6]
    assert batcher.stats.batches == 1 and batcher.stats.requests == 6 and batcher.stats.last_batch_size == 6
    assert answers == {f"p{i}": [f"p{i}#0"] for i in range(6)}


def test_requests_queued_behind_a_busy_worker_run_together(
    make_batcher: Callable[..., MicroBatcher], recorder: Recorder
) -> None:
    batcher = make_batcher(max_batch=32, wait_s=0.0)
    holder = hold_worker(batcher, recorder)
    futures = [batcher.submit(request(f"q{i}", n=2)) for i in range(5)]
    recorder.gate.set()
    holder.join(5)
    assert [f.result(5).candidates[1].text for f in futures] == [f"q{i}#1" for i in range(5)]
    assert recorder.batches == [["hold"], [f"q{i}" for i in range(5)]]
    assert batcher.stats.candidates == 1 + 10


def test_max_batch_counts_candidates_and_carries_the_request_that_does_not_fit(
    make_batcher: Callable[..., MicroBatcher], recorder: Recorder
) -> None:
    batcher = make_batcher(max_batch=4, wait_s=0.0)
    holder = hold_worker(batcher, recorder)
    futures = [batcher.submit(request(p, n=n)) for p, n in [("a", 2), ("b", 1), ("c", 2), ("d", 1)]]
    recorder.gate.set()
    holder.join(5)
    results = [f.result(5) for f in futures]
    # a+b make 3 candidates; c (2 more) would make 5, so it opens the next batch together with d.
    assert recorder.batches == [["hold"], ["a", "b"], ["c", "d"]]
    assert [[c.text for c in r.candidates] for r in results] == [
        ["a#0", "a#1"],
        ["b#0"],
        ["c#0", "c#1"],
        ["d#0"],
    ]


def test_a_full_queue_raises_queue_full(
    make_batcher: Callable[..., MicroBatcher], recorder: Recorder
) -> None:
    batcher = make_batcher(max_queue=2, wait_s=0.0)
    holder = hold_worker(batcher, recorder)
    waiting = [batcher.submit(request("x")), batcher.submit(request("y"))]
    with pytest.raises(QueueFullError, match="full"):
        batcher.submit(request("z"))
    recorder.gate.set()
    holder.join(5)
    assert [f.result(5).candidates[0].text for f in waiting] == ["x#0", "y#0"]
    assert all("z" not in batch for batch in recorder.batches)


def test_a_request_past_its_deadline_raises_timeout_and_is_never_run(
    make_batcher: Callable[..., MicroBatcher], recorder: Recorder
) -> None:
    batcher = make_batcher(wait_s=0.0)
    holder = hold_worker(batcher, recorder)
    started = time.monotonic()
    with pytest.raises(GenerationTimeoutError):
        batcher.generate([request("late", timeout_s=0.05)])
    assert time.monotonic() - started < 2
    recorder.gate.set()
    holder.join(5)
    # The worker is free again and still serves the next request.
    assert batcher.generate([request("next")])[0].candidates[0].text == "next#0"
    assert all("late" not in batch for batch in recorder.batches)
    assert batcher.stats.expired == 1


def test_a_request_that_expires_while_queued_gets_a_timeout_from_its_future(
    make_batcher: Callable[..., MicroBatcher], recorder: Recorder
) -> None:
    batcher = make_batcher(wait_s=0.0)
    holder = hold_worker(batcher, recorder)
    future = batcher.submit(request("stale", timeout_s=0.01))
    time.sleep(0.05)
    recorder.gate.set()
    holder.join(5)
    with pytest.raises(GenerationTimeoutError, match="expired"):
        future.result(5)
    assert all("stale" not in batch for batch in recorder.batches)


def test_an_error_in_run_batch_reaches_every_caller_of_that_batch(
    make_batcher: Callable[..., MicroBatcher], recorder: Recorder
) -> None:
    batcher = make_batcher(wait_s=0.0)
    holder = hold_worker(batcher, recorder)
    futures = [batcher.submit(request(f"e{i}")) for i in range(3)]
    recorder.fail = BackendError("model crashed")
    recorder.gate.set()
    holder.join(5)
    for future in futures:
        with pytest.raises(BackendError, match="model crashed"):
            future.result(5)
    recorder.fail = None
    assert batcher.generate([request("after")])[0].candidates[0].text == "after#0"


def test_queue_time_is_recorded_on_each_result(
    make_batcher: Callable[..., MicroBatcher], recorder: Recorder
) -> None:
    batcher = make_batcher(wait_s=0.0)
    holder = hold_worker(batcher, recorder)
    future = batcher.submit(request("waited"))
    time.sleep(0.05)
    recorder.gate.set()
    holder.join(5)
    assert future.result(5).queue_s >= 0.04


def test_a_closed_batcher_refuses_new_requests(make_batcher: Callable[..., MicroBatcher]) -> None:
    batcher = make_batcher()
    batcher.close()
    with pytest.raises(BackendError, match="closed"):
        batcher.submit(request("too late"))


def test_a_run_batch_that_returns_too_few_results_fails_its_callers_and_the_worker_survives() -> None:
    calls: list[int] = []

    def short(requests: list[GenerationRequest]) -> list[GenerationResult]:
        calls.append(len(requests))
        if len(calls) == 1:
            return []
        return [GenerationResult([Candidate("ok", 1, "stop")], 1, 0.0, 0.0) for _ in requests]

    batcher = MicroBatcher(short, wait_s=0.0)
    try:
        with pytest.raises(BackendError, match="1 request"):
            batcher.generate([request("lost", timeout_s=5)])
        assert batcher.generate([request("next", timeout_s=5)])[0].candidates[0].text == "ok"
    finally:
        batcher.close()
