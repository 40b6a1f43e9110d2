"""The API's request and response models, with the examples the OpenAPI document shows.

Requests refuse unknown fields. Brand kits, briefs, segment traits and single feedback and
outcome events reuse the library's own wire models, so the API and the library validate alike;
batches carry plain objects because each row is validated (and rejected) on its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from genai.brief import Brief, SegmentTraits

__all__ = [
    "ArmOut",
    "ArmResultOut",
    "AssignmentIn",
    "AssignmentOut",
    "BatchOut",
    "BrandCreate",
    "BrandFromUrl",
    "BrandOut",
    "BrandUpdate",
    "ComparisonOut",
    "CompletenessOut",
    "DatasetCreate",
    "DatasetOut",
    "DecisionOut",
    "DraftOut",
    "DraftVariantOut",
    "EraseIn",
    "ErasureOut",
    "EventBatchIn",
    "ExperimentCreate",
    "ExperimentOut",
    "ExperimentResultsOut",
    "FeatureOut",
    "FeedbackOut",
    "GateOut",
    "GenerationCreate",
    "GenerationOptionsIn",
    "GenerationOut",
    "GenerationSummaryOut",
    "HealthOut",
    "ImportReportOut",
    "IssuedKeyOut",
    "KeyCreate",
    "KeyOut",
    "LineageOut",
    "MeOut",
    "PromptArmOut",
    "ReadyOut",
    "RejectedLineOut",
    "RejectedRowOut",
    "RewardModelCreate",
    "RewardModelOut",
    "RfmReportOut",
    "SegmentCreate",
    "SegmentOut",
    "SpineIn",
    "SpineRowIn",
    "SrmOut",
    "StoredEventOut",
    "VariantFeedbackOut",
    "VariantOut",
    "WebhookReportOut",
    "WeightOut",
    "WeightsOut",
]

Id = str


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------- brands

_KIT_EXAMPLE: dict[str, Any] = {
    "name": "Wick & Willow",
    "tagline": "Hand-poured soy candles",
    "description": "Small-batch candles poured by hand for slow, cosy evenings.",
    "voice": ["warm", "calm"],
    "palette": ["#2f4f4f", "#c8a165"],
    "website": "https://wickandwillow.example",
    "allowed_domains": ["wickandwillow.example"],
    "address": "12 Mill Lane, Hebden Bridge HX7 8AD, UK",
}


class BrandCreate(_In):
    """A brand kit as JSON; the brand takes the kit's name."""

    kit: dict[str, Any] = Field(
        description="Brand-kit fields: name (required), tagline, description, voice, palette, fonts, "
        "logo_url, products, website, address, allowed_domains, emails, phones.",
        examples=[_KIT_EXAMPLE],
    )


class BrandFromUrl(_In):
    """The brand's web page, fetched by the server."""

    url: str = Field(min_length=1, max_length=2000, examples=["https://wickandwillow.example/"])


class BrandUpdate(_In):
    """Brand-kit fields to change; the others keep their values. A new name renames the brand."""

    kit: dict[str, Any] = Field(examples=[{"voice": ["warm", "playful"], "address": "1 High St, York"}])


class CompletenessOut(BaseModel):
    """What the brand kit lacks, for the marketer to fill in."""

    missing: list[str]
    warnings: list[str]
    score: float = Field(description="Share of the expected fields that are present, 0 to 1.")
    complete: bool


class BrandOut(BaseModel):
    """A stored brand."""

    id: Id
    name: str
    kit: dict[str, Any] = Field(examples=[_KIT_EXAMPLE])
    completeness: CompletenessOut
    created_at: dt.datetime


# -------------------------------------------------------------------------------------- segments


