"""The same GGUF through llama.cpp, as a local user would run it: decode speed at batch 1 and the
aggregate over parallel sequences, measured like copyloop's own decode (greedy, the first
token's time left out).

llama-cpp-python's high-level `Llama` runs one sequence at a time, so the parallel figure drives
llama.cpp's batch API directly: the prompt is decoded once into every sequence (llama.cpp shares
it), then each step decodes one token per sequence in one `llama_decode` call, as llama.cpp's own
`llama-batched` example and its server's parallel slots do.

The package is optional (``pip install -e ".[bench]"`` builds it from its sdist with the system
compiler); without it `available()` is False and the benchmark says so.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["LlamaCppDecoder", "available"]


def available() -> bool:
    """Whether llama-cpp-python is installed."""
    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppDecoder:
    """A GGUF loaded in llama.cpp with room for `parallel` sequences of `context` tokens each."""

    def __init__(
        self, gguf: Path, parallel: int = 8, context: int = 1024, threads: int | None = None
    ) -> None:
        import llama_cpp as lc

        self._lc = lc
        lc.llama_backend_init()
        # silent, so the benchmark's output stays JSON; the reference keeps the callback alive
        self._quiet = lc.llama_log_callback(lambda level, text, user_data: None)
        lc.llama_log_set(self._quiet, ctypes.c_void_p(0))
        self.parallel = parallel
        self.model = lc.llama_model_load_from_file(str(gguf).encode(), lc.llama_model_default_params())
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {gguf}")
        params = lc.llama_context_default_params()
        params.n_ctx = parallel * context
        params.n_batch = max(context, parallel)
        params.n_ubatch = params.n_batch
        params.n_seq_max = parallel
        params.kv_unified = True  # the sequences share the prompt
        params.n_threads = params.n_threads_batch = threads or os.cpu_count() or 1
        self.ctx = lc.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)
        self.batch = lc.llama_batch_init(params.n_batch, 0, parallel)
        self.version = getattr(lc, "__version__", "unknown")

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, special tokens such as <start_of_turn> parsed (the text holds its <bos>)."""
        raw = text.encode()
        room = len(raw) + 8
        ids = (self._lc.llama_token * room)()
        n = self._lc.llama_tokenize(self.vocab, raw, len(raw), ids, room, False, True)
        if n < 0:
            raise RuntimeError("llama.cpp could not tokenise the prompt")
        return list(ids[:n])

    def decode_speed(self, prompt: list[int], sequences: int, tokens: int) -> dict[str, Any]:
        """Greedy decode of `tokens` tokens in each of `sequences` sequences; tokens per second."""
        import numpy as np

        lc, batch = self._lc, self.batch
        if not 1 <= sequences <= self.parallel:
            raise ValueError(f"sequences must be 1..{self.parallel}")
        lc.llama_memory_clear(lc.llama_get_memory(self.ctx), True)
        start = time.perf_counter()
        batch.n_tokens = len(prompt)
        for i, token in enumerate(prompt):
            batch.token[i] = token
            batch.pos[i] = i
            batch.n_seq_id[i] = sequences
            for s in range(sequences):
                batch.seq_id[i][s] = s
            batch.logits[i] = i == len(prompt) - 1
        if lc.llama_decode(self.ctx, batch) != 0:
            raise RuntimeError("llama.cpp failed to decode the prompt")
        last = [len(prompt) - 1] * sequences  # each sequence's row of logits in the last batch
        first_token_s = None
        written = 0
        for step in range(tokens):
            picks = []
            for s in range(sequences):
                logits = lc.llama_get_logits_ith(self.ctx, last[s] if step else -1)
                picks.append(int(np.ctypeslib.as_array(logits, shape=(self.n_vocab,)).argmax()))
            if first_token_s is None:
                first_token_s = time.perf_counter() - start
            written += sequences
            if step == tokens - 1:
                break
            batch.n_tokens = sequences
            for s, token in enumerate(picks):
                batch.token[s] = token
                batch.pos[s] = len(prompt) + step
                batch.n_seq_id[s] = 1
                batch.seq_id[s][0] = s
                batch.logits[s] = True
            last = list(range(sequences))
            if lc.llama_decode(self.ctx, batch) != 0:
                raise RuntimeError("llama.cpp failed to decode a step")
        total = time.perf_counter() - start
        ttft = first_token_s or 0.0
        decode_s = max(total - ttft, 1e-9)
        return {
            "sequences": sequences,
            "ttft_s": round(ttft, 4),
            "total_s": round(total, 3),
            "tokens_out": written,
            "decode_tokens_per_s": round(sequences * (tokens - 1) / decode_s, 3),
        }

    def close(self) -> None:
        """Free the batch, the context and the model."""
        lc = self._lc
        if self.batch is not None:
            lc.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx:
            lc.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            lc.llama_model_free(self.model)
            self.model = None
