"""Import of an e-mail platform's outcome export (CSV) into outcome events, with a report of bad lines.

The column mapping names, for each CSV column to use, the event field it fills: ``contact``,
``variant_id``, ``kind``, ``event_time`` (required), ``revenue`` and ``idempotency_key`` (optional).
Event names are matched case-insensitively through `DEFAULT_EVENT_NAMES` plus the caller's own names.
Without an idempotency-key column each line gets a key derived from its content (variant, contact
hash, event, time and revenue), so importing the same file twice stores nothing new; two lines that
are identical in all of those are one event. A line the csv module cannot read (a cell longer than
its field size limit, 131,072 characters) refuses the whole file, naming the line and the column.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from feedback.contacts import contact_hash, workspace_secret
from feedback.errors import InvalidInputError
from feedback.ingest import SessionTarget, ingest_outcomes
from feedback.models import OUTCOME_KINDS

__all__ = ["DEFAULT_EVENT_NAMES", "EVENT_FIELDS", "ImportReport", "RejectedLine", "import_outcomes_csv"]

EVENT_FIELDS = ("contact", "variant_id", "kind", "event_time", "revenue", "idempotency_key")
REQUIRED_FIELDS = ("contact", "variant_id", "kind", "event_time")

DEFAULT_EVENT_NAMES: dict[str, str] = {
    **{kind: kind for kind in ("send", "delivery", "open", "click", "conversion", "unsubscribe", "bounce")},
    "complaint": "complaint",
    "sent": "send",
    "processed": "send",
    "delivered": "delivery",
    "opened": "open",
    "clicked": "click",
    "converted": "conversion",
    "purchase": "conversion",
    "purchased": "conversion",
    "order": "conversion",
    "unsubscribed": "unsubscribe",
    "bounced": "bounce",
    "hard_bounce": "bounce",
    "soft_bounce": "bounce",
    "spam": "complaint",
    "spamreport": "complaint",
    "spam_report": "complaint",
    "complained": "complaint",
}

_CURRENCY = re.compile(r"^[^\d\-+.]*|[^\d.]*$")
# "1,234.50": commas that group thousands; any other comma is a decimal comma, too ambiguous to guess.
_GROUPED = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d+)?")


@dataclass(frozen=True, order=True)
class RejectedLine:
    """A line of the file that was not imported: its line number, the CSV column at fault and why."""

    line: int
    column: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: lines read, events stored, lines already stored, and the rejected lines."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[RejectedLine] = field(default_factory=list)
    suppressed: int = 0


class _LineError(Exception):
    def __init__(self, event_field: str, reason: str) -> None:
        super().__init__(reason)
        self.event_field = event_field
        self.reason = reason


class _Records:
    """The CSV records of a source; one that cannot be read raises InvalidInputError naming its line.

    The raw lines of the record being read are kept, to find the column of a cell over the limit.
    """

    def __init__(self, handle: IO[str], delimiter: str) -> None:
        self._lines = iter(handle)
        self._raw: list[str] = []
        self._delimiter = delimiter
        self._reader = csv.reader(self._raw_lines(), delimiter=delimiter)
        self.header: list[str] = []

    def _raw_lines(self) -> Iterator[str]:
        for line in self._lines:
            self._raw.append(line)
            yield line

    @property
    def line_num(self) -> int:
        """The number of the last line read (the header is line 1)."""
        return self._reader.line_num

    def __iter__(self) -> _Records:
        return self

    def __next__(self) -> list[str]:
        self._raw.clear()
        try:
            return next(self._reader)
        except csv.Error as exc:
            limit = csv.field_size_limit()
            if "field limit" not in str(exc):
                raise InvalidInputError(
                    f"line {self.line_num} cannot be read: {exc}", field="source"
                ) from None
            index = _oversized_cell("".join(self._raw), self._delimiter, limit)
            column = repr(self.header[index]) if index < len(self.header) else str(index + 1)
            raise InvalidInputError(
                f"line {self.line_num}, column {column}: a cell is longer than {limit:,} characters",
                field="source",
            ) from None


def _oversized_cell(text: str, delimiter: str, limit: int) -> int:
    """The index of the first cell of a raw record longer than `limit` characters, read as csv reads it."""
    column, length, quoted, index = 0, 0, False, 0
    while index < len(text):
        char = text[index]
        if quoted and char == '"':
            if text[index + 1 : index + 2] != '"':
                quoted = False
            else:
                length += 1
                index += 1
        elif quoted:
            length += 1
        elif char == '"' and length == 0:
            quoted = True
        elif char == delimiter:
            column, length = column + 1, 0
        elif char not in "\r\n":
            length += 1
        if length > limit:
            return column
        index += 1
    return column


@contextmanager
def _open(source: str | Path | IO[str]) -> Iterator[IO[str]]:
    if isinstance(source, str | Path):
        # utf-8-sig drops the byte-order mark that spreadsheet exports often start with.
        with open(source, encoding="utf-8-sig", newline="") as handle:
            yield handle
    else:
        yield source


def _parse_time(value: str, fmt: str | None, zone: dt.tzinfo) -> dt.datetime:
    text = value.strip()
    if not text:
        raise _LineError("event_time", "is empty")
    try:
        if fmt:
            parsed = dt.datetime.strptime(text, fmt)
        elif re.fullmatch(r"\d{9,11}(\.\d+)?", text):
            return dt.datetime.fromtimestamp(float(text), dt.UTC)
        else:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        expected = f"the format {fmt!r}" if fmt else "ISO 8601 or Unix seconds"
        raise _LineError("event_time", f"{text!r} is not a time in {expected}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _parse_revenue(value: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    # Exports write "$1,234.50" or "1234.50 EUR"; the currency is the workspace's, not the line's.
    number = _CURRENCY.sub("", text)
    if _GROUPED.fullmatch(number):
        number = number.replace(",", "")
    try:
        return float(number)
    except ValueError:
        raise _LineError("revenue", f"{text!r} is not an amount (use a dot for decimals)") from None


def _derived_key(event: Mapping[str, Any], contact_digest: str) -> str:
    revenue = event.get("revenue")
    parts = [
        event["variant_id"],
        contact_digest,
        event["kind"],
        event["event_time"].isoformat(),
        repr(revenue),
    ]
    return "csv:" + hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:40]


def _check_mapping(mapping: Mapping[str, str], header: list[str]) -> dict[str, str]:
    by_field: dict[str, str] = {}
    for column, event_field in mapping.items():
        if event_field not in EVENT_FIELDS:
            raise InvalidInputError(
                f"{event_field!r} for column {column!r} is not one of {', '.join(EVENT_FIELDS)}",
                field="mapping",
            )
        if event_field in by_field:
            raise InvalidInputError(f"two columns fill {event_field!r}", field="mapping")
        if column not in header:
            raise InvalidInputError(f"the file has no column {column!r}", field="mapping")
        by_field[event_field] = column
    missing = [name for name in REQUIRED_FIELDS if name not in by_field]
    if missing:
        raise InvalidInputError(f"no column is mapped to {', '.join(missing)}", field="mapping")
    return by_field


def import_outcomes_csv(
    target: SessionTarget,
    workspace_id: str,
    source: str | Path | IO[str],
    mapping: Mapping[str, str],
    *,
    event_names: Mapping[str, str] | None = None,
    time_format: str | None = None,
    timezone: str = "UTC",
    delimiter: str = ",",
    batch_size: int = 5_000,
) -> ImportReport:
    """Import an ESP outcome export; `mapping` is ``{CSV column: event field}``.

    Lines are numbered as in a text editor (the header is line 1). With a `Session` the import runs in
    the caller's transaction; with a `sessionmaker` the whole file is one transaction.
    """
    names = {k.strip().lower(): v for k, v in {**DEFAULT_EVENT_NAMES, **(event_names or {})}.items()}
    for name, kind in names.items():
        if kind not in OUTCOME_KINDS:
            raise InvalidInputError(f"{name!r} maps to {kind!r}, not an outcome kind", field="event_names")
    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"unknown time zone {timezone!r}", field="timezone") from None
    if isinstance(target, Session):
        return _import(target, workspace_id, source, mapping, names, time_format, zone, delimiter, batch_size)
    with target() as session, session.begin():
        return _import(
            session, workspace_id, source, mapping, names, time_format, zone, delimiter, batch_size
        )


def _import(
    session: Session,
    workspace_id: str,
    source: str | Path | IO[str],
    mapping: Mapping[str, str],
    names: Mapping[str, str],
    time_format: str | None,
    zone: dt.tzinfo,
    delimiter: str,
    batch_size: int,
) -> ImportReport:
    secret = workspace_secret(session, workspace_id)
    report = ImportReport()
    with _open(source) as handle:
        reader = _Records(handle, delimiter)
        # A file object opened without utf-8-sig still carries the byte-order mark.
        header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
        reader.header = header
        if not header:
            raise InvalidInputError("the file is empty", field="source")
        columns = _check_mapping({k.strip(): v for k, v in mapping.items()}, header)
        position = {name: header.index(column) for name, column in columns.items()}
        batch: list[dict[str, Any]] = []
        lines: list[int] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            report.rows += 1
            line = reader.line_num
            try:
                event = _event(row, position, names, time_format, zone, secret)
            except _LineError as exc:
                report.rejected.append(
                    RejectedLine(line, columns.get(exc.event_field, exc.event_field), exc.reason)
                )
                continue
            batch.append(event)
            lines.append(line)
            if len(batch) >= batch_size:
                _flush(session, workspace_id, batch, lines, columns, report)
                batch, lines = [], []
        _flush(session, workspace_id, batch, lines, columns, report)
    report.rejected.sort()
    return report


def _event(
    row: list[str],
    position: Mapping[str, int],
    names: Mapping[str, str],
    time_format: str | None,
    zone: dt.tzinfo,
    secret: str,
) -> dict[str, Any]:
    needed = max(position.values()) + 1
    if len(row) < needed:
        raise _LineError("event", f"has {len(row)} fields; the mapped columns need {needed}")
    cell = {name: row[index] for name, index in position.items()}
    raw_kind = cell["kind"].strip()
    kind = names.get(raw_kind.lower())
    if kind is None:
        raise _LineError("kind", f"unknown event {raw_kind!r}")
    contact = cell["contact"].strip()
    if not contact:
        raise _LineError("contact", "is empty")
    event: dict[str, Any] = {
        "contact": contact,
        "variant_id": cell["variant_id"].strip(),
        "kind": kind,
        "event_time": _parse_time(cell["event_time"], time_format, zone),
    }
    if "revenue" in cell:
        revenue = _parse_revenue(cell["revenue"])
        # Exports fill the revenue column on every line; only a conversion carries it.
        if revenue is not None and (kind == "conversion" or revenue != 0):
            event["revenue"] = revenue
    key = cell.get("idempotency_key", "").strip()
    event["idempotency_key"] = key or _derived_key(event, contact_hash(secret, contact))
    return event


def _flush(
    session: Session,
    workspace_id: str,
    batch: list[dict[str, Any]],
    lines: list[int],
    columns: Mapping[str, str],
    report: ImportReport,
) -> None:
    if not batch:
        return
    result = ingest_outcomes(session, workspace_id, batch)
    report.accepted += len(result.accepted)
    report.duplicates += len(result.duplicates)
    report.suppressed += len(result.suppressed)
    for rejected in result.rejected:
        column = columns.get(rejected.field, rejected.field)
        report.rejected.append(RejectedLine(lines[rejected.index], column, rejected.reason))