class SegmentCreate(_In):
    """A named group of contacts."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
    description: str = Field(default="", max_length=500)
    traits: SegmentTraits = Field(default_factory=SegmentTraits)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "high-spenders",
                    "description": "loyal customers who order often",
                    "traits": {"spend_tier": "high", "recency_days": 20, "orders_per_year": 6},
                }
            ]
        },
    )


class SegmentOut(BaseModel):
    """A segment with the member count of its latest computation."""

    id: Id
    name: str
    description: str
    traits: dict[str, Any]
    members: int = Field(description="Contacts in the segment under its latest computation version.")
    version: str | None = Field(description="The latest computation version, if any.")
    created_at: dt.datetime


class RfmReportOut(BaseModel):
    """What an RFM computation from an orders file stored."""

    version: str
    as_of: str
    orders: int
    contacts: int
    members: dict[str, int]
    segments: list[SegmentOut]


# ----------------------------------------------------------------------------------- generations

_BRIEF_EXAMPLE: dict[str, Any] = {
    "goal": "Holiday sale on hand-poured candles",
    "offer": "20% off all candles",
    "cta_url": "https://wickandwillow.example/collections/holiday",
    "variants_per_segment": 2,
    "segments": [
        {
            "name": "high-spenders",
            "description": "loyal customers who order often and spend the most",
            "traits": {"spend_tier": "high", "recency_days": 20, "orders_per_year": 6},
        }
    ],
}


class GenerationOptionsIn(_In):
    """Sampling options; a seed makes the run reproducible on backends that honour it."""

    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, examples=[7])
    # low: the tuned small model writes its best close to its most likely words; variants differ
    # through oversampling, fresh seeds and the one-subject-per-variant rule, not through noise
    temperature: float = Field(default=0.3, ge=0.0, le=2.0)
    top_p: float = Field(default=0.9, gt=0.0, le=1.0)


class GenerationCreate(_In):
    """A brief to generate variants for, with one of the workspace's brands."""

    brand_id: Id = Field(min_length=1, max_length=32)
    brief: Brief
    campaign_name: str | None = Field(default=None, min_length=1, max_length=200)
    options: GenerationOptionsIn = Field(default_factory=GenerationOptionsIn)
    adapter: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="The LoRA adapter to write with, by name: a shipped one, one trained here, or 'none' "
        "for the base model; unset: the server's own. Each variant's lineage names the one used.",
        examples=["email-v1"],
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"brand_id": "5f0c6d3e9a7b4c1d8e2f3a4b5c6d7e8f", "brief": _BRIEF_EXAMPLE}]
        },
    )


class GateOut(BaseModel):
    """One quality gate's verdict on a draft."""

    gate_id: str
    severity: str
    passed: bool
    message: str
    evidence: list[str] = Field(default_factory=list)


class LineageOut(BaseModel):
    """How a variant was made: backend, model, prompt, sampling, tokens and timings."""

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
    attempts: int
    candidate: int = Field(description="Which of its request's candidates it was: with the seed, its draws")
    adapter: str | None = Field(default=None, description="The LoRA adapter the model wrote with, if any.")
    adapter_sha256: str | None = Field(default=None, description="sha256 of the adapter's weights file.")
    reward_model: str | None = Field(
        default=None, description="The workspace's reward model that took part in its ranking, if any."
    )
    time_per_output_token_s: float | None = Field(
        default=None, description="Its backend call's decode time per output token after the first."
    )


class DraftOut(BaseModel):
    """The e-mail's text fields."""

    subject: str
    preheader: str
    headline: str
    body: list[str]
    cta_label: str
    cta_url: str
    greeting: str
    extras: dict[str, Any] = Field(default_factory=dict)


class DraftVariantOut(BaseModel):
    """A variant as the pipeline made it, before it is stored (streamed as soon as it is ready)."""

    pipeline_id: str
    segment: str
    rank: int
    score: float
    reasons: list[str]
    gates: list[GateOut]
    draft: DraftOut
    lineage: LineageOut


class VariantOut(BaseModel):
    """A stored variant with its gates, score and lineage; `links` fetch it rendered."""

    id: Id
    generation_id: Id
    pipeline_id: str | None
    segment: str
    rank: int
    score: float
    reasons: list[Any]
    gates: list[GateOut]
    draft: DraftOut
    lineage: LineageOut
    created_at: dt.datetime
    links: dict[str, str] = Field(examples=[{"html": "/v1/variants/ID/html", "text": "/v1/variants/ID/text"}])


class GenerationSummaryOut(BaseModel):
    """A generation request without its variants."""

    id: Id
    status: str
    brand_id: Id | None
    campaign_id: Id | None
    created_at: dt.datetime
    goal: str | None
    variant_count: int


class GenerationOut(BaseModel):
    """A campaign draft: the brief, the pipeline's counters and the variants per segment."""

    id: Id
    status: str
    brand_id: Id | None
    campaign_id: Id | None
    brief: dict[str, Any]
    stats: dict[str, Any]
    created_at: dt.datetime
    variants: dict[str, list[VariantOut]]


# -------------------------------------------------------------------------------------- events


