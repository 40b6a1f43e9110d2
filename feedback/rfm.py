"""Segments from first-party orders: recency / frequency / monetary (RFM) scores and spend tiers.

Scores run from 1 to 5 and are quintiles of the share of customers with a strictly lower value
(for recency: a strictly older last order), so tied customers always share a score and a score of 5
means "better than at least 80% of customers". Frequency is the number of orders, monetary the total
spent, recency the days from the last order to `as_of`.

Tiers:

- ``lapsed``: no order for more than `lapsed_after_days` (default 365) before `as_of`;
- among the other (active) customers, scored on total spend against each other the same way:
  ``high`` for a score of 5 (the top fifth), ``low`` for 1 or 2, ``medium`` for 3 or 4.

Each tier is stored as a segment (``high-spenders``, ``medium-spenders``, ``low-spenders``,
``lapsed``) whose memberships carry the computation version; a version, once stored, is never
rewritten: recompute under a new version.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.bulk import insert_ignore
from feedback.catalog import get_or_create_segment
from feedback.contacts import contact_hash, contact_ids_by_hash, contacts_lock, workspace_secret
from feedback.errors import ConflictError, InvalidInputError, NotFoundError
from feedback.models import SegmentMembership, SegmentRow, utcnow

__all__ = [
    "DEFAULT_LAPSED_AFTER_DAYS",
    "RFM_COLUMNS",
    "TIER_SEGMENTS",
    "RfmStoreReport",
    "compute_rfm",
    "import_orders_csv",
    "segment_contact_ids",
    "store_rfm_segments",
]

DEFAULT_LAPSED_AFTER_DAYS = 365
TIER_SEGMENTS: dict[str, str] = {
    "high": "high-spenders",
    "medium": "medium-spenders",
    "low": "low-spenders",
    "lapsed": "lapsed",
}
RFM_COLUMNS = (
    "first_order",
    "last_order",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm",
    "tier",
)
SCORE_COLUMNS = ("tier", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score")
MEMBERSHIP_COLUMNS = ("workspace_id", "segment_id", "contact_id", "version", "computed_at", "scores")
CDNOW_COLUMNS = ["customer_id", "date", "number_of_cds", "amount"]


def _fail(line: int, column: str, reason: str) -> InvalidInputError:
    return InvalidInputError(f"line {line}: {reason}", field=column)


def _detect_format(first_line: str) -> Literal["csv", "cdnow"]:
    tokens = first_line.split()
    return "cdnow" if len(tokens) == 4 and "," not in first_line and ";" not in first_line else "csv"


def _read_cdnow(source: str | Path | IO[str], has_header: bool) -> tuple[pd.DataFrame, int]:
    frame = pd.read_csv(
        source,
        sep=r"\s+",
        header=None,
        names=CDNOW_COLUMNS,
        skiprows=1 if has_header else 0,
        dtype={"customer_id": str, "date": str, "amount": str},
    )
    dates = pd.to_datetime(frame["date"], format="%Y%m%d", errors="coerce")
    return frame.assign(date=dates, amount=_amounts(frame["amount"])), (2 if has_header else 1)


def _amounts(text: pd.Series) -> pd.Series:
    """Numbers from text; "1,234.50" (grouped thousands) is read, an ambiguous "12,50" is not."""
    clean = text.astype("string").str.strip()
    grouped = clean.str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?").fillna(False).astype(bool)
    return pd.to_numeric(clean.where(~grouped, clean.str.replace(",", "")), errors="coerce")


def import_orders_csv(
    source: str | Path | IO[str],
    *,
    customer_column: str = "customer_id",
    date_column: str = "date",
    amount_column: str = "amount",
    date_format: str | None = None,
    file_format: Literal["auto", "csv", "cdnow"] = "auto",
    delimiter: str = ",",
) -> pd.DataFrame:
    """Read orders into ``customer_id`` (str), ``date`` (datetime64) and ``amount`` (float) columns.

    Reads a CSV with a header (column names configurable), or the whitespace-separated CDNOW log
    ``customer_id date(YYYYMMDD) number_of_cds dollar_value`` with or without its header line.
    A bad line raises InvalidInputError naming the line and the column.
    """
    first = _first_line(source) if file_format != "csv" else ""
    if file_format == "auto":
        file_format = _detect_format(first)
    try:
        if file_format == "cdnow":
            has_header = not re.match(r"\s*\d", first)
            frame, first_data_line = _read_cdnow(source, has_header)
        else:
            frame = pd.read_csv(source, sep=delimiter, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            first_data_line = 2
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"not a readable orders file: {exc}", field="source") from exc
    if file_format == "cdnow":
        customer, date, amount = "customer_id", "date", "amount"
    else:
        frame.columns = [str(c).strip() for c in frame.columns]
        for column in (customer_column, date_column, amount_column):
            if column not in frame.columns:
                raise InvalidInputError(f"the file has no column {column!r}", field=column)
        customer, date, amount = customer_column, date_column, amount_column
        parsed = pd.to_datetime(
            frame[date].str.strip(), format=date_format or "ISO8601", errors="coerce", utc=False
        )
        frame[date] = parsed
        frame[amount] = _amounts(frame[amount])
    return _validated_orders(frame, customer, date, amount, first_data_line)


def _first_line(source: str | Path | IO[str]) -> str:
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8-sig") as handle:
            return next((line for line in handle if line.strip()), "")
    position = source.tell()
    line = next((line for line in source if line.strip()), "")
    source.seek(position)
    return line


def _validated_orders(
    frame: pd.DataFrame, customer: str, date: str, amount: str, first_line: int
) -> pd.DataFrame:
    ids = frame[customer].astype("string").str.strip()
    dates = frame[date]
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    amounts = pd.to_numeric(frame[amount], errors="coerce").astype(float)
    for column, bad in (
        (customer, ids.isna() | (ids == "")),
        (date, dates.isna()),
        (amount, ~np.isfinite(amounts)),
    ):
        if bad.any():
            position = int(np.flatnonzero(bad.to_numpy())[0])
            raise _fail(first_line + position, column, f"{column} is missing or not valid")
    return pd.DataFrame(
        {"customer_id": ids.astype(str), "date": dates.dt.normalize(), "amount": amounts}
    ).reset_index(drop=True)


def _score(values: pd.Series) -> pd.Series:
    """1 to 5 by the share of values strictly below each one; ties share a score."""
    below = (values.rank(method="min") - 1) / len(values)
    return (np.floor(below * 5) + 1).clip(1, 5).astype(int)


def compute_rfm(
    orders: pd.DataFrame,
    as_of: dt.date | dt.datetime | str | None = None,
    *,
    lapsed_after_days: int = DEFAULT_LAPSED_AFTER_DAYS,
) -> pd.DataFrame:
    """RFM scores and tier per customer (indexed by ``customer_id``) from orders up to `as_of`.

    `as_of` defaults to the day of the last order; later orders are ignored, so a past `as_of`
    reproduces what was known then.
    """
    missing = {"customer_id", "date", "amount"} - set(orders.columns)
    if missing:
        raise InvalidInputError(f"orders lack the columns {sorted(missing)}", field="orders")
    if lapsed_after_days < 1:
        raise InvalidInputError("must be at least 1", field="lapsed_after_days")
    days = pd.to_datetime(orders["date"]).dt.normalize()
    cutoff = pd.Timestamp(as_of).normalize() if as_of is not None else days.max()
    kept = orders.assign(date=days)[days <= cutoff]
    if kept.empty:
        raise InvalidInputError("no orders on or before as_of", field="as_of")
    grouped = kept.groupby("customer_id", sort=True)
    rfm = pd.DataFrame(
        {
            "first_order": grouped["date"].min(),
            "last_order": grouped["date"].max(),
            "frequency": grouped.size(),
            "monetary": grouped["amount"].sum().round(2),
        }
    )
    rfm["recency_days"] = (cutoff - rfm["last_order"]).dt.days.astype(int)
    rfm["r_score"] = _score(-rfm["recency_days"])
    rfm["f_score"] = _score(rfm["frequency"])
    rfm["m_score"] = _score(rfm["monetary"])
    rfm["rfm"] = rfm["r_score"].astype(str) + rfm["f_score"].astype(str) + rfm["m_score"].astype(str)
    lapsed = rfm["recency_days"] > lapsed_after_days
    # Spend tiers rank active customers among themselves: lapsed ones would skew the quintiles.
    active_score = _score(rfm.loc[~lapsed, "monetary"]) if (~lapsed).any() else pd.Series(dtype=int)
    spend = active_score.reindex(rfm.index)
    tier = np.select([lapsed, spend == 5, spend <= 2], ["lapsed", "high", "low"], default="medium")
    rfm["tier"] = pd.Categorical(tier, categories=list(TIER_SEGMENTS))
    rfm.attrs.update({"as_of": cutoff.date().isoformat(), "lapsed_after_days": lapsed_after_days})
    return rfm[list(RFM_COLUMNS)]


@dataclass(frozen=True)
class RfmStoreReport:
    """What `store_rfm_segments` wrote: the version, members per segment and contacts involved."""

    version: str
    members: Mapping[str, int] = field(default_factory=dict)
    contacts: int = 0


def store_rfm_segments(
    session: Session,
    workspace_id: str,
    rfm: pd.DataFrame,
    version: str,
    *,
    computed_at: dt.datetime | None = None,
) -> RfmStoreReport:
    """Store each customer's tier as segment membership under `version`, in the caller's transaction."""
    clean_version = version.strip()
    if not 1 <= len(clean_version) <= 100:
        raise InvalidInputError("must be 1 to 100 characters", field="version")
    absent = set(SCORE_COLUMNS) - set(rfm.columns)
    if absent:
        raise InvalidInputError(f"the RFM table lacks {sorted(absent)}; use compute_rfm", field="rfm")
    secret = workspace_secret(session, workspace_id)
    taken = session.scalar(
        select(SegmentMembership.id)
        .where(SegmentMembership.workspace_id == workspace_id, SegmentMembership.version == clean_version)
        .limit(1)
    )
    if taken is not None:
        raise ConflictError(
            f"version {clean_version!r} is already stored; use a new version", field="version"
        )
    segments = {
        tier: get_or_create_segment(
            session,
            workspace_id,
            name,
            description=f"RFM tier {tier!r}",
            traits={"spend_tier": tier, "source": "rfm"},
        )
        for tier, name in TIER_SEGMENTS.items()
    }
    customer_ids = [str(c) for c in rfm.index]
    hashes = [contact_hash(secret, c) for c in customer_ids]
    contacts_lock(session, workspace_id, exclusive=False)  # an erasure in flight finishes first
    contact_ids = contact_ids_by_hash(session, workspace_id, hashes)
    when = computed_at or utcnow()
    columns = {name: rfm[name].to_numpy() for name in SCORE_COLUMNS}
    rows: list[tuple[Any, ...]] = []
    for i, digest in enumerate(hashes):
        if digest not in contact_ids:
            continue  # an erased customer: never segmented again
        tier = str(columns["tier"][i])
        if tier not in segments:
            raise InvalidInputError(f"unknown tier {tier!r} for customer {customer_ids[i]!r}", field="tier")
        scores = {
            "r": int(columns["r_score"][i]),
            "f": int(columns["f_score"][i]),
            "m": int(columns["m_score"][i]),
            "recency_days": int(columns["recency_days"][i]),
            "frequency": int(columns["frequency"][i]),
            "monetary": float(columns["monetary"][i]),
        }
        rows.append((workspace_id, segments[tier].id, contact_ids[digest], clean_version, when, scores))
    table = SegmentMembership.__table__
    insert_ignore(session, table, MEMBERSHIP_COLUMNS, rows, ["segment_id", "contact_id", "version"])  # type: ignore[arg-type]
    stored = [i for i, digest in enumerate(hashes) if digest in contact_ids]
    counts = pd.Series(columns["tier"][stored]).astype(str).value_counts()
    members = {TIER_SEGMENTS[tier]: int(counts.get(tier, 0)) for tier in TIER_SEGMENTS}
    return RfmStoreReport(version=clean_version, members=members, contacts=len({hashes[i] for i in stored}))


def segment_contact_ids(session: Session, workspace_id: str, segment_name: str, version: str) -> list[int]:
    """Contact ids in a segment under one computation version, sorted."""
    segment_id = session.scalar(
        select(SegmentRow.id).where(SegmentRow.workspace_id == workspace_id, SegmentRow.name == segment_name)
    )
    if segment_id is None:
        raise NotFoundError(f"no segment named {segment_name!r}", field="segment")
    stmt = (
        select(SegmentMembership.contact_id)
        .where(
            SegmentMembership.workspace_id == workspace_id,
            SegmentMembership.segment_id == segment_id,
            SegmentMembership.version == version,
        )
        .order_by(SegmentMembership.contact_id)
    )
    return list(session.scalars(stmt))
