"""Choose the variants to show: drop blocked and near-duplicate drafts, rank the rest.

Score = voice similarity (cosine of the draft to the brand's description and voice, 0..1)
+ 0.3 x brief coverage (share of the goal's, offer's and rules' words the copy uses, 0..1)
+ 0.1 x fluency (the model's mean token log-probability, mapped to 0..1, when it reports one)
+ `reward_weight` x the workspace's reward model's chance of acceptance (0..1, learned from its
marketers' verdicts, `genai.reward`), when one is given
- 0.05 for each gate warning. A draft with a warning never outranks a clean one: drafts are
ordered clean first, then by score. Near-duplicates are drafts whose embedding has cosine
similarity >= `dup_threshold` with a better-ranked draft already kept, or whose subject is
that draft's subject in other words (`SAME_SUBJECT` of their words shared): variants are there
to be tested against each other, and the subject is what a test compares first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from genai.brand import BrandKit
from genai.brief import Brief
from genai.campaign import GateResult
from genai.draft import EmailDraft
from genai.embed import Embedder, cosine_matrix
from genai.gates import coverage
from genai.gates.text import word_overlap
from genai.reward import RewardScorer

__all__ = [
    "COVERAGE_WEIGHT",
    "FLUENCY_WEIGHT",
    "WARNING_PENALTY",
    "Scored",
    "brand_reference_text",
    "select_drafts",
]

WARNING_PENALTY = 0.05
SAME_SUBJECT = 0.8  # share of words (Jaccard) past which two subjects are one
COVERAGE_WEIGHT = 0.3
FLUENCY_WEIGHT = 0.1


@dataclass
class Scored:
    """A candidate draft with its gate results, score and reasons."""

    index: int  # position among the candidates given
    draft: EmailDraft
    gates: list[GateResult]
    score: float = 0.0
    voice_similarity: float = 0.0
    reasons: list[str] | None = None
    dropped: str | None = None  # why it was not selected
    fluency: float | None = None  # mean token log-probability, if the backend reported it
    warned: bool = False
    trimmed: list[str] = field(default_factory=list)  # body sentences dropped before gating, and why
    reward: float | None = None  # the reward model's chance of acceptance, when one ranked it


def brand_reference_text(brand: BrandKit) -> str:
    """The text a draft's voice is compared with."""
    parts = [brand.name, brand.tagline, brand.description]
    if brand.voice:
        parts.append("Voice: " + ", ".join(brand.voice))
    return ". ".join(p for p in parts if p)


def select_drafts(
    candidates: list[Scored],
    brand: BrandKit,
    embedder: Embedder,
    n: int,
    dup_threshold: float = 0.92,
    brief: Brief | None = None,
    reward: RewardScorer | None = None,
    reward_weight: float = 1.0,
) -> tuple[list[Scored], list[Scored]]:
    """Return (the best n, everything dropped with the reason)."""
    dropped: list[Scored] = []
    passing: list[Scored] = []
    for cand in candidates:
        blocking = [g for g in cand.gates if g.blocks]
        if blocking:
            cand.dropped = "blocked by " + ", ".join(g.gate_id for g in blocking)
            dropped.append(cand)
        else:
            passing.append(cand)
    if not passing:
        return [], dropped
    vectors = embedder.encode([c.draft.full_text() for c in passing])
    reference = embedder.encode([brand_reference_text(brand)])
    similarity = cosine_matrix(vectors, reference)[:, 0]
    rewards: list[float | None] = [None] * len(passing)
    if reward is not None and brief is not None and reward_weight:
        products = [p.name for p in brand.products]
        # the same text and embedder as the voice similarity: its vectors are reused, not recomputed
        known = vectors if reward.embedder_name == embedder.name else None
        rewards = list(reward.score([c.draft for c in passing], brief, products, known))
    for cand, sim, accept in zip(passing, similarity, rewards, strict=True):
        warns = [g.gate_id for g in cand.gates if not g.passed and g.severity == "warn"]
        cand.voice_similarity = float(sim)
        cand.warned = bool(warns)
        score = float(sim) - WARNING_PENALTY * len(warns)
        cand.reasons = [f"voice similarity {sim:.2f}"]
        if brief is not None:
            covered = coverage(cand.draft, brief)
            score += COVERAGE_WEIGHT * covered
            cand.reasons.append(f"brief coverage {covered:.2f}")
        if cand.fluency is not None:
            fluent = math.exp(max(cand.fluency, -5.0) / 2)  # 0 nats -> 1.0, -2 nats -> 0.37
            score += FLUENCY_WEIGHT * fluent
            cand.reasons.append(f"fluency {cand.fluency:.2f}")
        if accept is not None and reward is not None:
            cand.reward = accept
            score += reward_weight * accept
            cand.reasons.append(f"reward {accept:.2f} (reward model {reward.version})")
        cand.score = round(score, 4)
        cand.reasons += [f"warning: {w}" for w in warns]
        cand.reasons += [f"trimmed: {t}" for t in cand.trimmed]
    order = sorted(
        range(len(passing)), key=lambda i: (passing[i].warned, -passing[i].score, passing[i].index)
    )
    pairwise = cosine_matrix(vectors, vectors)
    kept: list[int] = []
    for i in order:
        twin = next((k for k in kept if pairwise[i, k] >= dup_threshold), None)
        subject = passing[i].draft.subject
        overlaps = [(k, word_overlap(subject, passing[k].draft.subject)) for k in kept]
        same = next((k for k, share in overlaps if share >= SAME_SUBJECT), None)
        if twin is not None:
            passing[
                i
            ].dropped = f"near-duplicate of candidate {passing[twin].index} (cosine {pairwise[i, twin]:.2f})"
            dropped.append(passing[i])
        elif same is not None:
            passing[i].dropped = f"the subject of candidate {passing[same].index} in other words"
            dropped.append(passing[i])
        elif len(kept) < n:
            kept.append(i)
        else:
            passing[i].dropped = "ranked below the top n"
            dropped.append(passing[i])
    return [passing[i] for i in kept], dropped