class EventBatchIn(_In):
    """A batch of events. Each row is checked on its own: a bad row is rejected with its index and
    the good rows are stored, unless `atomic` asks for all or nothing."""

    events: list[dict[str, Any]] = Field(
        min_length=1,
        description="Feedback events (fields of FeedbackEventIn) or outcome events (OutcomeEventIn).",
        examples=[
            [
                {
                    "idempotency_key": "fb-2024-12-01-0001",
                    "variant_id": "0d6c3e9a7b4c1d8e2f3a4b5c6d7e8f90",
                    "kind": "accept",
                    "event_time": "2024-12-01T09:30:00Z",
                    "actor": "maria",
                }
            ]
        ],
    )
    atomic: bool = Field(default=False, description="Store nothing when any row is rejected.")


class StoredEventOut(BaseModel):
    """The stored event's id; `duplicate` when the idempotency key had been seen (nothing stored)."""

    id: int
    duplicate: bool


class RejectedRowOut(BaseModel):
    """A row that was not stored: its index in the batch, the field at fault and why."""

    index: int
    field: str
    reason: str


class BatchOut(BaseModel):
    """A batch's result: counts, the rejected rows, and the stored id of every row (null if rejected)."""

    accepted: int
    duplicates: int
    rejected: list[RejectedRowOut]
    ids: list[int | None]
    suppressed: int = Field(default=0, description="Rows of erased contacts, dropped without error.")


class FeedbackOut(BaseModel):
    """One stored feedback event (free text is stored scrubbed of e-mail addresses and phones)."""

    id: int
    variant_id: Id
    kind: str
    edited_text: str | None
    rating: int | None
    comment: str | None
    actor: str | None
    reason_codes: list[Any]
    event_time: dt.datetime
    ingested_at: dt.datetime


class VariantFeedbackOut(BaseModel):
    """A variant's feedback: counts by kind, the mean rating and the latest events."""

    variant_id: Id
    counts: dict[str, int]
    mean_rating: float | None
    latest_decision: str | None = Field(description="The latest accept or reject, if any.")
    events: list[FeedbackOut]


class RejectedLineOut(BaseModel):
    """A line of an imported file that was not stored (the header is line 1)."""

    line: int
    column: str
    reason: str


class ImportReportOut(BaseModel):
    """What a CSV import stored."""

    rows: int
    accepted: int
    duplicates: int
    rejected: list[RejectedLineOut]
    suppressed: int = Field(default=0, description="Lines of erased contacts, dropped without error.")


class WebhookReportOut(BaseModel):
    """What a webhook delivery stored; event types that are not outcomes are ignored."""

    received: int
    accepted: int
    duplicates: int
    ignored: int
    rejected: list[RejectedRowOut]
    suppressed: int = Field(default=0, description="Events of erased contacts, dropped without error.")


# ---------------------------------------------------------------------------------- experiments

Metric = Literal["open", "click", "conversion", "revenue"]
GuardrailMetric = Literal["open", "click", "conversion", "revenue", "unsubscribe", "bounce", "complaint"]


class ExperimentCreate(_In):
    """An experiment over accepted variants; the first variant is the control."""

    name: str = Field(min_length=1, max_length=200, examples=["holiday subject test"])
    variant_ids: list[Id] = Field(min_length=2, max_length=10)
    weights: list[float] | None = Field(default=None, description="One per variant; equal when omitted.")
    segment_id: Id | None = None
    primary_metric: Metric = "click"
    guardrail_metrics: list[GuardrailMetric] = Field(default_factory=list, max_length=7)
    mode: Literal["fixed", "bandit"] = "fixed"
    start: bool = Field(default=True, description="Start at once (status running) or stay a draft.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "holiday subject test",
                    "variant_ids": ["0d6c3e9a7b4c1d8e2f3a4b5c6d7e8f90", "1e7d4f0b8c5d2e9f3a4b5c6d7e8f9a01"],
                    "primary_metric": "click",
                    "guardrail_metrics": ["unsubscribe"],
                }
            ]
        },
    )


class ArmOut(BaseModel):
    """One arm: its variant, its allocation weight and whether it is the control."""

    id: Id
    variant_id: Id
    position: int
    weight: float
    is_control: bool


class ExperimentOut(BaseModel):
    """A stored experiment with its arms."""

    id: Id
    name: str
    segment_id: Id | None
    primary_metric: str
    guardrail_metrics: list[Any]
    status: str
    mode: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    arms: list[ArmOut]


class AssignmentIn(_In):
    """A contact by external id (e-mail address or customer id); only its HMAC is stored."""

    contact: str = Field(min_length=1, max_length=320, examples=["ann@example.com"])


