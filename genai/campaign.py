"""What the pipeline returns: variants per segment with their lineage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from genai.draft import EmailDraft

__all__ = ["CampaignDraft", "GateResult", "GenerationStats", "Lineage", "Variant"]


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
    reward_model: str | None = None  # the reward model that took part in its ranking, if any
    # its backend call's decode time per output token (`GenerationResult.time_per_output_token`)
    time_per_output_token_s: float | None = None


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


@dataclass(frozen=True)
class GenerationStats:
    """What a generation cost and what it dropped; written by the pipeline, read by the catalog
    (stored with the request) and by monitoring (block rates, queue time)."""

    candidates: int = 0  # drafts the backend returned, over all segments and rounds
    blocked: int = 0  # of those, dropped by a blocking gate
    blocked_by: dict[str, int] = field(default_factory=dict)  # gate id -> drafts it blocked
    queue_s: float = 0.0  # the longest wait in the backend's queue
    parse_failures: int = 0
    seconds: float = 0.0
    shortfall: dict[str, int] = field(default_factory=dict)  # segment -> variants missing
    shortfall_reasons: dict[str, str] = field(default_factory=dict)  # segment -> why
    warned: dict[str, int] = field(default_factory=dict)  # segment -> variants returned with a warning
    warned_reasons: dict[str, str] = field(default_factory=dict)  # segment -> which warnings, and why
    embedder: str | None = None
    seed: int | None = None
    reward_model: str | None = None  # the reward model the ranking used
    reward_note: str | None = None  # why no reward model was used, when none was
    # how the prompt version was chosen, when several are live: the arm, its propensity, all weights
    prompt_arm: dict[str, Any] | None = None
    # likewise for the adapter, when several are live and the request named none
    adapter_arm: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> GenerationStats:
        """Read stored stats back; unknown keys are ignored, missing or malformed ones take defaults."""
        if not isinstance(data, dict):
            return cls()

        def counts(key: str) -> dict[str, int]:
            found = data.get(key)
            return {str(k): int(_number(v)) for k, v in found.items()} if isinstance(found, dict) else {}

        def texts(key: str) -> dict[str, str]:
            found = data.get(key)
            return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

        seed, embedder = data.get("seed"), data.get("embedder")
        reward_model, reward_note, arm, adapter_arm = (
            data.get("reward_model"),
            data.get("reward_note"),
            data.get("prompt_arm"),
            data.get("adapter_arm"),
        )
        return cls(
            candidates=int(_number(data.get("candidates"))),
            blocked=int(_number(data.get("blocked"))),
            blocked_by=counts("blocked_by"),
            queue_s=_number(data.get("queue_s")),
            parse_failures=int(_number(data.get("parse_failures"))),
            seconds=_number(data.get("seconds")),
            shortfall=counts("shortfall"),
            shortfall_reasons=texts("shortfall_reasons"),
            warned=counts("warned"),
            warned_reasons=texts("warned_reasons"),
            embedder=embedder if isinstance(embedder, str) else None,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            reward_model=reward_model if isinstance(reward_model, str) else None,
            reward_note=reward_note if isinstance(reward_note, str) else None,
            prompt_arm=arm if isinstance(arm, dict) else None,
            adapter_arm=adapter_arm if isinstance(adapter_arm, dict) else None,
        )


def _number(value: Any) -> float:
    """A stored count or duration; anything else (a bool, text, null) reads as 0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


@dataclass
class CampaignDraft:
    """The pipeline's answer to a brief: variants per segment."""

    brand: str
    goal: str
    variants: dict[str, list[Variant]]
    rejected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stats: GenerationStats = field(default_factory=GenerationStats)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready manifest of the campaign."""
        return {
            "brand": self.brand,
            "goal": self.goal,
            "variants": {seg: [v.to_dict() for v in vs] for seg, vs in self.variants.items()},
            "rejected": self.rejected,
            "stats": self.stats.to_dict(),
        }
