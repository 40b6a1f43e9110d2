"""Top-k and top-p (nucleus) filtering without sorting the whole vocabulary.

Transformers' top-p warper sorts every row of the logits at every step: for Gemma's 262k-token
vocabulary that is about 23 ms per row on two cores, more than the rest of a decode step at
batch 16. The nucleus is the smallest set of most likely tokens whose probabilities reach `top_p`;
it lies inside the `k` most likely tokens as soon as those hold `top_p` of the mass. So this warper
takes `torch.topk` with a small `k`, checks the mass, and widens `k` only for rows that need it.
The kept tokens are exactly those that a top-k warper followed by transformers' top-p warper keeps
(a token survives when the probability of the tokens ranked above it is below `top_p`).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["NucleusSampler", "NucleusWarper"]

FIRST_K = 64


class NucleusWarper:
    """A logits processor that keeps the `top_k` most likely tokens (0: all) and then the `top_p` nucleus."""

    def __init__(self, top_k: int = 0, top_p: float = 1.0) -> None:
        if top_k < 0:
            raise ValueError("top_k must be 0 (off) or positive")
        if not 0.0 < top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        self.top_k = top_k
        self.top_p = top_p

    def __call__(self, input_ids: Any, scores: torch.Tensor) -> torch.Tensor:
        found = self.candidates(scores)
        return scores if found is None else _keep(scores, *found)

    def candidates(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Each row's most likely tokens (values, indices) and which of them to keep; None: keep all."""
        vocab = scores.shape[-1]
        limit = min(self.top_k, vocab) if self.top_k else vocab
        if self.top_p >= 1.0:
            if limit == vocab:
                return None
            values, indices = torch.topk(scores, limit, dim=-1)
            return values, indices, torch.ones_like(values, dtype=torch.bool)
        if limit < vocab:
            # after a top-k cut the distribution is renormalised over those k tokens
            values, indices = torch.topk(scores, limit, dim=-1)
            probs = torch.softmax(values, dim=-1)
            above = torch.cumsum(probs, dim=-1) - probs
        else:
            log_total = torch.logsumexp(scores, dim=-1, keepdim=True)
            k = min(FIRST_K, vocab)
            while True:
                values, indices = torch.topk(scores, k, dim=-1)
                probs = torch.exp(values - log_total)
                above = torch.cumsum(probs, dim=-1) - probs
                if k == vocab or bool((above[:, -1] + probs[:, -1] >= self.top_p).all()):
                    break
                k = min(k * 4, vocab)
        keep = above < self.top_p
        keep[:, 0] = True
        return values, indices, keep


class NucleusSampler(NucleusWarper):
    """`NucleusWarper` that also draws the next token, among the kept ones only.

    Transformers samples with `torch.multinomial` over the whole vocabulary, which draws one random
    number per token: 262k per row and step, about 86 ms a step at 16 rows here. Drawing among the
    few kept tokens gives the same distribution. The returned scores are 0 for the drawn token and
    -inf elsewhere, so `generate` runs greedy (``do_sample=False``) and takes exactly that token.
    With `generators` (one per row) each row draws from its own; otherwise from torch's global one.
    """

    def __init__(
        self, top_k: int = 0, top_p: float = 1.0, generators: list[torch.Generator] | None = None
    ) -> None:
        super().__init__(top_k, top_p)
        self.generators = generators

    def __call__(self, input_ids: Any, scores: torch.Tensor) -> torch.Tensor:
        found = self.candidates(scores)
        if found is None:
            probs = torch.softmax(scores.float(), dim=-1)
            token = self._draw(probs)
        else:
            values, indices, keep = found
            probs = torch.softmax(values.float().masked_fill(~keep, float("-inf")), dim=-1)
            token = indices.gather(-1, self._draw(probs))
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(-1, token, 0.0)

    def _draw(self, probs: torch.Tensor) -> torch.Tensor:
        if self.generators is None:
            return torch.multinomial(probs, 1)
        # one generator a row: a request draws the same tokens whatever it is batched with
        rows = [torch.multinomial(p, 1, generator=g) for p, g in zip(probs, self.generators, strict=True)]
        return torch.stack(rows)


def _keep(
    scores: torch.Tensor, values: torch.Tensor, indices: torch.Tensor, keep: torch.Tensor
) -> torch.Tensor:
    out = torch.full_like(scores, float("-inf"))
    return out.scatter(-1, indices, values.masked_fill(~keep, float("-inf")))