class AssignmentOut(BaseModel):
    """The arm a contact is in; stable for the life of the experiment."""

    experiment_id: Id
    arm_id: Id
    variant_id: Id
    position: int
    is_control: bool
    assigned_at: dt.datetime
    new: bool = Field(description="True when this call made the assignment.")


class ArmResultOut(BaseModel):
    """An arm's aggregates for one metric (a rate, or revenue per recipient)."""

    arm_id: Id
    variant_id: Id
    is_control: bool
    weight: float
    n: int
    total: float
    mean: float | None


class ComparisonOut(BaseModel):
    """A treatment against the control: lift and interval, plus the engine's own quantities."""

    treatment: Id
    control: Id
    relative: bool
    lift: float | None
    interval: list[float | None]
    chance_to_win: float | None = None
    risk_treatment: float | None = None
    risk_control: float | None = None
    p_value: float | None = None
    standard_error: float | None = None


class SrmOut(BaseModel):
    """The sample-ratio check of arm sizes against the weights."""

    observed: list[int]
    expected: list[float]
    statistic: float | None
    p_value: float
    alarm: bool


class DecisionOut(BaseModel):
    """The winner rule's answer and its reasons."""

    status: Literal["winner", "keep_running", "inconclusive"]
    winner_variant_id: Id | None
    winner_arm_id: Id | None
    reasons: list[str]


class ExperimentResultsOut(BaseModel):
    """Statistics per arm, the comparison of each treatment with control, and the decision."""

    experiment_id: Id
    metric: str
    engine: str
    arms: list[ArmResultOut]
    comparisons: list[ComparisonOut]
    srm: SrmOut
    decision: DecisionOut
    guardrails: dict[str, list[ArmResultOut]]


class WeightOut(BaseModel):
    """An arm's stored weight and its current Thompson-sampling weight."""

    arm_id: Id
    variant_id: Id
    weight: float
    thompson: float


class WeightsOut(BaseModel):
    """Bandit allocation weights (each arm keeps at least the floor)."""

    experiment_id: Id
    mode: str
    metric: str
    floor: float
    arms: list[WeightOut]


# ------------------------------------------------------------------------------------- datasets

# Datasets are built with pandas, whose timestamps span the years 1677 to 2262.
_EARLIEST = dt.datetime(1700, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _plausible(value: dt.datetime) -> dt.datetime:
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError("must be between the years 1700 and 2200")
    return value


DatasetTime = Annotated[AwareDatetime, AfterValidator(_plausible)]


class SpineRowIn(_In):
    """One spine row: a variant at a moment."""

    variant_id: Id = Field(min_length=1, max_length=32)
    ts: DatasetTime


class SpineIn(_In):
    """Which rows the dataset has: each variant when it was created, when it was first sent, or the
    rows given. `start` and `end` bound the times (inclusive)."""

    source: Literal["variants", "sends", "rows"] = "sends"
    start: DatasetTime | None = None
    end: DatasetTime | None = None
    rows: list[SpineRowIn] | None = Field(default=None, max_length=100_000)


class DatasetCreate(_In):
    """A point-in-time dataset: a spine and the features to join onto it."""

    spine: SpineIn = Field(default_factory=SpineIn)
    features: list[str] | None = Field(
        default=None,
        max_length=50,
        description="Feature names; every built-in feature when omitted.",
        examples=[["variant_acceptance_rate", "subject_length"]],
    )
    as_of: DatasetTime | None = Field(
        default=None, description="Ignore everything ingested after this moment (no backfill leakage)."
    )


class FeatureOut(BaseModel):
    """A registered feature version."""

    name: str
    version: int
    hash: str
    description: str
    owner: str
    entity: str
    value_type: str
    ttl_seconds: float | None


class DatasetOut(BaseModel):
    """A built dataset: its manifest (feature versions, hashes, bounds, lineage) and download links."""

    id: Id
    created_at: dt.datetime
    row_count: int
    columns: list[str]
    spine: dict[str, Any]
    manifest: dict[str, Any]
    links: dict[str, str]


class PromptArmOut(BaseModel):
    """A prompt version (or adapter) the bandit chooses among (or chose before), with its figures."""

    arm: str = Field(description="The prompt version, or the adapter's name ('none': the base model).")
    live: bool = Field(description="Whether generations choose among it now.")
    generations: int = Field(description="Generations that chose it.")
    judged: int = Field(description="Its variants with an accept, edit or reject.")
    accepted: int
    posterior_mean: float = Field(description="(1 + accepted) / (2 + judged).")
    weight: float | None = Field(description="Its chance of being chosen now; null when not live.")
    ips: float | None = Field(description="Inverse-propensity estimate of its acceptance rate.")
    snips: float | None = Field(description="Self-normalised inverse-propensity estimate.")


class AdapterOut(BaseModel):
    """A LoRA adapter generations may name, where it comes from and what its training reported."""

    name: str = Field(description="What a generation request calls it (`adapter`).")
    sha256: str = Field(description="sha256 of its weights file, as each variant's lineage records it.")
    rank: int
    origin: str = Field(description="'shipped' with copyloop, or 'trained here'.")
    brand_id: str | None = Field(default=None, description="The brand whose approved drafts trained it.")
    brand: str | None = None
    as_of: str | None = Field(default=None, description="Only feedback known at this time trained it.")
    train_pairs: int
    eval_pairs: int
    steps: int
    eval_loss_before: float | None
    eval_loss_after: float | None


class AdapterCreate(_In):
    """Train a brand's next adapter on what its marketers approved (as `copyloop tune --brand`)."""

    brand_id: Id = Field(min_length=1, max_length=32)
    as_of: dt.datetime | None = Field(default=None, description="Only feedback known then; default: now.")
    max_steps: int | None = Field(default=None, ge=1, le=100_000, description="Stop after this many steps.")


class AdapterJobOut(BaseModel):
    """An adapter's training job and where it stands."""

    name: str = Field(description="The adapter's name, for `adapter` in generation requests once ready.")
    status: str = Field(description="training, ready, failed or interrupted (its server stopped).")
    brand_id: str | None
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    log_tail: str = Field(description="The last lines of its training log, when it did not finish.")


class RewardModelCreate(_In):
    """Train the workspace's next reward model on the feedback known at a moment."""

    as_of: DatasetTime | None = Field(
        default=None,
        description="Learn only from feedback and outcomes that happened and arrived by then [default: now].",
    )
    seed: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Seed of the held-out split and the training."
    )
    kind: Literal["auto", "logistic", "cross-encoder"] = Field(
        default="auto",
        description="logistic: embedding and named features; cross-encoder: fine-tuned on the brief "
        "and the draft together; auto: the cross-encoder from 5,000 labelled drafts on, else logistic.",
    )


