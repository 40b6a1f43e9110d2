"""Privacy: scrubbing contact details out of free text, and erasing a contact (right to erasure).

`scrub_text` replaces e-mail addresses with ``[email]`` and phone numbers with ``[phone]``. A phone
number here is a run of 7 to 15 digits, optionally starting with ``+`` and split by spaces, dots,
dashes or brackets; dates (``2024-01-31``, ``31.01.2024``), year ranges, decimals and prices are left
alone. It errs towards scrubbing: a long order number is scrubbed too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from feedback.contacts import contacts_lock, find_contact
from feedback.models import Assignment, Contact, OutcomeEvent, SegmentMembership

__all__ = ["EMAIL_TOKEN", "PHONE_TOKEN", "ErasureReport", "erase_contact", "scrub_text"]

EMAIL_TOKEN = "[email]"
PHONE_TOKEN = "[phone]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A candidate: starts with "+", "(" or a digit, continues with digits and separators, ends with a digit.
_PHONE_CANDIDATE = re.compile(r"(?<![\w.+/-])(?:\+|\()?\d[\d \t().-]{5,}\d(?![\w]|[.,]\d)")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_YEAR_RANGE = re.compile(r"(?:19|20)\d{2}\s*-\s*(?:19|20)\d{2}")


def _is_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    if not 7 <= digits <= 15:
        return False
    if _DATE.fullmatch(candidate) or _YEAR_RANGE.fullmatch(candidate):
        return False
    separators = {ch for ch in candidate if not ch.isdigit()}
    if not separators:
        # An unformatted number needs the length of a full national number to count as a phone.
        return digits >= 10
    if separators == {"."}:
        # "3.14159" is a decimal; dotted phone numbers ("555.123.4567") have no one-digit groups.
        return all(len(group) >= 2 for group in candidate.split("."))
    return True


def _scrub_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    return PHONE_TOKEN if _is_phone(text) else text


def scrub_text(text: str | None) -> str | None:
    """`text` with e-mail addresses and phone numbers replaced by placeholders (None stays None)."""
    if text is None:
        return None
    without_emails = _EMAIL.sub(EMAIL_TOKEN, text)
    return _PHONE_CANDIDATE.sub(_scrub_phone, without_emails)


@dataclass(frozen=True)
class ErasureReport:
    """How many rows the erasure of one contact removed, per table."""

    found: bool
    outcome_events: int = 0
    assignments: int = 0
    segment_memberships: int = 0
    contacts: int = 0

    @property
    def total(self) -> int:
        """All rows removed."""
        return self.outcome_events + self.assignments + self.segment_memberships + self.contacts


def erase_contact(session: Session, workspace_id: str, external_id: str) -> ErasureReport:
    """Delete the contact and every row tied to it, in the caller's transaction; unknown ids are a no-op."""
    contacts_lock(session, workspace_id, exclusive=True)
    contact = find_contact(session, workspace_id, external_id)
    if contact is None:
        return ErasureReport(found=False)
    counts: dict[str, int] = {}
    for name, model in (
        ("outcome_events", OutcomeEvent),
        ("assignments", Assignment),
        ("segment_memberships", SegmentMembership),
    ):
        result = session.execute(
            delete(model).where(model.workspace_id == workspace_id, model.contact_id == contact.id)
        )
        counts[name] = result.rowcount  # type: ignore[attr-defined]
    deleted = session.execute(
        delete(Contact).where(Contact.workspace_id == workspace_id, Contact.id == contact.id)
    )
    session.expunge(contact)
    return ErasureReport(found=True, contacts=deleted.rowcount, **counts)  # type: ignore[attr-defined]
