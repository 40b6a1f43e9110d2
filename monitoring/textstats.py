"""Text descriptors, edit distances and embeddings of generated emails, computed here.

Evidently's own text descriptors that need nltk data or a hub model cannot run offline, so the
descriptors the drift report watches are computed with vectorised string operations, and the
embeddings come from the project's own embedding model (all-MiniLM-L6-v2, shipped as a package).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genai.embed import Embedder

__all__ = [
    "DESCRIPTORS",
    "EmbeddingCache",
    "edit_distance",
    "embed_texts",
    "text_descriptors",
]

DESCRIPTORS = ("chars", "words", "exclamation_ratio", "caps_ratio")
_WORD = re.compile(r"\S+")


def text_descriptors(texts: pd.Series, prefix: str) -> pd.DataFrame:
    """Length in characters and words, exclamation marks per word and the share of capital letters.

    Columns are named ``{prefix}_{descriptor}``; missing text counts as empty. Ratios of empty text
    are 0, so they stay comparable between windows.
    """
    clean = texts.fillna("").astype("string[pyarrow]")
    chars = clean.str.len().astype("float64").to_numpy()
    words = clean.str.count(r"\S+").astype("float64").to_numpy()
    exclamations = clean.str.count("!").astype("float64").to_numpy()
    capitals = clean.str.count(r"[A-Z]").astype("float64").to_numpy()
    letters = clean.str.count(r"[A-Za-z]").astype("float64").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        exclamation_ratio = np.where(words > 0, exclamations / words, 0.0)
        caps_ratio = np.where(letters > 0, capitals / letters, 0.0)
    return pd.DataFrame(
        {
            f"{prefix}_chars": chars,
            f"{prefix}_words": words,
            f"{prefix}_exclamation_ratio": exclamation_ratio,
            f"{prefix}_caps_ratio": caps_ratio,
        },
        index=texts.index,
    )


def edit_distance(original: str, edited: str) -> float:
    """Word-level Levenshtein distance divided by the longer text's word count (0 same, 1 rewritten)."""
    vocabulary: dict[str, int] = {}
    a = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in _WORD.findall(original)], dtype=np.int64)
    b = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in _WORD.findall(edited)], dtype=np.int64)
    longest = max(len(a), len(b))
    if longest == 0:
        return 0.0
    if len(a) == 0 or len(b) == 0:
        return 1.0
    columns = np.arange(len(b) + 1, dtype=np.int64)
    row = columns.copy()
    for i, token in enumerate(a, start=1):
        substitute = row[:-1] + (b != token)
        delete = row[1:] + 1
        best = np.empty_like(row)
        best[0] = i
        best[1:] = np.minimum(substitute, delete)
        # Insertions chain along the row: best[j] = min over k <= j of best[k] + (j - k).
        row = np.minimum.accumulate(best - columns) + columns
    return float(row[-1]) / longest


class EmbeddingCache:
    """Embeddings by text for one model, kept in memory and optionally in a ``.npz`` file.

    Consecutive runs share most of their reference window, so most texts were embedded before.
    The oldest entries go first once `max_entries` is reached.
    """

    def __init__(self, model_name: str, path: Path | None = None, max_entries: int = 200_000) -> None:
        self.model_name = model_name
        self.path = path
        self.max_entries = max_entries
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._dirty = False
        if path is not None and path.exists():
            self._load(path)

    def __len__(self) -> int:
        return len(self._vectors)

    @staticmethod
    def key(text: str) -> str:
        """The cache key of a text."""
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def get(self, text: str) -> np.ndarray | None:
        """The stored vector of `text`, or None."""
        return self._vectors.get(self.key(text))

    def put(self, text: str, vector: np.ndarray) -> None:
        """Store the vector of `text`."""
        self._vectors[self.key(text)] = np.asarray(vector, dtype=np.float32)
        self._dirty = True
        while len(self._vectors) > self.max_entries:
            self._vectors.popitem(last=False)

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["model"]) != self.model_name:
                    return
                for key, vector in zip(data["keys"].tolist(), data["vectors"], strict=True):
                    self._vectors[str(key)] = vector.astype(np.float32)
        except (OSError, KeyError, ValueError):
            # A damaged cache only costs time: start afresh.
            self._vectors.clear()

    def save(self) -> None:
        """Write the cache to its file, when it has one and something changed."""
        if self.path is None or not self._dirty or not self._vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial.npz")
        np.savez(
            partial,
            model=np.array(self.model_name),
            keys=np.array(list(self._vectors.keys())),
            vectors=np.stack(list(self._vectors.values())).astype(np.float16),
        )
        partial.replace(self.path)
        self._dirty = False


def embed_texts(texts: Sequence[str], embedder: Embedder, cache: EmbeddingCache | None = None) -> np.ndarray:
    """Unit vectors of `texts`, embedding each distinct text once and reusing cached vectors."""
    unique = list(dict.fromkeys(texts))
    vectors: dict[str, np.ndarray] = {}
    missing: list[str] = []
    for text in unique:
        found = cache.get(text) if cache is not None else None
        if found is None:
            missing.append(text)
        else:
            vectors[text] = found
    if missing:
        encoded = embedder.encode(missing)
        for text, vector in zip(missing, encoded, strict=True):
            vectors[text] = np.asarray(vector, dtype=np.float32)
            if cache is not None:
                cache.put(text, vector)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([vectors[text] for text in texts]).astype(np.float32)