class RewardModelOut(BaseModel):
    """A trained reward model: its version, held-out figures, what it learned from and its named weights."""

    id: Id
    version: int
    label: str = Field(description="How generation lineage names it.")
    kind: str = Field(description="logistic or cross-encoder.")
    trained_until: dt.datetime
    created_at: dt.datetime
    metrics: dict[str, Any] = Field(description="Labelled drafts, held-out AUC and pairwise accuracy.")
    manifest: dict[str, Any] = Field(description="The training set: time, counts, label rules, hash.")
    named_weights: dict[str, float] = Field(
        description="Weights of the named features, per standard deviation (none for a cross-encoder)."
    )


# ------------------------------------------------------------------------------ keys and admin


class KeyCreate(_In):
    """A new API key for the caller's workspace."""

    role: Literal["marketer", "analyst", "admin"] = Field(examples=["marketer"])
    name: str = Field(default="", max_length=200, examples=["newsletter tool"])


class KeyOut(BaseModel):
    """An API key, without its secret."""

    id: str
    role: str
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class IssuedKeyOut(KeyOut):
    """A key just created; `key` is the only copy of the secret."""

    key: str


class MeOut(BaseModel):
    """Who the caller is."""

    workspace_id: Id
    workspace_name: str
    key_id: str
    role: str


class EraseIn(_In):
    """A contact to erase, by external id."""

    contact: str = Field(min_length=1, max_length=320, examples=["ann@example.com"])


class ErasureOut(BaseModel):
    """What an erasure did: rows removed per table, verdicts scrubbed, and the suppression."""

    found: bool
    outcome_events: int
    assignments: int
    segment_memberships: int
    contacts: int
    feedback_scrubbed: int = Field(
        description="Verdicts whose actor, comment or edited text named the contact, now scrubbed."
    )
    suppressed: bool = Field(description="The contact's hash is on the suppression list: never stored again.")
    wal_truncated: bool = Field(
        description="SQLite: the write-ahead log was emptied after the delete (false elsewhere, or when a "
        "reader kept it busy; the next checkpoint does it)."
    )


# -------------------------------------------------------------------------------------- health


class HealthOut(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class ReadyOut(BaseModel):
    """Whether the database and the generation backend can serve, and why not."""

    status: Literal["ready", "not_ready"]
    database: bool
    backend: bool
    detail: dict[str, str]
