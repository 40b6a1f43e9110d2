"""Top-k / top-p filtering: the same tokens as transformers' own warpers, without a full sort."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from transformers import TopKLogitsWarper, TopPLogitsWarper  # noqa: E402

from genai.backends import nucleus  # noqa: E402
from genai.backends.nucleus import NucleusSampler, NucleusWarper  # noqa: E402


def reference(scores: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    out = scores.clone()
    if top_k:
        out = TopKLogitsWarper(top_k)(None, out)
    if top_p < 1.0:
        out = TopPLogitsWarper(top_p)(None, out)
    return out


@pytest.mark.parametrize(("top_k", "top_p"), [(0, 0.9), (0, 0.5), (40, 0.9), (40, 1.0), (5, 0.99), (0, 1.0)])
@pytest.mark.parametrize("temperature", [0.3, 1.0, 3.0])
def test_keeps_exactly_the_tokens_transformers_keeps(top_k: int, top_p: float, temperature: float) -> None:
    generator = torch.Generator().manual_seed(int(temperature * 10) + top_k)
    scores = torch.randn(6, 5000, generator=generator) * 4 / temperature
    scores[2, 100:] = float("-inf")  # a row the schema mask already cut down
    got = NucleusWarper(top_k, top_p)(None, scores)
    expected = reference(scores, top_k, top_p)
    assert torch.equal(torch.isfinite(got), torch.isfinite(expected))
    assert torch.equal(got[torch.isfinite(got)], scores[torch.isfinite(got)])


def test_a_flat_distribution_widens_the_search_until_the_nucleus_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nucleus, "FIRST_K", 4)
    widths: list[int] = []
    real_topk = torch.topk

    def spy(scores: torch.Tensor, k: int, **kwargs: object) -> object:
        widths.append(k)
        return real_topk(scores, k, **kwargs)

    monkeypatch.setattr(torch, "topk", spy)
    scores = torch.rand(2, 1000, generator=torch.Generator().manual_seed(3)) * 0.01  # no ties
    scores[0, 0] = 50.0  # one row is peaked, the other flat: the flat one needs most of the vocabulary
    got = NucleusWarper(0, 0.9)(None, scores)
    assert widths == [4, 16, 64, 256, 1000]
    assert torch.isfinite(got[0]).sum() == 1
    assert torch.equal(torch.isfinite(got), torch.isfinite(reference(scores, 0, 0.9)))


@pytest.mark.parametrize(("top_k", "top_p"), [(-1, 0.9), (0, 0.0), (0, 1.5)])
def test_bad_settings_are_refused(top_k: int, top_p: float) -> None:
    with pytest.raises(ValueError):
        NucleusWarper(top_k, top_p)


@pytest.mark.parametrize(("top_k", "top_p"), [(0, 0.8), (3, 1.0), (0, 1.0)])
def test_the_sampler_draws_from_the_kept_tokens_in_proportion(top_k: int, top_p: float) -> None:
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -1.0, -3.0, float("-inf")]])
    kept = torch.isfinite(reference(logits, top_k, top_p))[0]
    expected = torch.softmax(logits[0].masked_fill(~kept, float("-inf")), dim=-1)
    sampler = NucleusSampler(top_k, top_p)
    torch.manual_seed(0)
    draws = 20_000
    counts = torch.zeros(8)
    for _ in range(draws // 100):
        out = sampler(None, logits.expand(100, 8).clone())
        assert torch.equal((out == 0).sum(dim=-1), torch.ones(100, dtype=torch.long))  # one token a row
        assert torch.isinf(out).sum() == 100 * 7
        counts += (out == 0).sum(dim=0)
    assert counts[~kept].sum() == 0
    # within 4 standard errors of the expected share, token by token
    share = counts / draws
    tolerance = 4 * torch.sqrt(expected * (1 - expected) / draws) + 1e-9
    assert torch.all((share - expected).abs() <= tolerance), (share, expected)


def test_the_sampler_is_reproducible_under_a_seed() -> None:
    scores = torch.randn(4, 3000, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    first = NucleusSampler(0, 0.9)(None, scores).argmax(-1)
    torch.manual_seed(5)
    again = NucleusSampler(0, 0.9)(None, scores).argmax(-1)
    assert torch.equal(first, again)


def test_the_log_probability_recorder_scores_the_pick_under_the_raw_distribution() -> None:
    from genai.backends.logprobs import TokenLogprobs

    record = TokenLogprobs()
    raw = torch.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]])
    masked = record.first(None, raw)
    masked[0, 2] = float("-inf")  # a mask downstream changes its copy, never the raw scores
    record.last(None, masked)  # row 0 picks token 1, row 1 token 0
    expected = torch.log_softmax(raw, dim=-1)
    assert record.mean(0, 1) == pytest.approx(float(expected[0, 1]), abs=1e-6)
    assert record.mean(1, 1) == pytest.approx(float(expected[1, 0]), abs=1e-6)
    assert record.mean(0, 0) is None
