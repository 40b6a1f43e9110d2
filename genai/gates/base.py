"""The gate contract: a named check of a draft against its brief and brand, and its findings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft

__all__ = ["Check", "Finding", "Gate", "Severity"]

Severity = Literal["block", "warn"]


@dataclass(frozen=True)
class Finding:
    """One problem a gate found: how bad it is, what it is and the text that shows it."""

    severity: Severity
    message: str
    evidence: list[str] = field(default_factory=list)


Check = Callable[[EmailDraft, Brief, BrandKit], list[Finding]]


@dataclass(frozen=True)
class Gate:
    """A named check; `severity` is the worst verdict it can give.

    A check reads the draft, the brief and the brand kit and returns its findings, none when
    the draft passes. It must not change its arguments.
    """

    id: str
    severity: Severity
    description: str
    check: Check
