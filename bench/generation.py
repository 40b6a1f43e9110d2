"""Generation benchmark: load times, time to first token, decode speed and batching gains.

Writes bench/results/generation.json. Every ratio is against a baseline measured in the
same run on the same machine:
- batch-1 decode speed against the memory-bandwidth ceiling (weight bytes read per
  decode step over the measured copy bandwidth), for the backend's default dtype (the
  target) and, on a CPU, for the other of fp32 and bf16 too (each reads its own bytes);
- 8 concurrent campaign requests through the micro-batcher against the naive path
  (one unbatched `generate` per variant, one request after another);
- on a CPU, the lean Gemma decoder (the default there) against transformers' own `generate`
  on the same weights, at batch 1;
- on a CPU in bf16, the lean decoder with its C kernels against the same decoder running
  PyTorch's operations between the matrix products, at batch 1;
- the same GGUF through llama.cpp (llama-cpp-python, when installed: ``pip install -e
  ".[bench]"``), at batch 1 and its aggregate over 8 parallel sequences, in turns with copyloop's
  decoder at the same batch: what a user running the model locally would otherwise pick.

    python bench/generation.py [--device cuda] [--tokens 32] [--out bench/results/generation.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genai.backends import GenerationRequest, SamplingParams
from genai.backends.checkpoint import embedded_gguf, ensure_checkpoint
from genai.backends.hf import TransformersBackend
from genai.brand import load_brand
from genai.brief import load_brief
from genai.prompts import load_prompt
from genai.torch_thread import on_torch_thread
from serving.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"warm_load_s_max": 10.0, "batch1_share_of_ceiling_min": 0.5, "concurrency_speedup_min": 3.0}


def copy_bandwidth(size_mb: int = 512, repeats: int = 5) -> float:
    """Bytes per second (read + write) of a large in-memory copy on all the threads torch decodes with.

    A single-threaded copy understates what the decode kernels, which run on every core, can read.
    """
    import torch

    src = torch.ones(size_mb * 2**20 // 4, dtype=torch.float32)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.numel() * src.element_size() / best


def cuda_bandwidth(size_mb: int = 1024, repeats: int = 10) -> float:
    """Bytes per second of a device-to-device copy on the GPU."""
    import torch

    src = torch.ones(size_mb * 2**20, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best


def weight_bytes(backend: TransformersBackend) -> int:
    """Bytes of weights one decode step reads (tied embeddings count once, as the output layer)."""
    seen: set[int] = set()
    total = 0
    for p in backend.model.parameters():
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        total += p.numel() * p.element_size()
    return total


def messages() -> list[dict[str, str]]:
    """The demo prompt for the first segment of the sample brief."""
    brand = load_brand(ROOT / "genai/samples/wick-and-willow.html", "https://wickandwillow.example/")
    brief = load_brief(ROOT / "genai/samples/holiday-brief.yaml")
    return load_prompt().render(brand, brief, brief.segments[0]).messages


def decode_speed(
    backend: TransformersBackend, msgs: list[dict[str, str]], batch: int, tokens: int, repeats: int = 1
) -> dict[str, Any]:
    """Tokens per second of the decode phase at a batch size (the first token's time excluded).

    With `repeats`, the fastest of that many runs: the copy bandwidth it is compared with is the
    fastest of several copies too, so other tenants of a shared machine slow neither side.
    """
    sampling = SamplingParams(temperature=0.0, max_tokens=tokens, seed=0)
    request = GenerationRequest(messages=msgs, n=batch, sampling=sampling)
    runs = [backend.generate_unbatched([request])[0] for _ in range(repeats)]
    result = min(runs, key=lambda r: r.total_s - (r.ttft_s or 0.0))
    out_tokens = sum(c.tokens_out for c in result.candidates)
    ttft = result.ttft_s or 0.0
    steps = max(c.tokens_out for c in result.candidates) - 1
    decode_s = max(result.total_s - ttft, 1e-9)
    return {
        "batch": batch,
        "ttft_s": round(ttft, 4),
        "total_s": round(result.total_s, 3),
        "tokens_out": out_tokens,
        "decode_tokens_per_s": round(batch * steps / decode_s, 3),
        "steps_per_s": round(steps / decode_s, 3),
    }


def decode_report(
    backend: TransformersBackend, msgs: list[dict[str, str]], tokens: int, bandwidth: Callable[[], float]
) -> dict[str, Any]:
    """Decode speed at batch 1, 4 and 8 and the batch-1 share of this dtype's bandwidth ceiling.

    The share pairs each batch-1 run with a copy-bandwidth measurement taken just before it and
    reports the median of five pairs (with every pair in the JSON): on a shared machine what other
    tenants leave of the bandwidth and of the cores swings by a third within minutes, so one
    measurement of each would make the share a draw.
    """
    wbytes = weight_bytes(backend)
    runs, pairs = [], []
    for _ in range(5):
        # on the thread the model computes on, with the same team of OpenMP threads
        copy_bytes_per_s = on_torch_thread(bandwidth)
        run = decode_speed(backend, msgs, 1, tokens)
        ceiling = copy_bytes_per_s / wbytes
        runs.append(run)
        pairs.append(
            {
                "copy_bytes_per_s": round(copy_bytes_per_s),
                "ceiling_tokens_per_s": round(ceiling, 3),
                "decode_tokens_per_s": run["decode_tokens_per_s"],
                "share": round(run["decode_tokens_per_s"] / ceiling, 3),
            }
        )
    middle = sorted(range(len(pairs)), key=lambda i: pairs[i]["share"])[len(pairs) // 2]
    median = pairs[middle]
    decode = [runs[middle]] + [decode_speed(backend, msgs, b, tokens, repeats=3) for b in (4, 8)]
    return {
        "decode": decode,
        "bandwidth": {
            "copy_bytes_per_s": median["copy_bytes_per_s"],
            "weight_bytes_per_step": wbytes,
            "ceiling_tokens_per_s": median["ceiling_tokens_per_s"],
            "batch1_share_of_ceiling": median["share"],
            "batch1_pairs": pairs,
        },
    }


def interleaved(
    fast: Callable[[], float], slow: Callable[[], float], names: tuple[str, str]
) -> dict[str, Any]:
    """Two batch-1 decode speeds measured in turns, three times each, and the median of the ratios.

    A neighbour's burst on a shared machine slows one pair, not the figure.
    """
    pairs = []
    for _ in range(3):
        a, b = fast(), slow()
        pairs.append({names[0]: a, names[1]: b, "speedup": round(a / b, 3)})
    median = sorted(pairs, key=lambda p: p["speedup"])[1]
    return {**median, "pairs": pairs}


def lean_vs_generate(
    lean: TransformersBackend, generic: TransformersBackend, msgs: list[dict[str, str]], tokens: int
) -> dict[str, Any]:
    """Batch-1 decode of the lean Gemma decoder against transformers' `generate` on the same weights."""
    return interleaved(
        lambda: decode_speed(lean, msgs, 1, tokens)["decode_tokens_per_s"],
        lambda: decode_speed(generic, msgs, 1, tokens)["decode_tokens_per_s"],
        ("lean_tokens_per_s", "generate_tokens_per_s"),
    )


def kernels_vs_pytorch_ops(
    backend: TransformersBackend, msgs: list[dict[str, str]], tokens: int
) -> dict[str, Any]:
    """Batch-1 decode of the lean decoder with its C kernels against the same decoder without them."""
    decoder = backend.decoder
    kernels = decoder.kernels

    def without() -> float:
        decoder.kernels = None
        try:
            return float(decode_speed(backend, msgs, 1, tokens)["decode_tokens_per_s"])
        finally:
            decoder.kernels = kernels

    return interleaved(
        lambda: decode_speed(backend, msgs, 1, tokens)["decode_tokens_per_s"],
        without,
        ("kernels_tokens_per_s", "pytorch_ops_tokens_per_s"),
    )


def against_llama_cpp(
    backend: TransformersBackend, gguf: Path, msgs: list[dict[str, str]], tokens: int
) -> dict[str, Any] | None:
    """copyloop's decoder and llama.cpp on the same GGUF and prompt, batch 1 and 8, in turns."""
    import llama_cpp_decode

    if not llama_cpp_decode.available():
        return None
    text = backend.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    llama = llama_cpp_decode.LlamaCppDecoder(gguf, parallel=8)
    try:
        prompt = llama.tokenize(text)
        llama.decode_speed(prompt, 1, 4)  # warm-up
        out: dict[str, Any] = {"llama_cpp_python": llama.version, "prompt_tokens": len(prompt)}
        for batch in (1, 8):
            out[f"batch{batch}"] = interleaved(
                lambda b=batch: decode_speed(backend, msgs, b, tokens)["decode_tokens_per_s"],
                lambda b=batch: llama.decode_speed(prompt, b, tokens)["decode_tokens_per_s"],
                ("copyloop_tokens_per_s", "llama_cpp_tokens_per_s"),
            )
        return out
    finally:
        llama.close()


def cpu_flags() -> list[str]:
    """The CPU's vector and matrix extensions that decide the kernels (AVX-512, bf16, AMX)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set(text.split("flags", 1)[-1].split("\n", 1)[0].split())
    return sorted(f for f in flags if f.startswith(("avx", "amx")))


def concurrency(
    backend: TransformersBackend, msgs: list[dict[str, str]], requests: int, n: int, tokens: int
) -> dict[str, Any]:
    """Aggregate tokens/s of concurrent campaign requests: micro-batched vs one-at-a-time."""
    sampling = SamplingParams(temperature=0.8, max_tokens=tokens, seed=1)

    def make(k: int) -> GenerationRequest:
        return GenerationRequest(messages=msgs, n=n, sampling=sampling)

    # naive: one generate per variant, requests one after another
    start = time.perf_counter()
    naive_tokens = 0
    for _ in range(requests * n):
        single = GenerationRequest(messages=msgs, n=1, sampling=sampling)
        naive_tokens += backend.generate_unbatched([single])[0].tokens_out
    naive_s = time.perf_counter() - start

    results: list[Any] = [None] * requests
    batches_before = backend.batcher.stats.batches

    def call(k: int) -> None:
        results[k] = backend.generate([make(k)])[0]

    threads = [threading.Thread(target=call, args=(k,)) for k in range(requests)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batched_s = time.perf_counter() - start
    batched_tokens = sum(r.tokens_out for r in results)
    naive_tps = naive_tokens / naive_s
    batched_tps = batched_tokens / batched_s
    return {
        "requests": requests,
        "variants_per_request": n,
        "max_tokens": tokens,
        "naive": {"seconds": round(naive_s, 2), "tokens": naive_tokens, "tokens_per_s": round(naive_tps, 3)},
        "micro_batched": {
            "seconds": round(batched_s, 2),
            "tokens": batched_tokens,
            "tokens_per_s": round(batched_tps, 3),
            "generate_calls": backend.batcher.stats.batches - batches_before,
        },
        "speedup": round(batched_tps / naive_tps, 3),
    }


def main() -> None:
    """Run every measurement and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/generation.json")
    args = parser.parse_args()
    # The cache the command line uses, so COPYLOOP_CACHE_DIR moves the benchmark's files too.
    cache_dir = load_settings().cache_dir

    with tempfile.TemporaryDirectory() as cold_root:
        gguf = embedded_gguf(cache_dir)
        start = time.perf_counter()
        on_torch_thread(ensure_checkpoint, gguf, root=Path(cold_root))  # cold: convert into a new cache
        convert_s = time.perf_counter() - start
    start = time.perf_counter()
    backend = TransformersBackend(device=args.device, max_batch=64, cache_dir=cache_dir)
    warm_load_s = time.perf_counter() - start  # warm: the converted checkpoint is cached
    cold_load_s = convert_s + warm_load_s
    default_dtype = str(backend.dtype).removeprefix("torch.")
    msgs = messages()
    bandwidth = cuda_bandwidth if args.device.startswith("cuda") else copy_bandwidth
    try:
        decode_speed(backend, msgs, 1, 4)  # warm-up
        by_dtype = {default_dtype: decode_report(backend, msgs, args.tokens, bandwidth)}
        conc = concurrency(backend, msgs, requests=8, n=2, tokens=args.tokens)
        llama_cpp = against_llama_cpp(backend, gguf, msgs, args.tokens) if args.device == "cpu" else None
        lean = native = None
        if backend.decoder is not None and backend.decoder.kernels is not None:
            native = kernels_vs_pytorch_ops(backend, msgs, args.tokens)
        if backend.decoder is not None:
            generic = TransformersBackend(device=args.device, lean_decode=False, cache_dir=cache_dir)
            try:
                decode_speed(generic, msgs, 1, 4)
                lean = lean_vs_generate(backend, generic, msgs, args.tokens)
            finally:
                generic.close()
    finally:
        backend.close()
    if args.device == "cpu":
        other_dtype = "float32" if default_dtype == "bfloat16" else "bfloat16"
        other = TransformersBackend(device=args.device, dtype=other_dtype, max_batch=64, cache_dir=cache_dir)
        try:
            decode_speed(other, msgs, 1, 4)
            by_dtype[other_dtype] = decode_report(other, msgs, args.tokens, bandwidth)
        finally:
            other.close()
    share = by_dtype[default_dtype]["bandwidth"]["batch1_share_of_ceiling"]
    report = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "device": args.device,
            "default_dtype": default_dtype,
            "cpu_flags": cpu_flags(),
            "load_average": list(os.getloadavg()),
        },
        "model": backend.model_id,
        "load": {
            "cold_s": round(cold_load_s, 2),
            "convert_s": round(convert_s, 2),
            "warm_s": round(warm_load_s, 2),
        },
        "ttft_s": by_dtype[default_dtype]["decode"][0]["ttft_s"],
        "batch1_share_of_ceiling": {"dtype": default_dtype, "share": share},
        "decode_by_dtype": by_dtype,
        "lean_decoder_vs_transformers_generate": lean,
        "decode_kernels_vs_pytorch_ops": native,
        # "speedup" there is copyloop's decode over llama.cpp's (below 1: llama.cpp is faster)
        "llama_cpp": llama_cpp,
        "concurrency": conc,
        "targets": TARGETS,
        "met": {
            "warm_load": warm_load_s <= TARGETS["warm_load_s_max"],
            # the default dtype's: what a user of this machine gets
            "batch1_vs_ceiling": share >= TARGETS["batch1_share_of_ceiling_min"],
            "concurrency_speedup": conc["speedup"] >= TARGETS["concurrency_speedup_min"],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
