"""The model's own log-likelihood of the tokens it wrote, recorded during decoding.

A pair of logits processors around the others: `before` runs first and keeps the model's raw
scores (the ones the schema mask and the samplers change next); `after` runs last, sees which
token the step picks (the highest final score, as both decoders take it) and records that token's
log-probability under the raw distribution. `mean(row, n)` is the length-normalised likelihood of
a row's first `n` tokens: the fluency a ranker compares candidates by.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["TokenLogprobs"]


class _Step:
    """One of the recorder's two ends, as a logits processor object."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def __call__(self, input_ids: Any, scores: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self._fn(input_ids, scores)
        return out


class TokenLogprobs:
    """Per-step, per-row log-probabilities of the picked tokens."""

    def __init__(self) -> None:
        self._raw: torch.Tensor | None = None
        self._log_total: torch.Tensor | None = None
        self._steps: list[torch.Tensor] = []
        self._stacked: torch.Tensor | None = None
        self.first = _Step(self.before)
        self.last = _Step(self.after)

    def before(self, input_ids: Any, scores: torch.Tensor) -> torch.Tensor:
        """Keep the raw scores; hand on a copy for the processors that mask in place."""
        self._raw = scores
        self._log_total = torch.logsumexp(scores.float(), dim=-1)
        copy: torch.Tensor = scores.clone()
        return copy

    def after(self, input_ids: Any, scores: torch.Tensor) -> torch.Tensor:
        """Record the log-probability of each row's pick; the scores pass unchanged."""
        if self._raw is None or self._log_total is None:
            raise RuntimeError("TokenLogprobs.after ran without before")
        picked = scores.argmax(dim=-1, keepdim=True)
        raw = self._raw.float().gather(-1, picked).squeeze(-1)
        self._steps.append(raw - self._log_total)
        self._stacked = None
        self._raw = self._log_total = None
        return scores

    def mean(self, row: int, n: int) -> float | None:
        """The mean log-probability of the row's first `n` picks; None when nothing was recorded."""
        n = min(n, len(self._steps))
        if n <= 0:
            return None
        if self._stacked is None:
            self._stacked = torch.stack(self._steps)  # [steps, rows]
        return float(self._stacked[:n, row].mean())
