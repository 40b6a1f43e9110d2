"""Builders shared by the feedback tests, and the worker that the multi-process tests spawn."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from feedback.catalog import create_brand, save_campaign
from feedback.models import VariantRow
from feedback.tenancy import create_workspace
from genai.campaign import CampaignDraft, GateResult, GenerationStats, Lineage, Variant
from genai.draft import EmailDraft


def make_campaign(segments: dict[str, int], *, model_id: str = "fake/model") -> CampaignDraft:
    """A pipeline result with `n` variants for each named segment."""
    variants: dict[str, list[Variant]] = {}
    for segment, count in segments.items():
        variants[segment] = [
            Variant(
                id=f"{segment}-{rank}",
                segment=segment,
                rank=rank,
                draft=EmailDraft(
                    subject=f"Subject {rank} for {segment}",
                    preheader="A preheader long enough to pass",
                    headline="Headline",
                    body=["First paragraph of the body.", "Second paragraph of the body."],
                    cta_label="Shop now",
                    cta_url="https://example.com/sale",
                ),
                score=0.9 - rank / 10,
                reasons=["on brand"],
                gates=[GateResult(gate_id="length", severity="block", passed=True, message="ok")],
                lineage=Lineage(
                    backend="fake",
                    model_id=model_id,
                    checkpoint_sha256="ab" * 32,
                    prompt_name="email",
                    prompt_version="3",
                    prompt_sha256="cd" * 32,
                    seed=1234 + rank,
                    sampling={"temperature": 0.7, "top_p": 0.9},
                    tokens_in=321,
                    tokens_out=123,
                    ttft_s=0.05,
                    latency_s=1.5,
                    finish_reason="stop",
                    attempts=2,
                    candidate=rank + 1,
                ),
                html="<p>hi</p>",
                text="hi",
            )
            for rank in range(count)
        ]
    stats = GenerationStats(candidates=9)
    return CampaignDraft(brand="Acme", goal="Holiday sale", variants=variants, stats=stats)


def seed_workspace(session: Session, name: str = "acme", variants: int = 3) -> tuple[str, list[str]]:
    """A workspace with one brand and one stored campaign; returns its id and the variant ids."""
    workspace = create_workspace(session, name)
    brand = create_brand(session, workspace.id, "Acme", {"colors": ["#112233"]})
    brief = {"goal": "Holiday sale", "send_date": dt.date(2024, 12, 1)}
    request = save_campaign(
        session, workspace.id, brief, make_campaign({"high-spenders": variants}), brand.id
    )
    ids = _variant_ids(session, request.id)
    session.commit()
    return workspace.id, ids


def _variant_ids(session: Session, request_id: str) -> list[str]:
    """A stored generation's variant ids in rank order."""
    return list(
        session.scalars(
            select(VariantRow.id)
            .where(VariantRow.generation_request_id == request_id)
            .order_by(VariantRow.rank)
        )
    )


def _orders(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "date": pd.to_datetime([r[1] for r in rows]),
            "amount": [r[2] for r in rows],
        }
    )


ORDERS = _orders(
    [
        ("a", "2024-01-01", 10.0),
        ("a", "2024-06-01", 30.0),
        ("b", "2024-06-20", 500.0),
        ("c", "2023-01-01", 80.0),  # lapsed: more than 365 days before 2024-06-30
        ("d", "2024-06-30", 5.0),
        ("e", "2024-03-01", 40.0),
        ("e", "2024-04-01", 40.0),
        ("f", "2024-05-01", 60.0),
        ("g", "2024-07-15", 999.0),  # after as_of: ignored
    ]
)


JUDGED_BRIEF = {
    "goal": "Holiday sale on candles",
    "offer": "20% off all candles",
    "cta_url": "https://example.com/sale",
    "segments": [{"name": "all"}],
}


def seed_judged_workspace(
    factory: sessionmaker[Session], variants: int, name: str = "acme"
) -> tuple[str, list[str]]:
    """A workspace with a brand (one product) and one generation of `variants` drafts for a full
    brief, the odd-ranked ones asking a question in the subject; returns its id and the variant ids,
    in rank order (each subject starts with `#<rank>`)."""
    campaign = make_campaign({"all": variants})
    rng = random.Random(0)
    for v in campaign.variants["all"]:
        subject = (
            f"Ready for the {rng.choice(['cedar', 'orchard', 'porch'])} candles?"
            if v.rank % 2
            else "Sale now"
        )
        v.draft = replace(v.draft, subject=f"#{v.rank} {subject}")
    with factory() as session:
        workspace = create_workspace(session, name)
        brand = create_brand(session, workspace.id, "Acme", {"name": "Acme", "products": [{"name": "Cedar"}]})
        request = save_campaign(session, workspace.id, JUDGED_BRIEF, campaign, brand.id)
        ids = _variant_ids(session, request.id)
        session.commit()
    return workspace.id, ids
