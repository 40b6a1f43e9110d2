"""Quality gates a model-written draft must pass before anyone can use it.

Every gate reads the draft, the brief and the brand kit and gives one `GateResult`. A gate's
`severity` in `GATES` is the worst verdict it can give; gates with two levels (say, subject
length) report "warn" for the milder finding and "block" for the serious one.

Thresholds, chosen to be strict on what mail filters and readers punish and lenient on style:

- subject_length: warn past 60 characters, block past 100 (surrounding spaces ignored,
  merge tags counted as written).
- preheader_length: warn outside 40..110 characters.
- body_length: warn on a body under 100 characters: too thin to send as it is.
- all_caps: words of 2+ letters, merge tags, links, common acronyms and the brand's own
  upper-case words left out. Warn when more than 30% of the words of subject, headline and
  body are in capitals (with at least 5 words), or when more than half of the subject's words
  (3 or more) are; block when the whole subject is capitals and has 4 words or more.
- excess_punctuation: warn on "!!", "??", "?!" or more than one "!" in the subject; block on
  3 or more "!"/"?" in a row.
- spam_phrases: warn on one or two distinct trigger phrases, block on 3 or more.
- repetition: block on a word repeated 4 times in a row, a 2- to 5-word phrase 3 times in a
  row, a sentence of 4+ words repeated in the body, or under 30% distinct words in 40+ words;
  warn when a body paragraph repeats the subject or the preheader (8 words in a row, or all of
  one of 5 words or more): the reader has just seen those words in the inbox.
- empty_fields: block on an empty required field, on a preheader or body paragraph that does
  not end a sentence, and (English briefs) on a field whose last word is one no sentence ends
  on (an article, a preposition, a conjunction, a possessive), as when text is cut at a limit.
- exemplar_echo: block when a field shares 3 or more words in a row with a few-shot example
  email and those words include one that is neither generic marketing language nor in the
  brand kit or the brief ("Book a tune-up" in a candle shop's email comes from the bike shop
  example, "Spring is here" in a holiday sale from the tea one).
- offer_consistency: percentages count as offers only next to discount words ("off", "save",
  "up to"...), so "100% soy wax" is not an offer; currency amounts compare by value, not symbol.
  Discounts must come from the brief (offer, goal or constraints); plain prices may also be the
  brand's product prices; "free shipping" and "buy one get one" must be in the brief's words, and
  a clause that says something is free must name a thing the brief gives free ("Any rug ordered
  by 30 June is free" is blocked when the brief gives a free cushion cover with any rug).
- merge_tags: conditions name a known field only (`*|IF:FNAME|*`); comparisons such as
  `*|IF:FNAME=Ann|*` are refused, as they are not among the known forms.
- grounding, audience_label, brief_rules: see `genai.gates.grounding`.
- fact_binding: see `genai.gates.binding`: each number and date is said of what its source
  says it of.
- anchoring: see `genai.gates.anchoring`: warn on a preheader or body sentence that says nothing
  the brand kit or the brief gives, block on one that speaks of the brief's instructions.
- links, contact_details: links and e-mail addresses are matched after their disguises are undone
  (fullwidth letters, look-alike dots, invisible characters, `hxxp`, `evil[.]com`; see
  `genai.links`), and hosts compare in their IDNA form.

Each family lives in its own module and exposes `GATES`; `register_gate` adds a third-party
gate exactly as the built-in ones are added.
"""

from __future__ import annotations

from collections.abc import Iterable

from genai.brand import BrandKit
from genai.brief import Brief
from genai.campaign import GateResult
from genai.draft import EmailDraft
from genai.gates import anchoring, binding, echo, form, grounding, links, merge_tags, offers, repetition, spam
from genai.gates.base import Check, Finding, Gate, Severity
from genai.gates.grounding import coverage, ungrounded
from genai.gates.spam import SPAM_PHRASES

__all__ = [
    "GATES",
    "SPAM_PHRASES",
    "Check",
    "Finding",
    "Gate",
    "Severity",
    "blocking",
    "coverage",
    "register_gate",
    "run_gates",
    "ungrounded",
    "warnings",
]

GATES: tuple[Gate, ...] = (
    *form.GATES,
    *spam.GATES,
    *merge_tags.GATES,
    *links.GATES,
    *repetition.GATES,
    *echo.GATES,
    *offers.GATES,
    *grounding.GATES,
    *binding.GATES,
    *anchoring.GATES,
)


def register_gate(gate: Gate) -> None:
    """Add a gate to every later `run_gates` call; its id must be new."""
    global GATES
    if any(g.id == gate.id for g in GATES):
        raise ValueError(f"a gate named {gate.id!r} is already registered")
    GATES = (*GATES, gate)


def _result(gate: Gate, findings: list[Finding]) -> GateResult:
    if not findings:
        return GateResult(gate.id, gate.severity, True, "passed")
    severity = "block" if any(f.severity == "block" for f in findings) else "warn"
    message = "; ".join(dict.fromkeys(f.message for f in findings))
    evidence = list(dict.fromkeys(e for f in findings for e in f.evidence))
    return GateResult(gate.id, severity, False, message, evidence)


def run_gates(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[GateResult]:
    """Run every gate on `draft`, one result per gate in `GATES` order."""
    return [_result(gate, gate.check(draft, brief, brand)) for gate in GATES]


def blocking(results: Iterable[GateResult]) -> list[GateResult]:
    """The results that stop the draft from being used."""
    return [r for r in results if r.blocks]


def warnings(results: Iterable[GateResult]) -> list[GateResult]:
    """The failed results that only warn."""
    return [r for r in results if not r.passed and r.severity == "warn"]
