"""A vLLM server through its OpenAI-compatible API.

Each request becomes one streamed `/v1/chat/completions` call with `n` candidates, a
`seed`, and, when the request carries a JSON schema, vLLM's `structured_outputs` so the
server constrains decoding to that schema. Streaming gives the time to first token;
the final usage chunk gives token counts. Requests of a batch run concurrently: the
server batches them continuously. 5xx answers and connection errors are retried with
exponential backoff; a server that stays unreachable raises BackendUnavailableError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from genai.backends.base import AdapterUsed, Backend, Candidate, GenerationRequest, GenerationResult
from genai.errors import BackendError, BackendUnavailableError, GenerationTimeoutError, InvalidInputError

__all__ = ["VLLMServerBackend"]


class VLLMServerBackend(Backend):
    """Talks to `vllm serve` (or any server with vLLM's OpenAI-compatible API)."""

    name = "vllm"

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000/v1",
        model: str | None = None,
        *,
        adapter: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 300.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_concurrency: int = 16,
        transport: httpx.BaseTransport | None = None,
        adapter_dirs: Sequence[Path] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.adapter_dirs = tuple(Path(d) for d in adapter_dirs)
        self._sha256s: dict[str, str | None] = {}
        self.retries = retries
        self.backoff_s = backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            headers=headers,
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="copyloop-vllm")
        self._model = model
        self.checkpoint_sha256 = None
        # A LoRA adapter the server loaded with --lora-modules is asked for as the request's model.
        # Unset or "default" means the shipped task adapter, as on the embedded backend, whenever
        # the server serves it (asked once, on first use); "none" always means the base model.
        self._adapter: str | None = None
        self._adapter_settled = adapter == "none"
        if adapter not in (None, "none", "default"):
            self._use_adapter(str(adapter))

    def _use_adapter(self, name: str) -> None:
        self._adapter = name
        self._adapter_settled = True
        self.adapter_name = name
        self.adapter_sha256 = self._adapter_sha256(name)

    def _adapter_sha256(self, name: str) -> str | None:
        """The weights' sha256 of the adapter the server calls `name`, when a copy is here to read
        (hashed once per adapter)."""
        from genai.tuning.adapters import ADAPTERS_DIR, load_adapter

        if name in self._sha256s:
            return self._sha256s[name]
        found = None
        for folder in (ADAPTERS_DIR, *self.adapter_dirs):
            if (folder / name).is_dir():
                found = load_adapter(folder / name).sha256
                break
        self._sha256s[name] = found
        return found

    def check_adapter(self, name: str) -> None:
        """A request may name "none" (the base model) or any adapter the server loaded."""
        from genai.tuning.adapters import ADAPTER_NAME

        if not ADAPTER_NAME.fullmatch(name):
            raise InvalidInputError("must be an adapter's name", field="adapter")
        if name != "none" and name not in self.served_models()[1:]:
            raise InvalidInputError(
                f"the vLLM server does not serve adapter {name!r}: start it with "
                f"--enable-lora --lora-modules {name}=<folder>",
                field="adapter",
            )

    def served_models(self) -> list[str]:
        """The ids the server answers to: the base model first, then each loaded adapter."""
        data = self._call("GET", "/models")
        return [str(m["id"]) for m in data.get("data") or []]

    def _settle_adapter(self) -> None:
        if self._adapter_settled:
            return
        from genai.tuning.adapters import DEFAULT_ADAPTER

        if DEFAULT_ADAPTER in self.served_models():
            self._use_adapter(DEFAULT_ADAPTER)
        self._adapter_settled = True

    @property
    def model_id(self) -> str:  # type: ignore[override]
        """The served model's id, asked of the server on first use."""
        if self._model is None:
            models = self.served_models()
            if not models:
                raise BackendUnavailableError(f"the vLLM server at {self.base_url} serves no model")
            self._model = models[0]
        return self._model

    def ready(self) -> bool:
        """True when the server answers its model list."""
        try:
            return bool(self.model_id)
        except BackendError:
            return False

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Send every request concurrently and collect the results in order.

        A request that names an adapter asks for it as its model (the server loaded it with
        ``--lora-modules``; "none" is the base model), so one server serves several adapters at once.
        """
        self._settle_adapter()
        own = self._adapter or self.model_id
        models = [
            own if r.adapter is None else (self.model_id if r.adapter == "none" else r.adapter)
            for r in requests
        ]
        futures = [self._pool.submit(self._one, model, r) for model, r in zip(models, requests, strict=True)]
        results = [f.result() for f in futures]
        for request, result in zip(requests, results, strict=True):
            if request.adapter is not None:
                name = None if request.adapter == "none" else request.adapter
                result.adapter = AdapterUsed(name, self._adapter_sha256(name) if name else None)
        return results

    def close(self) -> None:
        """Close the connection pool and the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def payload(self, model: str, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body sent for one request."""
        s = request.sampling
        body: dict[str, Any] = {
            "model": model,
            "messages": request.messages,
            "n": request.n,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": s.top_k if s.top_k > 0 else -1,
            "max_tokens": s.max_tokens,
            "repetition_penalty": s.repetition_penalty,
            "logprobs": True,  # each written token's log-probability: the ranker's fluency
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if request.json_schema is not None:
            body["structured_outputs"] = {"json": _standard_schema(request.json_schema)}
        return body

    def _one(self, model: str, request: GenerationRequest) -> GenerationResult:
        body = self.payload(model, request)
        for attempt in range(self.retries + 1):
            try:
                return self._stream(body, request)
            except _Retryable as exc:
                if attempt == self.retries:
                    raise BackendUnavailableError(
                        f"vLLM server at {self.base_url} failed after {self.retries + 1} tries: {exc}"
                    ) from None
                time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _stream(self, body: dict[str, Any], request: GenerationRequest) -> GenerationResult:
        texts = [""] * request.n
        finish: list[str | None] = [None] * request.n
        logprob_sum = [0.0] * request.n
        logprob_count = [0] * request.n
        usage: dict[str, Any] = {}
        ttft: float | None = None
        start = time.perf_counter()
        timeout = request.timeout_s
        try:
            with self._client.stream(
                "POST",
                "/chat/completions",
                json=body,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            ) as resp:
                if resp.status_code >= 500:
                    resp.read()
                    raise _Retryable(f"HTTP {resp.status_code}: {resp.text[:200]}")
                if resp.status_code >= 400:
                    resp.read()
                    raise BackendError(
                        f"vLLM server rejected the request (HTTP {resp.status_code}): {resp.text[:500]}"
                    )
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except json.JSONDecodeError:
                        raise BackendError(f"vLLM server sent a garbled stream chunk: {data[:200]}") from None
                    # a failure after the answer started streaming arrives as an event, not a status code
                    if chunk.get("error") or chunk.get("object") == "error":
                        error = chunk.get("error")
                        message = error.get("message") if isinstance(error, dict) else chunk.get("message")
                        raise BackendError(f"vLLM server failed mid-stream: {message or chunk}")
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        i = int(choice.get("index", 0))
                        delta = (choice.get("delta") or {}).get("content") or ""
                        if delta and ttft is None:
                            ttft = time.perf_counter() - start
                        texts[i] += delta
                        for entry in (choice.get("logprobs") or {}).get("content") or []:
                            value = entry.get("logprob") if isinstance(entry, dict) else None
                            if isinstance(value, int | float) and value > float("-inf"):
                                logprob_sum[i] += float(value)
                                logprob_count[i] += 1
                        if choice.get("finish_reason"):
                            finish[i] = choice["finish_reason"]
        except httpx.TimeoutException:
            raise GenerationTimeoutError(
                f"vLLM server did not answer within the timeout ({self.base_url})"
            ) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Retryable(f"cannot reach the server: {exc}") from None
        total = time.perf_counter() - start
        completion_tokens = int(usage.get("completion_tokens", 0))
        per = _split(completion_tokens, request.n)
        candidates = [
            Candidate(
                text=t,
                tokens_out=per[i],
                finish_reason=finish[i] or "stop",
                mean_logprob=logprob_sum[i] / logprob_count[i] if logprob_count[i] else None,
            )
            for i, t in enumerate(texts)
        ]
        return GenerationResult(
            candidates, tokens_in=int(usage.get("prompt_tokens", 0)), ttft_s=ttft, total_s=total
        )

    def _call(self, method: str, path: str) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                resp = self._client.request(method, path)
                if resp.status_code >= 500:
                    raise _Retryable(f"HTTP {resp.status_code}")
                resp.raise_for_status()
                data: dict[str, Any] = resp.json()
                return data
            except (httpx.ConnectError, httpx.TimeoutException, _Retryable) as exc:
                if attempt == self.retries:
                    raise BackendUnavailableError(
                        f"cannot reach the vLLM server at {self.base_url}: {exc}. Is `vllm serve` running?"
                    ) from None
                time.sleep(self.backoff_s * 2**attempt)
            except httpx.HTTPStatusError as exc:
                raise BackendError(f"vLLM server answered {exc.response.status_code} for {path}") from None
        raise AssertionError("unreachable")  # pragma: no cover


class _Retryable(Exception):
    pass


def _split(total: int, n: int) -> list[int]:
    """Spread a total token count over n candidates (the API reports one usage per request)."""
    base, extra = divmod(total, max(n, 1))
    return [base + (1 if i < extra else 0) for i in range(n)]


def _standard_schema(schema: Any) -> Any:
    """The schema without copyloop's own `x-` keywords, which a grammar engine need not know."""
    if isinstance(schema, dict):
        return {k: _standard_schema(v) for k, v in schema.items() if not str(k).startswith("x-")}
    if isinstance(schema, list):
        return [_standard_schema(v) for v in schema]
    return schema
