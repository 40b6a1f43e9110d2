"""The vLLM client against a mock OpenAI-compatible server, and the `vllm serve` command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from genai.backends.base import GenerationRequest, SamplingParams
from genai.backends.vllm_command import SERVED_MODEL_NAME, vllm_serve_args
from genai.backends.vllm_server import VLLMServerBackend
from genai.draft import CTA_LABELS, ENDS_SENTENCE, draft_schema
from genai.errors import BackendError, BackendUnavailableError
from genai.tuning.adapters import resolve_adapter

SCHEMA = {"type": "object", "properties": {"subject": {"type": "string"}}}
BASE = "http://gpu-box:8000/v1"

Handler = Callable[[httpx.Request], httpx.Response]


def sse(*events: dict[str, Any] | str) -> bytes:
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
    return "".join(lines).encode()


def chunk(index: int, content: str, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": index, "delta": {"content": content}, "finish_reason": finish}
    return {"object": "chat.completion.chunk", "choices": [choice]}


def two_choice_stream() -> bytes:
    return sse(
        {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        chunk(0, '{"subject": '),
        chunk(1, '{"subject": '),
        chunk(1, '"Second"}', "stop"),
        chunk(0, '"First"}', "length"),
        {
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"prompt_tokens": 42, "completion_tokens": 9},
        },
        "[DONE]",
    )


class Server:
    """A mock server: records each request and answers with the handler's response."""

    def __init__(self, handler: Handler, served: tuple[str, ...] | None = None) -> None:
        self.handler = handler
        self.served = served
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.served is not None and request.method == "GET" and request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": m} for m in self.served]})
        return self.handler(request)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the POSTs received."""
        return [json.loads(r.content) for r in self.requests if r.method == "POST"]


@pytest.fixture
def client() -> Iterator[Callable[..., tuple[VLLMServerBackend, Server]]]:
    made: list[VLLMServerBackend] = []

    def make(
        handler: Handler, served: tuple[str, ...] | None = None, **options: Any
    ) -> tuple[VLLMServerBackend, Server]:
        server = Server(handler, served)
        options.setdefault("model", "served-model")
        options.setdefault("adapter", "none")  # the tests of the default adapter say which models are served
        backend = VLLMServerBackend(BASE, transport=httpx.MockTransport(server), backoff_s=0, **options)
        made.append(backend)
        return backend, server

    yield make
    for backend in made:
        backend.close()


def ask(n: int = 2, seed: int | None = 11, schema: dict[str, Any] | None = SCHEMA) -> GenerationRequest:
    return GenerationRequest(
        [{"role": "user", "content": "Write"}],
        n=n,
        sampling=SamplingParams(seed=seed, max_tokens=50),
        json_schema=schema,
    )


def test_streamed_choices_are_assembled_per_index_with_usage_and_ttft(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    backend, server = client(lambda r: httpx.Response(200, content=two_choice_stream()))
    [result] = backend.generate([ask()])
    assert [c.text for c in result.candidates] == ['{"subject": "First"}', '{"subject": "Second"}']
    assert [c.finish_reason for c in result.candidates] == ["length", "stop"]
    assert result.tokens_in == 42
    assert sum(c.tokens_out for c in result.candidates) == 9
    assert result.ttft_s is not None and 0 <= result.ttft_s <= result.total_s
    [post] = [r for r in server.requests if r.method == "POST"]
    assert post.url == httpx.URL(BASE + "/chat/completions")


def test_the_payload_asks_for_n_seeded_schema_constrained_streamed_candidates(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    backend, server = client(lambda r: httpx.Response(200, content=two_choice_stream()))
    backend.generate([ask()])
    [body] = server.bodies()
    assert body["model"] == "served-model"
    assert body["n"] == 2 and body["seed"] == 11 and body["max_tokens"] == 50
    assert body["structured_outputs"] == {"json": SCHEMA}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "Write"}]


def test_the_payload_leaves_out_seed_and_schema_when_the_request_has_none(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    backend, _ = client(lambda r: httpx.Response(200))
    body = backend.payload("m", ask(seed=None, schema=None))
    assert "seed" not in body and "structured_outputs" not in body


def test_requests_of_a_batch_come_back_in_order(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        word = json.loads(request.content)["messages"][0]["content"]
        return httpx.Response(200, content=sse(chunk(0, word, "stop"), "[DONE]"))

    backend, _ = client(handler)
    requests = [GenerationRequest([{"role": "user", "content": f"r{i}"}]) for i in range(6)]
    assert [r.candidates[0].text for r in backend.generate(requests)] == [f"r{i}" for i in range(6)]


def test_a_503_is_retried_and_the_next_answer_is_used(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    answers = iter([httpx.Response(503, text="loading"), httpx.Response(200, content=two_choice_stream())])
    backend, server = client(lambda r: next(answers), retries=2)
    [result] = backend.generate([ask()])
    assert len(server.requests) == 2
    assert result.candidates[1].text == '{"subject": "Second"}'


def test_connection_errors_past_the_retry_budget_raise_backend_unavailable(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    backend, server = client(refuse, retries=2)
    with pytest.raises(BackendUnavailableError) as info:
        backend.generate([ask()])
    assert len(server.requests) == 3
    message = str(info.value)
    assert BASE in message and "3 tries" in message and "connection refused" in message


def test_a_400_raises_backend_error_without_retrying(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    backend, server = client(
        lambda r: httpx.Response(400, json={"message": "n must be at most 8"}), retries=3
    )
    with pytest.raises(BackendError) as info:
        backend.generate([ask()])
    assert not isinstance(info.value, BackendUnavailableError)
    assert "400" in str(info.value) and "n must be at most 8" in str(info.value)
    assert len(server.requests) == 1


def test_an_error_event_in_the_stream_raises_backend_error(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    error = {"error": {"message": "guided decoding failed", "type": "BadRequestError", "code": 400}}
    backend, _ = client(lambda r: httpx.Response(200, content=sse(chunk(0, "{"), error, "[DONE]")))
    with pytest.raises(BackendError, match="guided decoding failed"):
        backend.generate([ask()])


def test_a_garbled_stream_raises_backend_error(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    backend, _ = client(lambda r: httpx.Response(200, content=b"data: {not json\n\n"))
    with pytest.raises(BackendError, match="stream"):
        backend.generate([ask()])


def test_the_model_id_comes_from_the_server_model_list(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    backend, server = client(
        lambda r: httpx.Response(200, json={"data": [{"id": "copyloop-gemma"}]}), model=None
    )
    assert backend.model_id == "copyloop-gemma"
    assert backend.model_id == "copyloop-gemma"  # asked once, then remembered
    assert [(r.method, r.url.path) for r in server.requests] == [("GET", "/v1/models")]
    assert backend.ready()


def test_a_server_with_no_model_or_no_answer_is_not_ready(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    empty, _ = client(lambda r: httpx.Response(200, json={"data": []}), model=None)
    with pytest.raises(BackendUnavailableError, match="serves no model"):
        _ = empty.model_id

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    down, server = client(refuse, model=None, retries=1)
    assert down.ready() is False
    assert len(server.requests) == 2


def test_serve_args_add_parallelism_flags_only_above_one() -> None:
    single = vllm_serve_args(Path("/ckpt"), port=9000)
    assert single[:3] == ["vllm", "serve", "/ckpt"]
    assert single[single.index("--port") + 1] == "9000"
    assert single[single.index("--served-model-name") + 1] == SERVED_MODEL_NAME
    for flag in ("--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size"):
        assert flag not in single
    multi = vllm_serve_args(Path("/ckpt"), tensor_parallel=2, pipeline_parallel=1, data_parallel=4)
    assert multi[multi.index("--tensor-parallel-size") + 1] == "2"
    assert multi[multi.index("--data-parallel-size") + 1] == "4"
    assert "--pipeline-parallel-size" not in multi
    staged = vllm_serve_args(Path("/ckpt"), pipeline_parallel=2)
    assert staged[staged.index("--pipeline-parallel-size") + 1] == "2"


def test_the_cpu_form_runs_the_module_entry_point_with_a_memory_share() -> None:
    args = vllm_serve_args(Path("/ckpt"), cpu=True)
    assert args[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert args[args.index("--model") + 1] == "/ckpt"
    assert "--gpu-memory-utilization" in args
    assert "serve" not in args


def test_the_payload_leaves_out_copyloops_own_schema_keywords(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    backend, server = client(lambda r: httpx.Response(200, content=two_choice_stream()))
    backend.generate([ask(schema=draft_schema())])
    [body] = server.bodies()
    sent = json.dumps(body["structured_outputs"])
    assert ENDS_SENTENCE not in sent
    assert body["structured_outputs"]["json"]["properties"]["cta_label"]["enum"] == list(CTA_LABELS)


def test_an_adapter_is_asked_for_as_the_requests_model(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    backend, server = client(lambda r: httpx.Response(200, content=two_choice_stream()), adapter="brand-x")
    backend.generate([ask()])
    [body] = server.bodies()
    assert body["model"] == "brand-x"
    assert backend.adapter_name == "brand-x" and backend.adapter_sha256 is None  # not a shipped adapter


def test_unset_adapter_means_the_shipped_one_when_the_server_serves_it(
    client: Callable[..., tuple[VLLMServerBackend, Server]],
) -> None:
    shipped = resolve_adapter(None)
    assert shipped is not None
    backend, server = client(
        lambda r: httpx.Response(200, content=two_choice_stream()),
        served=("served-model", shipped.name),
        adapter=None,
    )
    backend.generate([ask()])
    [body] = server.bodies()
    assert body["model"] == shipped.name
    assert backend.adapter_name == shipped.name and backend.adapter_sha256 == shipped.sha256


@pytest.mark.parametrize(
    ("adapter", "served"), [(None, ("served-model",)), ("none", ("served-model", "email-v1"))]
)
def test_the_base_model_is_asked_for_when_no_adapter_is_served_or_none_is_wanted(
    client: Callable[..., tuple[VLLMServerBackend, Server]], adapter: str | None, served: tuple[str, ...]
) -> None:
    backend, server = client(
        lambda r: httpx.Response(200, content=two_choice_stream()), served=served, adapter=adapter
    )
    backend.generate([ask()])
    [body] = server.bodies()
    assert body["model"] == "served-model"
    assert backend.adapter_name is None
    if adapter == "none":  # never asks the server what it serves
        assert all(r.method == "POST" for r in server.requests)


def test_each_candidate_carries_the_mean_log_probability_the_server_reports(client: Any) -> None:
    def scored(index: int, content: str, logprobs: list[float], finish: str | None = None) -> dict[str, Any]:
        event = chunk(index, content, finish)
        event["choices"][0]["logprobs"] = {"content": [{"token": "t", "logprob": v} for v in logprobs]}
        return event

    stream = sse(
        scored(0, '{"subject": ', [-0.5, -1.5]),
        scored(1, '{"subject": "A"}', [-2.0], "stop"),
        scored(0, '"B"}', [-1.0], "stop"),
        chunk(2, '"C"}', "stop"),  # a server that sends no log-probabilities for a choice
        "[DONE]",
    )
    backend, server = client(lambda r: httpx.Response(200, content=stream))
    [result] = backend.generate([GenerationRequest([{"role": "user", "content": "hi"}], n=3)])
    assert server.bodies()[0]["logprobs"] is True
    assert [c.mean_logprob for c in result.candidates] == [pytest.approx(-1.0), pytest.approx(-2.0), None]
