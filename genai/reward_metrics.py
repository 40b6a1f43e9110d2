"""What every kind of reward model shares: the checks on its training set, the held-out split by
group, and the held-out figures (AUC, pairwise accuracy within a group, log-loss).

A group is the generation request and segment the drafts were written for: a group is held out
whole, so no prompt has drafts on both sides of the split, and pairwise accuracy compares only
drafts written for the same prompt (how often the accepted one scores above the rejected one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from genai.errors import InvalidInputError

__all__ = [
    "MIN_LABELLED",
    "auc",
    "check_trainable",
    "held_out_figures",
    "held_out_mask",
    "log_loss",
    "pairwise_accuracy",
]

MIN_LABELLED = 50  # labelled drafts below which a reward model is not trained


def check_trainable(labels: np.ndarray) -> None:
    """Refuse a training set too small or with one verdict only (`InvalidInputError`, field `feedback`)."""
    if len(labels) < MIN_LABELLED:
        raise InvalidInputError(
            f"{len(labels)} labelled drafts, at least {MIN_LABELLED} are needed", field="feedback"
        )
    if labels.min() == labels.max():
        raise InvalidInputError(
            "every labelled draft has the same verdict: nothing to learn", field="feedback"
        )


def held_out_mask(groups: Sequence[str], holdout: float, seed: int) -> np.ndarray:
    """True for the examples whose group is held out: `holdout` of the groups (at least one), by `seed`."""
    rng = np.random.default_rng(seed)
    distinct = sorted(set(groups))
    held = set(rng.choice(distinct, size=max(1, math.ceil(holdout * len(distinct))), replace=False).tolist())
    return np.array([g in held for g in groups])


def log_loss(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """The weighted mean log-loss of chances `p` against labels `y`."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / w.sum())


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """The chance an accepted draft scores above a rejected one (ties count half); None without both."""
    pos, neg = scores[labels >= 0.5], scores[labels < 0.5]
    if not len(pos) or not len(neg):
        return None
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def pairwise_accuracy(
    scores: np.ndarray, labels: np.ndarray, groups: Sequence[str]
) -> tuple[float | None, int]:
    """Within each group, how often an accepted draft scores above a rejected one, and the pairs counted."""
    right = pairs = 0.0
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    for members in by_group.values():
        for i in members:
            for j in members:
                if labels[i] >= 0.5 > labels[j]:
                    pairs += 1
                    right += 1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
    return (right / pairs if pairs else None), int(pairs)


def held_out_figures(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, groups: Sequence[str]
) -> dict[str, Any]:
    """The held-out metrics every reward model reports, of its chances `scores` on the held-out drafts."""
    pairwise, n_pairs = pairwise_accuracy(scores, labels, groups)
    area = auc(scores, labels)
    return {
        "held_out": len(labels),
        "held_out_auc": None if area is None else round(area, 4),
        "held_out_pairwise_accuracy": None if pairwise is None else round(pairwise, 4),
        "held_out_pairs": n_pairs,
        "held_out_log_loss": round(log_loss(scores, labels, weights), 4),
    }
