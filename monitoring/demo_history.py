"""A demo history for the sample brand, written through the feedback store's own functions.

Several weeks of generation requests, marketer verdicts and email outcomes for Wick & Willow (the
brand of ``genai/samples/wick-and-willow.html``), with things planted for the reports to find:

- segments that open and click at different rates (high spenders most, low spenders least);
- a variant style that is truly better: "story" subjects get 35% more clicks than "urgency" ones,
  and an experiment on the medium spenders pits the two against each other;
- a prompt version change (``holiday-v1`` to ``holiday-v2``) that raises acceptance, with a
  reward model ranking the drafts from then on (``rm-demo v1``, retrained a week later as
  ``rm-demo v2``) and the shipped adapter (``email-v1``) on the embedded backend;
- drift from `drift_day` on: more briefs for low spenders, in French, with free-shipping offers,
  and shouty copy (longer subjects, capitals, exclamation marks), which marketers reject more;
- a latency regression from `latency_regression_day` on: the vLLM backend decodes five times
  slower and requests queue.

Everything random comes from one seeded generator, so the same configuration writes the same
history (only the row ids, which the store draws itself, differ).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from feedback.assignment import assign_arm
from feedback.catalog import create_brand, get_or_create_segment, save_campaign, variants_of
from feedback.contacts import ensure_contacts
from feedback.db import make_engine, session_factory, session_scope
from feedback.ingest import ingest_feedback, ingest_outcomes
from feedback.models import Assignment, Experiment, ExperimentArm
from feedback.tenancy import create_workspace
from genai.brand import load_brand
from genai.campaign import CampaignDraft, GateResult, GenerationStats, Lineage, Variant
from genai.draft import EmailDraft

__all__ = ["SAMPLE_BRAND", "SimulationConfig", "SimulationResult", "simulate"]

SAMPLE_BRAND = Path(__file__).resolve().parent.parent / "genai" / "samples" / "wick-and-willow.html"
BRAND_URL = "https://wickandwillow.example/"
CTA_URL = "https://wickandwillow.example/collections/holiday"
SEGMENTS = ("high-spenders", "medium-spenders", "low-spenders")
# Probability that a request targets each segment, before and after the drift.
SEGMENT_WEIGHTS = {"before": (0.85, 0.8, 0.45), "after": (0.35, 0.55, 0.95)}
OPEN_RATE = {"high-spenders": 0.45, "medium-spenders": 0.3, "low-spenders": 0.18}
CLICK_GIVEN_OPEN = {"high-spenders": 0.2, "medium-spenders": 0.15, "low-spenders": 0.1}
STYLE_CLICK_LIFT = {"story": 1.35, "urgency": 1.0}
CONVERSION_GIVEN_CLICK = 0.25
MODELS = (
    # (backend, model id, share of requests, acceptance, seconds to first token, seconds per token)
    ("transformers", "google/gemma-3-270m-it", 0.6, 0.5, 0.6, 0.03),
    ("vllm", "google/gemma-3-1b-it", 0.4, 0.62, 0.15, 0.01),
)
PRODUCTS = ("Hearth & Cedar", "Orchard Morning", "Wool Blanket", "Lavender Porch", "Refill Tin Trio")
OFFERS = {
    "before": ("20% off all candles", "15% off your next order", "25% off holiday scents", ""),
    "after": ("Free shipping on every order", "Free shipping over $40", "$10 off orders over $50"),
}
GOALS = (
    "Holiday sale on hand-poured candles",
    "Winter restock of our bestselling scents",
    "Gift guide for candle lovers",
    "Thank-you note with a seasonal offer",
)


@dataclass(frozen=True)
class SimulationConfig:
    """How much history to write and when the planted changes happen (days from the start)."""

    days: int = 28
    end: dt.datetime | None = None  # default: the last midnight (UTC), so every day is complete
    requests_per_day: int = 12
    variants_per_segment: int = 2
    sent_requests_per_day: int = 2
    recipients_per_variant: int = 120
    contacts_per_segment: int = 1000
    verdict_rate: float = 0.8
    seed: int = 7
    prompt_change_day: int = 10
    drift_day: int = 18
    latency_regression_day: int = 24
    experiment_day: int = 5
    experiment_recipients: int = 3000
    workspace_name: str = "Wick & Willow demo"
    brand_path: Path = SAMPLE_BRAND

    def start(self) -> dt.datetime:
        """The first simulated moment."""
        return self.end_time() - dt.timedelta(days=self.days)

    def end_time(self) -> dt.datetime:
        """The moment the history ends."""
        if self.end is not None:
            return self.end.astimezone(dt.UTC)
        now = dt.datetime.now(dt.UTC)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)

    def day(self, index: int) -> dt.datetime:
        """The start of simulated day `index`."""
        return self.start() + dt.timedelta(days=index)


@dataclass
class SimulationResult:
    """What was written and when the planted changes begin."""

    workspace_id: str
    brand_id: str
    experiment_id: str | None
    start: dt.datetime
    end: dt.datetime
    requests: int = 0
    variants: int = 0
    feedback_events: int = 0
    outcome_events: int = 0
    markers: dict[str, dt.datetime] = field(default_factory=dict)


@dataclass
class _Day:
    index: int
    start: dt.datetime
    drifted: bool
    regressed: bool
    prompt_version: str
    reward_model: str | None = None


def _phase(day: _Day) -> str:
    return "after" if day.drifted else "before"


class _Writer:
    """Draws one day at a time and writes it through the store functions."""

    def __init__(self, config: SimulationConfig, workspace_id: str) -> None:
        self.config = config
        self.workspace_id = workspace_id
        self.rng = np.random.default_rng(config.seed)
        self.result: SimulationResult | None = None
        self.keys = 0
        self.contacts = {
            segment: [f"customer-{s}-{i:05d}@example.com" for i in range(config.contacts_per_segment)]
            for s, segment in enumerate(SEGMENTS)
        }

    # Drafts.

    def _draft(self, segment: str, style: str, day: _Day, offer: str) -> EmailDraft:
        rng = self.rng
        product = str(rng.choice(PRODUCTS))
        deal = offer or "our winter collection"
        if style == "story":
            subject = str(
                rng.choice(
                    (
                        f"The story behind {product}",
                        f"Slow evenings with {product}",
                        f"A letter from our Hudson workshop: {product}",
                        f"Why we pour {product} by hand",
                    )
                )
            )
        else:
            subject = str(
                rng.choice(
                    (
                        f"{deal.capitalize()} ends Sunday",
                        f"Last days: {deal}",
                        f"Don't miss {deal}",
                        f"Only this week: {deal}",
                    )
                )
            )
        if day.prompt_version.endswith("v2"):
            subject = f"*|FNAME|*, {subject[0].lower()}{subject[1:]}"
        paragraphs = [
            f"Every {product} candle is hand-poured in small batches in Hudson, New York, "
            "with soy wax and cotton wicks.",
            str(
                rng.choice(
                    (
                        "Light one on a slow evening and let the scent fill the room.",
                        "Our refillable tins mean less waste and more cozy nights.",
                        "Each batch cures for two weeks so the scent throws evenly.",
                    )
                )
            ),
            f"This week: {deal}." if offer else "Find your scent for the season.",
        ]
        if segment == "high-spenders":
            paragraphs.insert(1, "As one of our most loyal customers, you get first pick of the new batch.")
        if day.drifted:
            subject = subject.upper() + "!!!"
            paragraphs = [p.replace(".", "!") for p in paragraphs]
            paragraphs.append("HURRY! These scents sell out FAST! Order NOW before they are GONE!")
            paragraphs.append(str(rng.choice(("Don't wait!", "Act fast!", "Treat yourself today!"))))
        return EmailDraft(
            subject=subject,
            preheader=f"Hand-poured {product} for slow evenings at home",
            headline=f"{product}, poured by hand",
            body=paragraphs,
            cta_label="Shop the collection",
            cta_url=CTA_URL,
        )

    def _gates(self, day: _Day) -> list[GateResult]:
        warn_rate = 0.35 if day.drifted else 0.08
        results = []
        for gate_id in ("subject_length", "preheader_length", "all_caps", "spam_phrases", "links"):
            passed = not (gate_id in ("preheader_length", "spam_phrases") and self.rng.random() < warn_rate)
            results.append(GateResult(gate_id, "warn", passed, "passed" if passed else f"{gate_id} warning"))
        return results

    # Requests.

    def _request(self, day: _Day, moment: dt.datetime) -> tuple[dict[str, Any], CampaignDraft, list[str]]:
        rng = self.rng
        weights = SEGMENT_WEIGHTS[_phase(day)]
        segments = [s for s, w in zip(SEGMENTS, weights, strict=True) if rng.random() < w]
        if not segments:
            segments = [SEGMENTS[int(rng.integers(len(SEGMENTS)))]]
        model_index = 0 if rng.random() < MODELS[0][2] else 1
        backend, model_id, _, _, ttft_mean, per_token = MODELS[model_index]
        offer = str(rng.choice(OFFERS[_phase(day)]))
        language = "fr" if day.drifted and rng.random() < 0.4 else ("fr" if rng.random() < 0.03 else "en")
        goal = str(rng.choice(GOALS))
        if day.drifted:
            goal += " with urgency for customers who have not ordered in a while"
        brief = {
            "goal": goal,
            "offer": offer,
            "cta_url": CTA_URL,
            "language": language,
            "segments": [{"name": s, "description": "", "traits": {}} for s in segments],
            "variants_per_segment": self.config.variants_per_segment,
            "constraints": [],
        }
        regressed = day.regressed and backend == "vllm"
        variants: dict[str, list[Variant]] = {}
        queue_total = 0.0
        for segment in segments:
            queue_s = float(rng.exponential(4.0 if regressed else 0.2))
            queue_total += queue_s
            ttft = float(rng.gamma(4.0, ttft_mean / 4.0)) * (3.0 if regressed else 1.0)
            tokens = np.clip(rng.normal(180, 30, self.config.variants_per_segment), 60, 400).astype(int)
            decode = per_token * (5.0 if regressed else 1.0) * float(rng.lognormal(0.0, 0.2))
            latency = queue_s + ttft + float(tokens.max()) * decode
            out = []
            for rank in range(1, self.config.variants_per_segment + 1):
                style = "story" if rank % 2 == 1 else "urgency"
                draft = self._draft(segment, style, day, offer)
                lineage = Lineage(
                    backend=backend,
                    model_id=model_id,
                    checkpoint_sha256=None,
                    prompt_name="holiday",
                    prompt_version=day.prompt_version,
                    prompt_sha256=f"{day.prompt_version:0<64}"[:64],
                    seed=int(rng.integers(2**31)),
                    sampling={"temperature": 0.8, "top_p": 0.95},
                    tokens_in=int(rng.integers(600, 900)),
                    tokens_out=int(tokens[rank - 1]),
                    ttft_s=round(ttft, 4),
                    latency_s=round(latency, 4),
                    finish_reason="stop",
                    adapter="email-v1" if backend == "transformers" else None,
                    reward_model=day.reward_model,
                )
                out.append(
                    Variant(
                        id=f"{segment}-{rank}-{style}",
                        segment=segment,
                        rank=rank,
                        draft=draft,
                        score=round(float(rng.uniform(0.55, 0.95)), 4),
                        reasons=[],
                        gates=self._gates(day),
                        lineage=lineage,
                        text=draft.full_text(),
                    )
                )
            variants[segment] = out
        wanted = len(segments) * self.config.variants_per_segment
        candidates = wanted + int(rng.integers(1, wanted + 1))
        block_rate = 0.3 if day.drifted else 0.08
        blocked = int(rng.binomial(candidates - wanted, min(1.0, block_rate * 2.5)))
        blocked_by = {"all_caps": 0, "excess_punctuation": 0, "spam_phrases": 0}
        for _ in range(blocked):
            gate = str(rng.choice(list(blocked_by), p=(0.3, 0.3, 0.4) if day.drifted else (0.1, 0.2, 0.7)))
            blocked_by[gate] += 1
        stats = GenerationStats(
            candidates=candidates,
            blocked=blocked,
            blocked_by=blocked_by,
            parse_failures=0,
            queue_s=round(queue_total / len(segments), 4),
            seconds=round(float(sum(v[0].lineage.latency_s for v in variants.values())), 3),
        )
        campaign = CampaignDraft(brand="Wick & Willow", goal=goal, variants=variants, stats=stats)
        return brief, campaign, segments

    # Feedback and outcomes.

    def _verdict(
        self, variant: Any, day: _Day, moment: dt.datetime, end: dt.datetime
    ) -> list[dict[str, Any]]:
        rng = self.rng
        if rng.random() >= self.config.verdict_rate:
            return []
        base = next(m[3] for m in MODELS if m[1] == variant.model_id)
        p_accept = base + (0.12 if day.prompt_version.endswith("v2") else 0.0) - (0.2 if day.drifted else 0.0)
        when = min(moment + dt.timedelta(hours=float(rng.uniform(0.5, 8))), end - dt.timedelta(seconds=1))
        self.keys += 1
        key = f"sim-{self.config.seed}-fb-{self.keys}"
        events: list[dict[str, Any]] = []
        if rng.random() < p_accept:
            if rng.random() < 0.3:
                original = EmailDraft.from_dict(variant.draft).full_text()
                events.append(
                    {
                        "idempotency_key": key,
                        "variant_id": variant.id,
                        "kind": "edit",
                        "event_time": when,
                        "actor": "marketer@wickandwillow.example",
                        "edited_text": self._edit(original),
                    }
                )
            else:
                events.append(
                    {"idempotency_key": key, "variant_id": variant.id, "kind": "accept", "event_time": when}
                )
        else:
            events.append(
                {
                    "idempotency_key": key,
                    "variant_id": variant.id,
                    "kind": "reject",
                    "event_time": when,
                    "reason_codes": ["tone"] if day.drifted else ["off-brand"],
                }
            )
        if rng.random() < 0.3:
            accepted = events[0]["kind"] != "reject"
            rating = int(np.clip(round(rng.normal(4.0 if accepted else 2.2, 0.7)), 1, 5))
            self.keys += 1
            events.append(
                {
                    "idempotency_key": f"sim-{self.config.seed}-fb-{self.keys}",
                    "variant_id": variant.id,
                    "kind": "rating",
                    "rating": rating,
                    "event_time": when,
                }
            )
        return events

    def _edit(self, text: str) -> str:
        words = text.split(" ")
        changes = max(1, int(len(words) * float(self.rng.uniform(0.05, 0.3))))
        for index in self.rng.choice(len(words), size=min(changes, len(words)), replace=False):
            words[int(index)] = str(self.rng.choice(("cozy", "warm", "hand-poured", "gentle", "soft")))
        return " ".join(words)

    def _outcomes(
        self,
        variant_id: str,
        segment: str,
        style: str,
        contacts: list[str],
        moment: dt.datetime,
        end: dt.datetime,
        drifted: bool,
    ) -> list[dict[str, Any]]:
        rng = self.rng
        n = len(contacts)
        opened = rng.random(n) < OPEN_RATE[segment] * (0.85 if drifted else 1.0)
        clicked = opened & (rng.random(n) < CLICK_GIVEN_OPEN[segment] * STYLE_CLICK_LIFT[style])
        converted = clicked & (rng.random(n) < CONVERSION_GIVEN_CLICK)
        unsubscribed = rng.random(n) < (0.03 if drifted else 0.004)
        latest = end - dt.timedelta(seconds=1)
        events: list[dict[str, Any]] = []
        for i, contact in enumerate(contacts):
            sent_at = min(moment + dt.timedelta(minutes=float(rng.uniform(0, 30))), latest)
            steps = [("send", sent_at)]
            if opened[i]:
                steps.append(
                    ("open", min(sent_at + dt.timedelta(minutes=float(rng.exponential(90))), latest))
                )
            if clicked[i]:
                steps.append(
                    ("click", min(steps[-1][1] + dt.timedelta(minutes=float(rng.exponential(5))), latest))
                )
            if converted[i]:
                steps.append(("conversion", min(steps[-1][1] + dt.timedelta(minutes=10), latest)))
            if unsubscribed[i]:
                steps.append(("unsubscribe", min(sent_at + dt.timedelta(hours=2), latest)))
            for kind, when in steps:
                self.keys += 1
                event: dict[str, Any] = {
                    "idempotency_key": f"sim-{self.config.seed}-oe-{self.keys}",
                    "variant_id": variant_id,
                    "contact": contact,
                    "kind": kind,
                    "event_time": when,
                }
                if kind == "conversion":
                    event["revenue"] = round(float(rng.uniform(24, 90)), 2)
                events.append(event)
        return events

    def _settle(self, session: Session, request: Any, moment: dt.datetime, key: str) -> list[Any]:
        """Date the stored variants back to `moment` and give them ids derived from the seed.

        The store draws random ids; ids that follow from the seed make the whole history
        reproducible, down to which variants a report samples by a hash of their ids.
        """
        stored = variants_of(session, self.workspace_id, request.id)
        for variant in stored:
            variant.created_at = moment
            name = f"{self.config.seed}:{key}:{variant.segment_name}:{variant.rank}"
            variant.id = hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
        session.flush()
        return stored

    def write_day(self, session: Session, day: _Day, brand_id: str, result: SimulationResult) -> None:
        """Requests, verdicts and outcomes of one day, in the caller's transaction."""
        rng = self.rng
        end = result.end
        offsets = np.sort(rng.uniform(0, 86_400, self.config.requests_per_day))
        feedback: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        for number, offset in enumerate(offsets):
            moment = day.start + dt.timedelta(seconds=float(offset))
            brief, campaign, _ = self._request(day, moment)
            request = save_campaign(session, self.workspace_id, brief, campaign, brand_id)
            request.created_at = moment
            stored = self._settle(session, request, moment, f"{day.index}:{number}")
            for variant in stored:
                feedback.extend(self._verdict(variant, day, moment, end))
            result.requests += 1
            result.variants += len(stored)
            if number < self.config.sent_requests_per_day:
                sent_at = min(moment + dt.timedelta(hours=2), end - dt.timedelta(minutes=1))
                for variant in stored:
                    pool = self.contacts[variant.segment_name]
                    picks = rng.choice(
                        len(pool), size=min(self.config.recipients_per_variant, len(pool)), replace=False
                    )
                    style = str(variant.pipeline_id or "").rsplit("-", 1)[-1] or "urgency"
                    outcomes.extend(
                        self._outcomes(
                            variant.id,
                            variant.segment_name,
                            style if style in STYLE_CLICK_LIFT else "urgency",
                            [pool[int(i)] for i in picks],
                            sent_at,
                            end,
                            day.drifted,
                        )
                    )
        result.feedback_events += _stored(ingest_feedback(session, self.workspace_id, feedback), "feedback")
        result.outcome_events += _stored(ingest_outcomes(session, self.workspace_id, outcomes), "outcomes")

    def write_experiment(self, session: Session, day: _Day, brand_id: str, result: SimulationResult) -> str:
        """An A/B test of a story subject against an urgency subject on the medium spenders."""
        moment = day.start + dt.timedelta(hours=9)
        brief, campaign, _ = self._request(dataclasses.replace(day, drifted=False), moment)
        segment = "medium-spenders"
        if segment not in campaign.variants:
            first = next(iter(campaign.variants.values()))
            campaign.variants = {segment: [dataclasses.replace(v, segment=segment) for v in first]}
            brief["segments"] = [{"name": segment, "description": "", "traits": {}}]
        else:
            campaign.variants = {segment: campaign.variants[segment]}
            brief["segments"] = [{"name": segment, "description": "", "traits": {}}]
        request = save_campaign(session, self.workspace_id, brief, campaign, brand_id)
        request.created_at = moment
        stored = self._settle(session, request, moment, f"{day.index}:experiment")[:2]
        control, treatment = sorted(stored, key=lambda v: 0 if str(v.pipeline_id).endswith("urgency") else 1)
        experiment = Experiment(
            workspace_id=self.workspace_id,
            name="holiday-subject-story-vs-urgency",
            salt=f"simulation-{self.config.seed}",
            primary_metric="click",
            guardrail_metrics=["unsubscribe"],
            status="completed",
            created_at=moment,
            started_at=moment,
            stopped_at=moment + dt.timedelta(days=3),
        )
        session.add(experiment)
        session.flush()
        arms = [
            ExperimentArm(
                workspace_id=self.workspace_id,
                experiment_id=experiment.id,
                variant_id=variant.id,
                position=position,
                weight=0.5,
                is_control=position == 0,
            )
            for position, variant in enumerate((control, treatment))
        ]
        session.add_all(arms)
        session.flush()
        # Recipients of their own, so the daily sends do not mix into the experiment's arms.
        people = [f"experiment-{i:05d}@example.com" for i in range(self.config.experiment_recipients * 2)]
        by_arm: dict[int, list[str]] = {0: [], 1: []}
        for person in people:
            by_arm[assign_arm(experiment.salt, person, [0.5, 0.5])].append(person)
        outcomes: list[dict[str, Any]] = []
        for position, variant in enumerate((control, treatment)):
            style = "urgency" if position == 0 else "story"
            outcomes.extend(
                self._outcomes(
                    variant.id,
                    segment,
                    style,
                    by_arm[position],
                    moment + dt.timedelta(hours=1),
                    result.end,
                    False,
                )
            )
        stored_outcomes = ingest_outcomes(session, self.workspace_id, outcomes)
        result.outcome_events += _stored(stored_outcomes, "outcomes")
        contact_ids = ensure_contacts(session, self.workspace_id, people)
        session.add_all(
            Assignment(
                workspace_id=self.workspace_id,
                experiment_id=experiment.id,
                contact_id=contact_ids[person],
                arm_id=arms[position].id,
                assigned_at=moment,
            )
            for position, persons in by_arm.items()
            for person in persons
        )
        session.flush()
        result.requests += 1
        result.variants += len(variants_of(session, self.workspace_id, request.id))
        return str(experiment.id)


