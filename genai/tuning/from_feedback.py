"""Training e-mails from a brand's own approved drafts: the corpus for a per-brand adapter.

Each draft a marketer accepted is a target as it was written; each one they edited, their text. An
edit arrives as the editor writes it, one field a line: subject, preheader, headline, the body's
paragraphs, the CTA label (`serving/webapp`'s editor, and `EmailDraft.full_text`); an edit in any
other shape is left out, with the reason, rather than guessed at. The CTA URL stays the brief's.
Requests are split, not drafts, so no brief is in both splits: about every fifth request (by a
stable hash of its id; at least one, never all) is held out for the evaluation loss.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from genai.brand import BrandKit
from genai.brief import Brief, Segment
from genai.draft import EmailDraft
from genai.errors import InvalidInputError
from genai.tuning.corpus import Example

__all__ = ["MIN_APPROVED", "Approved", "FeedbackCorpus", "examples_from_approved"]

# Fewest approved drafts a brand's adapter trains on by default.
MIN_APPROVED = 8


class Approved(Protocol):
    """What the feedback store says about one approved draft."""

    @property
    def variant_id(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def brief(self) -> dict[str, Any]: ...
    @property
    def segment(self) -> str: ...
    @property
    def draft(self) -> dict[str, Any]: ...
    @property
    def edited_text(self) -> str | None: ...


@dataclass(frozen=True)
class FeedbackCorpus:
    """The training and held-out e-mails, and the drafts left out with why."""

    train: list[Example]
    held_out: list[Example]
    skipped: dict[str, str]  # variant id -> reason

    def require(self, minimum: int, brand: str, field: str) -> None:
        """Raise InvalidInputError naming `field` with fewer than `minimum` e-mails to learn from."""
        usable = len(self.train) + len(self.held_out)
        if usable < minimum or not self.train:
            raise InvalidInputError(
                f"brand {brand!r} has {usable} accepted or edited drafts to learn from; "
                f"it takes at least {minimum}",
                field=field,
            )


def _edited(original: EmailDraft, text: str) -> EmailDraft | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 5:
        return None
    return EmailDraft(
        subject=lines[0],
        preheader=lines[1],
        headline=lines[2],
        body=lines[3:-1],
        cta_label=lines[-1],
        cta_url=original.cta_url,
    )


def _hash(request_id: str) -> bytes:
    return hashlib.sha256(request_id.encode()).digest()


def _held_requests(requests: Sequence[str]) -> set[str]:
    """About one request in five, chosen by a stable hash; at least one and never all."""
    if len(requests) < 2:
        return set()
    ranked = sorted(requests, key=_hash)
    chosen = [r for r in ranked if _hash(r)[0] % 5 == 0]
    most = max(1, len(requests) // 5)
    return set(chosen[:most] or ranked[:1])


def examples_from_approved(kit: BrandKit, approved: Sequence[Approved]) -> FeedbackCorpus:
    """Training e-mails for `kit`'s brand from its approved drafts, split by generation request."""
    made: list[tuple[str, Example]] = []
    skipped: dict[str, str] = {}
    for item in approved:
        try:
            brief = Brief.model_validate(item.brief)
            original = EmailDraft.from_dict(item.draft)
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            skipped[item.variant_id] = f"its stored brief or draft does not read back: {exc}"
            continue
        segment = next((s for s in brief.segments if s.name == item.segment), Segment(name=item.segment))
        draft = original if item.edited_text is None else _edited(original, item.edited_text)
        if draft is None:
            skipped[item.variant_id] = (
                "the edit is not one field a line (subject, preheader, headline, paragraphs, CTA label)"
            )
            continue
        example = Example(
            business=kit.name,
            split="train",
            occasion="feedback",
            brand=kit,
            brief=brief,
            segment=segment,
            draft=draft,
            source=f"feedback: variant {item.variant_id}",
        )
        made.append((item.request_id, example))
    held = _held_requests(list(dict.fromkeys(request for request, _ in made)))
    train = [ex for request, ex in made if request not in held]
    held_out = [dataclasses.replace(ex, split="eval") for request, ex in made if request in held]
    return FeedbackCorpus(train=train, held_out=held_out, skipped=skipped)
