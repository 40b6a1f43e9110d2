"""Privacy: scrubbing contact details out of free text, and erasing a contact (right to erasure).

What is stored about a contact: the HMAC of its external id (never the id itself; the key is kept
outside the database, see `feedback.contact_keys`), its outcome events, experiment assignments and
segment memberships. Free text (feedback comments, edited drafts) is scrubbed of e-mail addresses
and phone numbers on the way in. Erasing a contact deletes those rows, removes its external id where
a marketer typed it (a verdict's actor, comments, edited text) and keeps its hash on a suppression
list that every ingestion path honours, so a webhook redelivery or a replayed batch does not store
it again. On SQLite, deleted rows are overwritten (``secure_delete``) and the caller truncates the
write-ahead log afterwards (`feedback.db.truncate_wal`), so the rows are gone from the files too.

`scrub_text` replaces e-mail addresses with ``[email]`` and phone numbers with ``[phone]``. A phone
number here is a run of 7 to 15 digits, optionally starting with ``+`` and split by spaces, dots,
dashes or brackets; dates (``2024-01-31``, ``31.01.2024``), year ranges, decimals and prices are left
alone. It errs towards scrubbing: a long order number is scrubbed too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from feedback.bulk import insert_ignore
from feedback.contacts import contact_hash, contacts_lock, normalise_external_id, workspace_secret
from feedback.models import (
    Assignment,
    Contact,
    ErasedContact,
    FeedbackEvent,
    OutcomeEvent,
    SegmentMembership,
    utcnow,
)

__all__ = ["EMAIL_TOKEN", "ERASED_TOKEN", "PHONE_TOKEN", "ErasureReport", "erase_contact", "scrub_text"]

EMAIL_TOKEN = "[email]"
PHONE_TOKEN = "[phone]"
ERASED_TOKEN = "[erased]"

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
    """What the erasure of one contact did: rows removed per table, verdicts scrubbed, suppression."""

    found: bool
    outcome_events: int = 0
    assignments: int = 0
    segment_memberships: int = 0
    contacts: int = 0
    feedback_scrubbed: int = 0
    suppressed: bool = True

    @property
    def total(self) -> int:
        """All rows removed."""
        return self.outcome_events + self.assignments + self.segment_memberships + self.contacts


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _scrub_feedback(session: Session, workspace_id: str, external_id: str) -> int:
    """Remove the external id from verdicts' actor, comment and edited text; how many verdicts changed."""
    wanted = normalise_external_id(external_id)
    spellings = {external_id.strip(), wanted}
    alternatives = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
    # Whole ids only: erasing customer "42" leaves "42 candles" alone.
    pattern = re.compile(rf"(?<![\w@.+-])(?:{alternatives})(?![\w@-])", re.IGNORECASE)
    stmt = select(FeedbackEvent).where(FeedbackEvent.workspace_id == workspace_id)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's lower() folds ASCII only ("ÖMER" would slip past it): the regex below decides
        stmt = stmt.where(
            or_(
                FeedbackEvent.actor.is_not(None),
                FeedbackEvent.comment.is_not(None),
                FeedbackEvent.edited_text.is_not(None),
            )
        )
    else:
        like = f"%{_escape_like(wanted.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(FeedbackEvent.actor).like(like, escape="\\"),
                func.lower(FeedbackEvent.comment).like(like, escape="\\"),
                func.lower(FeedbackEvent.edited_text).like(like, escape="\\"),
            )
        )
    candidates = session.scalars(stmt).all()
    changed = 0
    for event in candidates:
        before = (event.actor, event.comment, event.edited_text)
        if event.actor is not None:
            actor = event.actor.strip()
            if actor and normalise_external_id(actor) == wanted:
                event.actor = None
            else:
                event.actor = pattern.sub(ERASED_TOKEN, event.actor)
        if event.comment is not None:
            event.comment = pattern.sub(ERASED_TOKEN, event.comment)
        if event.edited_text is not None:
            event.edited_text = pattern.sub(ERASED_TOKEN, event.edited_text)
        changed += (event.actor, event.comment, event.edited_text) != before
    session.flush()
    return changed


def erase_contact(session: Session, workspace_id: str, external_id: str) -> ErasureReport:
    """Erase a contact in the caller's transaction: its rows, its id in verdicts, and suppress it.

    An unknown contact has no rows to delete but is suppressed all the same: an erasure request may
    come before the events an e-mail platform still has queued.
    """
    contacts_lock(session, workspace_id, exclusive=True)
    digest = contact_hash(workspace_secret(session, workspace_id), external_id)
    insert_ignore(
        session,
        ErasedContact.__table__,  # type: ignore[arg-type]
        ("workspace_id", "hmac", "erased_at"),
        [(workspace_id, digest, utcnow())],
        ["workspace_id", "hmac"],
    )
    scrubbed = _scrub_feedback(session, workspace_id, external_id)
    contact = session.scalar(
        select(Contact).where(Contact.workspace_id == workspace_id, Contact.hmac == digest)
    )
    if contact is None:
        return ErasureReport(found=False, feedback_scrubbed=scrubbed)
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
    return ErasureReport(
        found=True,
        outcome_events=counts["outcome_events"],
        assignments=counts["assignments"],
        segment_memberships=counts["segment_memberships"],
        contacts=deleted.rowcount,  # type: ignore[attr-defined]
        feedback_scrubbed=scrubbed,
    )
