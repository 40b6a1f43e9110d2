"""A tiny, randomly initialised Gemma 3 checkpoint built in-process, so backend tests need no download.

The tokenizer is a small BPE trained on an in-test corpus with a SentencePiece-style
word marker (U+2581), like Gemma's, and with the JSON punctuation as tokens of their own.
The model's weights are random except that the stop tokens can never be sampled on their
own: every request without a schema runs to `max_tokens`, so tests of the "length" path
are exact, and only schema-guided decoding (which forces the end of sequence) stops early.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "build_tiny_model",
    "gemma",
    "single_torch_thread",
    "tiny_model_dir",
]

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
_VOCAB_SIZE = 320

_CORPUS = [
    '{"subject": "Warm candles for cold nights", "body": ["Hand-poured in small batches.", "Shop now."]}',
    '{"headline": "Fresh spring tea", "tags": ["green", "calm"], "cta_label": "Shop the sale"}',
    "Our candles are hand-poured from soy wax and burn slowly through the long winter evenings.",
    "Take 20% off your first order this week, and find the scent that feels like home.",
    "You ride more than most, so a quick tune-up keeps your bike safe all season long.",
    "Brand: Green Leaf Tea. Voice: calm, friendly. Offer: 15% off. Audience: new subscribers.",
    "Write one short marketing email: subject, preheader, headline, body and a call to action.",
]

_BUILT: dict[str, Path] = {}


def _train_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    # Punctuation split off first, so '"', '{', ':' ... are whole tokens and never merge into words.
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Punctuation(behavior="isolated"),
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never"),
        ]
    )
    core.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="never")
    alphabet = [ch for ch in string.printable if ch.isprintable() and ch != " "] + ["\u2581"]
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, initial_alphabet=alphabet, show_progress=False
    )
    core.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        extra_special_tokens=["<start_of_turn>", "<end_of_turn>"],
        model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(path: Path) -> Path:
    """Save a tiny random Gemma3ForCausalLM and its tokenizer into `path`; returns `path`."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = _train_tokenizer()
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        max_position_embeddings=2048,
        sliding_window=128,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=ids["<pad>"],
        eos_token_id=ids["<eos>"],
        bos_token_id=ids["<bos>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(config)
    with torch.no_grad():
        # Dimension 0 of every embedding is a large constant, so the final hidden state is
        # positive there; a very negative output weight on it keeps the stop tokens unsampled.
        model.model.embed_tokens.weight[:, 0] = 1.0
        for tok in ("<eos>", "<end_of_turn>", "<pad>"):
            model.lm_head.weight[ids[tok]] = 0.0
            model.lm_head.weight[ids[tok], 0] = -50.0
    model.generation_config.pad_token_id = ids["<pad>"]
    model.generation_config.eos_token_id = ids["<eos>"]
    model.generation_config.bos_token_id = ids["<bos>"]
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def tiny_model_dir(factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint's folder, built once per test run."""
    if "path" not in _BUILT:
        _BUILT["path"] = build_tiny_model(factory.mktemp("tiny-gemma3"))
    return _BUILT["path"]


@contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run torch on one thread: a model this small gains nothing from more and a busy machine loses a lot."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


PAD, EOS = 0, 1


def gemma(window: int = 4, **overrides: Any) -> Any:
    """A random Gemma 3 with a short sliding window, so that prompts run past it."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    options: dict[str, Any] = {
        "vocab_size": 96,
        "hidden_size": 32,
        "intermediate_size": 48,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "query_pre_attn_scalar": 12,  # a scale that is not a power of two
        "max_position_embeddings": 256,
        "sliding_window": window,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
        "pad_token_id": PAD,
        "eos_token_id": EOS,
        "bos_token_id": 2,
    }
    options.update(overrides)
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(Gemma3TextConfig(**options)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:  # norms start at zero weights: give them something to get wrong
                p.normal_(0.0, 0.3)
    return model
