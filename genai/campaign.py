"""What the pipeline returns: variants per segment with their lineage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from genai.draft import EmailDraft

__all__ = ["CampaignDraft", "GateResult", "Lineage", "Variant"]


@dataclass
class GateResult:
    """The verdict of one quality gate on one draft."""

    gate_id: str
    severity: str  # "block" or "warn"
    passed: bool
    message: str
    evidence: list[str] = field(default_factory=list)

    @property
    def blocks(self) -> bool:
        """True when this result stops the draft from being used."""
        return not self.passed and self.severity == "block"


@dataclass
class Lineage:
    """Everything needed to say how a variant was made and to reproduce it."""

    backend: str
    model_id: str
    checkpoint_sha256: str | None
    prompt_name: str
    prompt_version: str
    prompt_sha256: str
    seed: int | None
    sampling: dict[str, Any]
    tokens_in: int
    tokens_out: int
    ttft_s: float | None
    latency_s: float
    finish_reason: str | None
    attempts: int = 1
    # which of the request's candidates this was: with `seed`, names its draws (candidate j of a
    # request seeded s samples from (s, j) in the transformers backend)
    candidate: int = 0
    adapter: str | None = None  # the LoRA adapter the model wrote with, if any
    adapter_sha256: str | None = None


@dataclass
class Variant:
    """One accepted candidate for one segment."""

    id: str
    segment: str
    rank: int
    draft: EmailDraft
    score: float
    reasons: list[str]
    gates: list[GateResult]
    lineage: Lineage
    html: str = ""
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the rendered HTML and text)."""
        data = asdict(self)
        data.pop("html")
        data.pop("text")
        return data


@dataclass
class CampaignDraft:
    """The pipeline's answer to a brief: variants per segment."""

    brand: str
    goal: str
    variants: dict[str, list[Variant]]
    rejected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready manifest of the campaign."""
        return {
            "brand": self.brand,
            "goal": self.goal,
            "variants": {seg: [v.to_dict() for v in vs] for seg, vs in self.variants.items()},
            "rejected": self.rejected,
            "stats": self.stats,
        }
