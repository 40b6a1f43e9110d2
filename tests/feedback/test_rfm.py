"""RFM scores, spend tiers and segment membership, on small orders and on the real CDNOW log."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedback.contacts import ensure_contacts
from feedback.errors import ConflictError, InvalidInputError
from feedback.models import Contact, SegmentMembership, SegmentRow
from feedback.rfm import (
    TIER_SEGMENTS,
    compute_rfm,
    import_orders_csv,
    segment_contact_ids,
    store_rfm_segments,
)
from feedback.tenancy import create_workspace
from tests.support.feedback import ORDERS

CDNOW = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cdnow" / "CDNOW_master.txt"


def test_rfm_scores_recency_frequency_and_spend_as_of_a_date() -> None:
    rfm = compute_rfm(ORDERS, as_of=dt.date(2024, 6, 30))
    assert list(rfm.index) == ["a", "b", "c", "d", "e", "f"]
    assert rfm.loc["a", "frequency"] == 2 and rfm.loc["a", "monetary"] == 40.0
    assert rfm.loc["a", "recency_days"] == 29 and rfm.loc["d", "recency_days"] == 0
    assert rfm.loc["d", "r_score"] == 5 and rfm.loc["c", "r_score"] == 1
    # Ties share a score: everyone with one order has the lowest frequency score.
    assert set(rfm.loc[["b", "c", "d", "f"], "f_score"]) == {1}
    assert rfm.loc["a", "f_score"] == rfm.loc["e", "f_score"] > 1
    assert rfm.loc["b", "m_score"] == 5 and rfm.loc["d", "m_score"] == 1
    assert rfm.loc["b", "rfm"] == f"{rfm.loc['b', 'r_score']}1{rfm.loc['b', 'm_score']}"
    assert rfm.attrs == {"as_of": "2024-06-30", "lapsed_after_days": 365}


def test_tiers_put_lapsed_customers_apart_and_rank_the_others_by_spend() -> None:
    rfm = compute_rfm(ORDERS, as_of="2024-06-30")
    assert rfm.loc["c", "tier"] == "lapsed"
    assert rfm.loc["b", "tier"] == "high"
    assert rfm.loc["d", "tier"] == "low"
    assert set(rfm["tier"]) <= {"high", "medium", "low", "lapsed"}
    shorter = compute_rfm(ORDERS, as_of="2024-06-30", lapsed_after_days=80)
    assert set(shorter.index[shorter["tier"] == "lapsed"]) == {"c", "e"}  # e last ordered 90 days before


def test_as_of_defaults_to_the_last_order_and_later_orders_never_count() -> None:
    rfm = compute_rfm(ORDERS)
    assert rfm.attrs["as_of"] == "2024-07-15" and rfm.loc["g", "recency_days"] == 0
    earlier = compute_rfm(ORDERS, as_of="2024-01-31")
    assert list(earlier.index) == ["a", "c"] and earlier.loc["a", "monetary"] == 10.0
    with pytest.raises(InvalidInputError) as info:
        compute_rfm(ORDERS, as_of="2000-01-01")
    assert info.value.field == "as_of"


def test_orders_csv_is_read_with_its_column_names() -> None:
    text = 'Customer,Ordered,Total\n007,2024-01-02,"1,200.50"\nann,2024-01-03T10:00:00,3\n'
    orders = import_orders_csv(
        io.StringIO(text), customer_column="Customer", date_column="Ordered", amount_column="Total"
    )
    assert list(orders["customer_id"]) == ["007", "ann"]
    assert list(orders["amount"]) == [1200.5, 3.0]
    assert list(orders["date"]) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]


def test_a_bad_order_line_is_refused_with_its_line_and_column() -> None:
    text = "customer_id,date,amount\nann,2024-01-02,3\nbo,not a date,4\n"
    with pytest.raises(InvalidInputError, match="line 3") as info:
        import_orders_csv(io.StringIO(text))
    assert info.value.field == "date"
    with pytest.raises(InvalidInputError, match="line 2") as info:
        import_orders_csv(io.StringIO("customer_id,date,amount\nann,2024-01-02,lots\n"))
    assert info.value.field == "amount"
    with pytest.raises(InvalidInputError, match="line 2") as info:
        import_orders_csv(io.StringIO('customer_id,date,amount\nann,2024-01-02,"12,50"\n'))
    assert info.value.field == "amount"
    with pytest.raises(InvalidInputError, match="no column 'amount'"):
        import_orders_csv(io.StringIO("customer_id,date,total\nann,2024-01-02,3\n"))


def test_the_cdnow_layout_is_read_with_or_without_its_header() -> None:
    body = " 00001 19970101  1   11.77\n 00002 19970112  5   77.00\n"
    with_header = import_orders_csv(io.StringIO(" customer_id  date number_of_cds  dollar_value\n" + body))
    without = import_orders_csv(io.StringIO(body))
    pd.testing.assert_frame_equal(with_header, without)
    assert list(without["customer_id"]) == ["00001", "00002"]
    assert list(without["amount"]) == [11.77, 77.0]
    assert without["date"].iloc[1] == pd.Timestamp("1997-01-12")


def test_tiers_are_stored_as_segment_memberships_with_their_version(factory: sessionmaker[Session]) -> None:
    rfm = compute_rfm(ORDERS, as_of="2024-06-30")
    with factory() as session:
        ws = create_workspace(session, "shop")
        report = store_rfm_segments(session, ws.id, rfm, "rfm-2024-06-30")
        session.commit()
        assert report.contacts == 6
        assert sum(report.members.values()) == 6 and report.members["lapsed"] == 1
        names = set(session.scalars(select(SegmentRow.name)))
        assert names == {"high-spenders", "medium-spenders", "low-spenders", "lapsed"}
        contact_b = ensure_contacts(session, ws.id, ["b"])["b"]
        assert segment_contact_ids(session, ws.id, "high-spenders", "rfm-2024-06-30") == [contact_b]
        membership = session.scalars(
            select(SegmentMembership).where(SegmentMembership.contact_id == contact_b)
        ).one()
        assert membership.scores is not None and membership.scores["m"] == 5
        assert membership.computed_at.tzinfo is not None
        with pytest.raises(ConflictError):
            store_rfm_segments(session, ws.id, rfm, "rfm-2024-06-30")
        later = compute_rfm(ORDERS)
        store_rfm_segments(session, ws.id, later, "rfm-2024-07-15")
        session.commit()
        assert session.scalar(select(func.count()).select_from(SegmentMembership)) == 6 + 7
        assert session.scalar(select(func.count()).select_from(Contact)) == 7


@pytest.fixture(scope="module")
def cdnow_orders() -> pd.DataFrame:
    """The CDNOW transaction log, or a skip when the shared data set is not next to the checkout."""
    if not CDNOW.exists():
        pytest.skip(f"CDNOW log not found at {CDNOW}: put the shared data next to the repository")
    return import_orders_csv(CDNOW)


def test_cdnow_orders_give_tiers_that_partition_the_customers_by_spend(cdnow_orders: pd.DataFrame) -> None:
    assert len(cdnow_orders) == 69_659
    assert cdnow_orders["customer_id"].nunique() == 23_570
    assert cdnow_orders["date"].min() == pd.Timestamp("1997-01-01")
    assert cdnow_orders["date"].max() == pd.Timestamp("1998-06-30")
    rfm = compute_rfm(cdnow_orders)
    assert len(rfm) == 23_570 and rfm.index.is_unique
    assert rfm["frequency"].sum() == 69_659
    assert rfm["monetary"].sum() == pytest.approx(cdnow_orders["amount"].sum(), rel=1e-9)
    counts = rfm["tier"].value_counts()
    assert set(counts.index) == {"high", "medium", "low", "lapsed"} and counts.sum() == 23_570
    means = rfm.groupby("tier", observed=True)["monetary"].mean()
    assert means["high"] > means["medium"] > means["low"]
    active = rfm[rfm["tier"] != "lapsed"]
    assert (
        active["monetary"][active["tier"] == "high"].min()
        >= active["monetary"][active["tier"] != "high"].max()
    )
    assert (rfm.loc[rfm["tier"] == "lapsed", "recency_days"] > 365).all()
    assert (active["recency_days"] <= 365).all()
    # Most CDNOW customers bought once in early 1997 and never came back.
    assert counts["lapsed"] > len(rfm) / 2
    for column in ("r_score", "f_score", "m_score"):
        assert rfm[column].between(1, 5).all()


def test_cdnow_segments_are_stored_in_bulk(
    cdnow_orders: pd.DataFrame, factory: sessionmaker[Session]
) -> None:
    rfm = compute_rfm(cdnow_orders)
    with factory() as session:
        ws = create_workspace(session, "cdnow")
        report = store_rfm_segments(session, ws.id, rfm, "rfm-1998-06-30")
        session.commit()
    assert report.contacts == 23_570
    assert report.members == {name: int((rfm["tier"] == tier).sum()) for tier, name in TIER_SEGMENTS.items()}
    with factory() as session:
        per_segment = dict(
            session.execute(
                select(SegmentRow.name, func.count(SegmentMembership.id))
                .join(SegmentMembership, SegmentMembership.segment_id == SegmentRow.id)
                .group_by(SegmentRow.name)
            ).all()
        )
        assert per_segment == report.members
        assert session.scalar(select(func.count(func.distinct(SegmentMembership.contact_id)))) == 23_570
