"""Importing an e-mail platform's outcome export with a column mapping."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedback.contacts import find_contact
from feedback.csv_import import RejectedLine, import_outcomes_csv
from feedback.errors import InvalidInputError
from feedback.models import Contact, OutcomeEvent

Workspace = tuple[str, list[str]]
MAPPING = {
    "Email Address": "contact",
    "Campaign Variant": "variant_id",
    "Event": "kind",
    "Timestamp": "event_time",
    "Revenue": "revenue",
}


def _export(variant: str, other: str) -> str:
    return (
        "\ufeffEmail Address,Campaign Variant,Event,Timestamp,Revenue\n"
        f"ann@example.com,{variant},Sent,2024-05-01 09:00:00,\n"
        f"ann@example.com,{variant},Opened,2024-05-01T10:15:00+02:00,0\n"
        f"Bo@Example.com,{variant},clicked,1714557600,\n"
        f'bo@example.com,{variant},Purchase,2024-05-02 08:00:00,"$1,234.50"\n'
        f"cy@example.com,{variant},Forwarded,2024-05-02 08:00:00,\n"
        f"cy@example.com,{variant},Opened,yesterday,\n"
        f"cy@example.com,{other},Opened,2024-05-02 08:00:00,\n"
        f",{variant},Opened,2024-05-02 08:00:00,\n"
        "\n"
        f"dee@example.com,{variant},opened,2024-05-03 08:00:00,12\n"
        f'ed@example.com,{variant},Purchase,2024-05-03 08:00:00,"12,50"\n'
    )


def test_an_export_is_imported_with_its_bad_lines_reported(
    factory: sessionmaker[Session], workspace: Workspace, tmp_path: Path
) -> None:
    ws_id, variants = workspace
    path = tmp_path / "export.csv"
    path.write_text(_export(variants[0], "f" * 32), encoding="utf-8")
    report = import_outcomes_csv(factory, ws_id, path, MAPPING, timezone="Europe/Paris")
    assert report.rows == 10
    assert report.accepted == 4 and report.duplicates == 0
    assert [(r.line, r.column) for r in report.rejected] == [
        (6, "Event"),
        (7, "Timestamp"),
        (8, "Campaign Variant"),
        (9, "Email Address"),
        (11, "Revenue"),
        (12, "Revenue"),  # a decimal comma is refused, not guessed
    ]
    assert report.rejected[0] == RejectedLine(6, "Event", "unknown event 'Forwarded'")
    with factory() as session:
        events = session.scalars(select(OutcomeEvent).order_by(OutcomeEvent.event_time)).all()
        assert [e.kind for e in events] == ["send", "open", "click", "conversion"]
        # A time without a zone is read in the given zone (Paris is UTC+2 in May).
        assert events[0].event_time == dt.datetime(2024, 5, 1, 7, tzinfo=dt.UTC)
        assert events[1].event_time == dt.datetime(2024, 5, 1, 8, 15, tzinfo=dt.UTC)
        assert events[2].event_time == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
        assert events[3].revenue == pytest.approx(1234.5)
        assert events[1].revenue is None
        bo = find_contact(session, ws_id, "bo@example.com")
        assert bo is not None and events[2].contact_id == events[3].contact_id == bo.id
        assert session.scalar(select(func.count()).select_from(Contact)) == 2


def test_importing_the_same_export_twice_stores_nothing_new(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    text = _export(variants[0], variants[1])
    first = import_outcomes_csv(factory, ws_id, io.StringIO(text), MAPPING)
    second = import_outcomes_csv(factory, ws_id, io.StringIO(text), MAPPING)
    assert first.accepted == 5
    assert second.accepted == 0 and second.duplicates == 5
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OutcomeEvent)) == 5


def test_an_idempotency_key_column_and_custom_event_names_are_used(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    text = (
        "id;who;variant;what;when\n"
        f"e1;ann@example.com;{variants[0]};DLV;01/05/2024 09:00\n"
        f"e1;ann@example.com;{variants[0]};DLV;01/05/2024 09:00\n"
        f"e2;ann@example.com;{variants[0]};OPN;01/05/2024 09:05\n"
    )
    mapping = {
        "id": "idempotency_key",
        "who": "contact",
        "variant": "variant_id",
        "what": "kind",
        "when": "event_time",
    }
    report = import_outcomes_csv(
        factory,
        ws_id,
        io.StringIO(text),
        mapping,
        event_names={"DLV": "delivery", "opn": "open"},
        time_format="%d/%m/%Y %H:%M",
        delimiter=";",
    )
    assert (report.accepted, report.duplicates, report.rejected) == (2, 1, [])
    with factory() as session:
        keys = session.scalars(
            select(OutcomeEvent.idempotency_key).order_by(OutcomeEvent.idempotency_key)
        ).all()
        assert keys == ["e1", "e2"]


BAD_MAPPINGS = [
    ({**MAPPING, "Timestamp": "when"}, "'when' for column 'Timestamp' is not one of"),
    ({k: v for k, v in MAPPING.items() if v != "kind"}, "no column is mapped to kind"),
    ({**MAPPING, "Campaign": "variant_id"}, "two columns fill 'variant_id'"),
    ({**MAPPING, "Opened At": "event_time"}, "two columns fill 'event_time'"),
    ({k if k != "Event" else "Type": v for k, v in MAPPING.items()}, "the file has no column 'Type'"),
]


def test_a_bad_mapping_is_refused_before_anything_is_stored(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    for mapping, message in BAD_MAPPINGS:
        with pytest.raises(InvalidInputError, match=message) as info:
            import_outcomes_csv(factory, ws_id, io.StringIO(_export(variants[0], variants[1])), mapping)
        assert info.value.field == "mapping"
    with pytest.raises(InvalidInputError, match="not an outcome kind") as info:
        import_outcomes_csv(
            factory, ws_id, io.StringIO(_export(variants[0], variants[1])), MAPPING, event_names={"x": "y"}
        )
    assert info.value.field == "event_names"
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OutcomeEvent)) == 0


def test_a_cell_over_the_csv_field_limit_refuses_the_file_naming_line_and_column(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    huge = "x" * 200_000
    plain = f"ann@example.com,{variants[0]},Opened,2024-05-01 09:00:00,\n"
    files = {
        # An unquoted cell on line 3, in the fourth column.
        f"Email Address,Campaign Variant,Event,Timestamp,Revenue\n{plain}bo@example.com,{variants[0]},"
        f"Opened,{huge},\n": "line 3, column 'Timestamp'",
        # A quoted cell with doubled quotes and line breaks: the line where it passes the limit.
        'Email Address,Campaign Variant,Event,Timestamp,Revenue\n"a ""quoted""\n'
        f'{huge}",{variants[0]},Opened,2024-05-01 09:00:00,\n': "line 3, column 'Email Address'",
    }
    for text, where in files.items():
        with pytest.raises(InvalidInputError) as info:
            import_outcomes_csv(factory, ws_id, io.StringIO(text, newline=""), MAPPING)
        assert info.value.field == "source"
        assert info.value.message == f"{where}: a cell is longer than 131,072 characters"
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OutcomeEvent)) == 0