def _stored(batch: Any, what: str) -> int:
    if batch.rejected:
        first = batch.rejected[0]
        raise AssertionError(f"the simulator wrote an invalid {what} event: {first.field}: {first.reason}")
    return len(batch.accepted)


def simulate(
    target: Engine | str | None = None,
    config: SimulationConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Write the demo history into the store at `target` (an engine or URL) and say what it holds.

    `progress` is called with (days done, days in all) after each day. The schema must exist
    (`feedback.db.upgrade`); the workspace must not.
    """
    config = config or SimulationConfig()
    engine = target if isinstance(target, Engine) else make_engine(target)
    factory = session_factory(engine)
    brand_kit = load_brand(config.brand_path, BRAND_URL)
    start, end = config.start(), config.end_time()
    with session_scope(factory) as session:
        workspace = create_workspace(session, config.workspace_name)
        brand = create_brand(session, workspace.id, brand_kit.name, dataclasses.asdict(brand_kit))
        for segment in SEGMENTS:
            get_or_create_segment(
                session, workspace.id, segment, description=f"{segment.split('-')[0]} spenders"
            )
        workspace.created_at = start
        result = SimulationResult(workspace.id, brand.id, None, start, end)
    result.markers = {
        "prompt_change": config.day(config.prompt_change_day),
        "drift": config.day(config.drift_day),
        "latency_regression": config.day(config.latency_regression_day),
        "experiment": config.day(config.experiment_day),
    }
    writer = _Writer(config, result.workspace_id)
    for index in range(config.days):
        day = _Day(
            index=index,
            start=config.day(index),
            drifted=index >= config.drift_day,
            regressed=index >= config.latency_regression_day,
            prompt_version="holiday-v2" if index >= config.prompt_change_day else "holiday-v1",
            reward_model=(
                None
                if index < config.prompt_change_day
                else f"rm-demo v{1 + (index - config.prompt_change_day) // 7}"
            ),
        )
        with session_scope(factory) as session:
            writer.write_day(session, day, result.brand_id, result)
            if index == config.experiment_day:
                result.experiment_id = writer.write_experiment(session, day, result.brand_id, result)
        if progress is not None:
            progress(index + 1, config.days)
    if not isinstance(target, Engine):
        engine.dispose()
    return result
