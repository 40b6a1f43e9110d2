"""Text descriptors, edit distances and cached embeddings, computed without any download."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genai.embed import HashingEmbedder
from monitoring.textstats import EmbeddingCache, edit_distance, embed_texts, text_descriptors


def test_descriptors_count_characters_words_exclamations_and_capitals() -> None:
    frame = text_descriptors(pd.Series(["Hello World!", "SALE NOW!!! Buy", "", None]), "subject")
    first = frame.iloc[0]
    assert first["subject_chars"] == 12
    assert first["subject_words"] == 2
    assert first["subject_exclamation_ratio"] == pytest.approx(0.5)
    assert first["subject_caps_ratio"] == pytest.approx(2 / 10)
    shouty = frame.iloc[1]
    assert shouty["subject_exclamation_ratio"] == pytest.approx(1.0)
    assert shouty["subject_caps_ratio"] == pytest.approx(8 / 10)


def test_empty_and_missing_text_give_zero_ratios_not_nan() -> None:
    frame = text_descriptors(pd.Series(["", None]), "body")
    assert frame.to_numpy().tolist() == [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]


def test_descriptors_keep_the_index_of_their_input() -> None:
    texts = pd.Series(["a", "b"], index=[10, 20])
    assert list(text_descriptors(texts, "x").index) == [10, 20]


@pytest.mark.parametrize(
    ("original", "edited", "expected"),
    [
        ("warm cozy candles", "warm cozy candles", 0.0),
        ("warm cozy candles", "warm soft candles", 1 / 3),
        ("warm cozy candles", "warm candles", 1 / 3),
        ("warm candles", "warm cozy candles", 1 / 3),
        ("a b c d", "w x y z", 1.0),
        ("", "", 0.0),
        ("", "new text", 1.0),
        ("one two three four", "two three four one", 0.5),
    ],
)
def test_edit_distance_is_word_levenshtein_over_the_longer_text(
    original: str, edited: str, expected: float
) -> None:
    assert edit_distance(original, edited) == pytest.approx(expected)


class CountingEmbedder:
    """Records what it was asked to embed."""

    name = "counting"

    def __init__(self) -> None:
        self.inner = HashingEmbedder(dim=16)
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts)


def test_each_distinct_text_is_embedded_once() -> None:
    embedder = CountingEmbedder()
    vectors = embed_texts(["a b", "c", "a b"], embedder)
    assert embedder.calls == [["a b", "c"]]
    assert vectors.shape == (3, 16)
    assert np.array_equal(vectors[0], vectors[2])


def test_cached_texts_are_not_embedded_again() -> None:
    embedder = CountingEmbedder()
    cache = EmbeddingCache(embedder.name)
    embed_texts(["a b", "c"], embedder, cache)
    embed_texts(["c", "d"], embedder, cache)
    assert embedder.calls == [["a b", "c"], ["d"]]


def test_cache_survives_a_save_and_load(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    path = tmp_path / "cache.npz"
    cache = EmbeddingCache(embedder.name, path)
    first = embed_texts(["hello there"], embedder, cache)
    cache.save()
    reloaded = EmbeddingCache(embedder.name, path)
    assert len(reloaded) == 1
    second = embed_texts(["hello there"], embedder, reloaded)
    assert embedder.calls == [["hello there"]]
    assert np.allclose(first, second, atol=1e-3)


def test_cache_of_another_model_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "cache.npz"
    cache = EmbeddingCache("model-a", path)
    cache.put("text", np.ones(4))
    cache.save()
    assert len(EmbeddingCache("model-b", path)) == 0


def test_cache_forgets_the_oldest_entries_past_its_size() -> None:
    cache = EmbeddingCache("m", max_entries=2)
    for text in ("a", "b", "c"):
        cache.put(text, np.ones(2))
    assert cache.get("a") is None
    assert cache.get("c") is not None
