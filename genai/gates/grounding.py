"""Grounding gates: the copy states only facts the brand and the brief give, to the reader.

- grounding: every number (percentages, prices, years, times, quantities), discount code,
  month, weekday, named day ("Black Friday"), deadline word ("tonight", "this weekend"), place
  after "in"/"at"/"from"/"near", claim word ("award-winning", "organic", "#1") and word that
  the sale or the shop is over ("is closed", "sold out", "no longer") in the
  copy must appear in the brand kit or the brief (goal, offer, facts, constraints, send date).
  The evidence names each unsupported token.
- audience_label: the segment is for the marketer; its name and words such as "spender",
  "segment", "tier" or "lapsed" never reach the reader.
- brief_rules: constraints that a rule can check are checked. "Do not mention X" blocks a
  sentence holding all of X's content words (and any price when X is about prices); "under N
  words" blocks a longer body; "Mention that X" warns when fewer than half of X's content
  words are in the copy.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.base import Finding, Gate
from genai.gates.text import copy_fields, prose, shared_runs, word_tokens

__all__ = ["GATES", "coverage", "reference_text", "ungrounded"]

_MONTHS = (
    "january", "february", "march", "april", "june", "july", "august", "september", "october",
    "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec",
)  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NAMED_DAYS = (
    "black friday", "cyber monday", "boxing day", "mother's day", "mothers day", "father's day",
    "fathers day", "valentine's day", "valentines day", "valentine's", "easter", "halloween",
    "thanksgiving", "christmas", "xmas", "new year", "new year's", "hanukkah", "diwali", "eid",
    "labor day", "labour day", "memorial day", "independence day", "st patrick's day",
)  # fmt: skip
_DEADLINES = (
    "tonight", "tomorrow", "midnight", "this weekend", "next week", "today only", "ends today",
    "last day", "final day", "final hours", "this friday", "this saturday", "this sunday",
)  # fmt: skip
_CLAIMS = (
    "award", "awards", "award-winning", "number one", "best-selling", "bestselling",
    "best-seller", "bestseller", "world-famous", "famous", "renowned", "certified", "organic",
    "vegan", "gluten-free", "fair-trade", "fairtrade", "eco-friendly", "sustainable", "carbon-neutral",
    "locally sourced", "record-breaking", "guarantee", "lifetime", "clinically", "dermatologist",
)  # fmt: skip
# Saying the sale or the shop is over, shut or short of stock is a claim too ("The sale is closed").
_ENDED = (
    "is closed", "are closed", "has closed", "has ended", "have ended", "sold out",
    "no longer", "out of stock", "not available", "unavailable", "is cancelled", "is canceled",
)  # fmt: skip
_PLACE_LEAD = r"\b(?:in|at|from|near|across|around|throughout|outside|downtown|visit)\s+"
_PLACE_RE = re.compile(_PLACE_LEAD + r"((?:[A-Z][\w'’-]+)(?:[ \t]+[A-Z][\w'’-]+){0,2})")
# Capitalised words that follow "in"/"at" without naming a place.
_NOT_PLACES = frozenset({
    "the", "a", "an", "our", "your", "my", "their", "this", "that", "these", "those", "every", "all",
    "each", "any", "some", "one", "time", "store", "stock", "season", "style", "person", "mind",
    "advance", "total", "addition", "case", "fact", "general", "particular", "short", "i", "it",
    "we", "you",
})  # fmt: skip
_NUMBER_RE = re.compile(r"(?<![\w])#?\d+(?:[.,:]\d+)*")
_CODE_RE = re.compile(r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z][A-Z0-9-]{3,}\b|(?<=code )[A-Z]{4,}\b")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").lower())


def _numbers(text: str) -> set[str]:
    """Each number in `text` in a canonical form: no thousands commas, no trailing zero decimals."""
    out: set[str] = set()
    for match in _NUMBER_RE.finditer(text):
        raw = match.group(0).lstrip("#")
        out.add(_canonical_number(raw))
        # "6:30" also grounds "6", "4.50" grounds "4.5"
        for part in re.split(r"[:]", raw):
            out.add(_canonical_number(part))
    return out


def _canonical_number(raw: str) -> str:
    raw = raw.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", raw) else raw.replace(",", ".")
    if "." in raw:
        raw = raw.rstrip("0").rstrip(".")
    return raw.lstrip("0") or "0"


def _date_words(day: dt.date) -> str:
    return f"{day.strftime('%A %B %b')} {day.day} {day.year}"


def reference_text(brief: Brief, brand: BrandKit) -> str:
    """Everything the copy may state as fact: the brand kit and the brief."""
    parts = [brand.name, brand.tagline, brand.description, brand.address or "", brand.website or ""]
    parts += [*brand.phones, *brand.emails]
    parts += [f"{p.name} {p.price or ''}" for p in brand.products]
    parts += [brief.goal, brief.offer, *brief.facts, *brief.constraints]
    if brief.send_date:
        parts.append(_date_words(brief.send_date))
    return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class _Reference:
    text: str  # normalised
    numbers: set[str]
    words: set[str]

    @classmethod
    def of(cls, brief: Brief, brand: BrandKit) -> _Reference:
        raw = reference_text(brief, brand)
        return cls(_norm(raw), _numbers(raw), set(word_tokens(raw)))

    def has_phrase(self, phrase: str) -> bool:
        return re.search(r"(?<!\w)" + re.escape(_norm(phrase)) + r"(?!\w)", self.text) is not None


def _phrase_hits(text: str, phrases: tuple[str, ...] | list[str]) -> Iterator[str]:
    low = _norm(text)
    for phrase in phrases:
        if re.search(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", low):
            yield phrase


def _title_case(text: str) -> bool:
    words = [w for w in re.findall(r"[^\W\d_]+", text) if len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) > 0.6


def ungrounded(text: str, brief: Brief, brand: BrandKit) -> list[str]:
    """The tokens of `text` that state a fact the brand kit and the brief do not give."""
    ref = _Reference.of(brief, brand)
    text = prose(text)
    found: list[str] = []
    for match in _NUMBER_RE.finditer(text):
        raw = match.group(0)
        if not all(_canonical_number(p) in ref.numbers for p in re.split(r":", raw.lstrip("#"))):
            found.append(raw)
    for match in _CODE_RE.finditer(text):
        if not ref.has_phrase(match.group(0)):
            found.append(match.group(0))
    days = {w.removesuffix("s") for w in ref.words}
    for match in re.finditer(r"[A-Za-z]+", text):
        word = match.group(0).lower().removesuffix("s")
        if word in _WEEKDAYS and word not in days:
            found.append(match.group(0))
    for match in re.finditer(r"\b(" + "|".join(_MONTHS) + r")\b\.?", text, re.IGNORECASE):
        word = match.group(1)
        if word[0].isupper() and word.lower() not in ref.words:
            found.append(word)
    may = re.finditer(
        r"(?:\d\s+May\b|\b(?:in|on|until|from|this|by|early|late|mid)\s+May\b|\bMay\s+\d)", text
    )
    found += [m.group(0) for m in may if "may" not in ref.words]
    found += [p for p in _phrase_hits(text, _NAMED_DAYS) if not ref.has_phrase(p)]
    found += [p for p in _phrase_hits(text, _DEADLINES) if not ref.has_phrase(p)]
    found += [p for p in _phrase_hits(text, _CLAIMS) if not ref.has_phrase(p)]
    found += [p for p in _phrase_hits(text, _ENDED) if not ref.has_phrase(p)]
    if "#1" in text and "#1" not in ref.text:
        found.append("#1")
    if not _title_case(text):
        for match in _PLACE_RE.finditer(text):
            place = match.group(1).rstrip(".'’")
            first = place.split()[0].lower().rstrip("'’s")
            if first in _NOT_PLACES or first in ref.words or ref.has_phrase(place):
                continue
            if all(w.lower() in ref.words for w in word_tokens(place)):
                continue
            found.append(place)
    return list(dict.fromkeys(found))


def _check_grounding(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    evidence = []
    for name, text in copy_fields(draft):
        for token in ungrounded(text, brief, brand):
            evidence.append(f"{name}: {token!r}")
    if not evidence:
        return []
    message = "states facts that are not in the brand kit or the brief"
    return [Finding("block", message, evidence)]


_LABEL_RE = re.compile(
    r"\b(?:(?:high|medium|mid|low|big|top|heavy|light)[- ]?)?spend(?:ers?|ing tier)\b"
    r"|\b(?:customer|spend|spending|loyalty|price|value)\s+(?:tier|segment|bracket|band)s?\b"
    r"|\bsegments?\b|\bcohorts?\b|\brfm\b|\blapsed\b|\bone-time buyers?\b",
    re.IGNORECASE,
)


def _check_audience_label(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    known = _Reference.of(brief, brand)
    labels = [
        _norm(re.sub(r"[-_]+", " ", s.name))
        for s in brief.segments
        if re.search(r"[-_ ]", s.name.strip()) and not known.has_phrase(re.sub(r"[-_]+", " ", s.name))
    ]
    evidence = []
    for name, text in copy_fields(draft):
        plain = _norm(re.sub(r"[-_]+", " ", prose(text)))
        for match in _LABEL_RE.finditer(prose(text)):
            if not known.has_phrase(match.group(0)):
                evidence.append(f"{name}: {match.group(0)}")
        evidence += [f"{name}: {label}" for label in labels if re.search(rf"\b{re.escape(label)}\b", plain)]
    echoes = list(dict.fromkeys(_description_echoes(draft, brief, known)))
    findings = []
    if evidence:
        findings.append(
            Finding("block", "speaks the segment's label to the reader", list(dict.fromkeys(evidence)))
        )
    if echoes:
        findings.append(Finding("block", "tells the reader how the marketer describes them", echoes))
    return findings


# a segment's description said back to the reader with its judgement of them ("you order often
# and spend the most", "you bought once or rarely") is the marketer's targeting note, not copy;
# the reader's history in plain words ("you had hot cross buns from us last Easter") is fine
_ECHO_WORDS = 3
_JUDGEMENT = frozenset({
    "spend", "spends", "spent", "spending", "spender", "spenders", "rarely", "seldom",
    "often", "frequently", "frequent", "infrequent", "infrequently", "value", "valuable", "loyal",
    "lapsed", "inactive", "dormant", "churned", "engaged", "unengaged", "low", "high", "medium", "top",
})  # fmt: skip


def _description_echoes(draft: EmailDraft, brief: Brief, known: _Reference) -> Iterator[str]:
    for segment in brief.segments:
        described = word_tokens(segment.description or "")
        if len(described) < _ECHO_WORDS:
            continue
        for name, text in copy_fields(draft):
            for run in shared_runs(word_tokens(text), described, _ECHO_WORDS):
                phrase = " ".join(run)
                if _JUDGEMENT.intersection(run) and not known.has_phrase(phrase):
                    yield f"{name}: {phrase}"


_STOP = frozenset({
    "a", "an", "the", "of", "to", "for", "with", "and", "or", "but", "in", "on", "at", "by", "from",
    "into", "as", "is", "are", "be", "it", "its", "this", "that", "these", "those", "you", "your",
    "we", "our", "us", "any", "all", "every", "each", "about", "mention", "mentioning", "say", "use",
    "using", "give", "giving", "promise", "offer", "talk", "refer", "include", "including", "note",
    "highlight", "remind", "tell", "them", "they", "there", "their", "what", "which", "who", "how",
    "when", "where", "than", "then", "so", "not", "no", "never", "do", "don't", "does", "make",
    "sure", "always", "please", "e-mail", "email", "copy",
})  # fmt: skip

_NEGATIVE_RE = re.compile(
    r"^\s*(?:please\s+)?(?:do not|don't|never|avoid|no)\s+(?:(?:mention|mentioning|use|using|say|"
    r"promise|give|giving|offer|talk about|refer to|include|write about|discuss)\s+)?(?P<what>.+?)\.?\s*$",
    re.IGNORECASE,
)
_POSITIVE_RE = re.compile(
    r"^\s*(?:please\s+)?(?:mention|say|include|note|highlight|remind (?:them|readers|the reader)|"
    r"tell (?:them|readers|the reader))\b(?:\s+that)?\s+(?P<what>.+?)\.?\s*$",
    re.IGNORECASE,
)
_WORD_LIMIT_RE = re.compile(
    r"\b(?:under|at most|no more than|fewer than|less than|maximum of|max\.?|up to)\s+(\d+)\s+words\b", re.I
)
_MONEY_RE = re.compile(r"[$€£]\s?\d|\d\s?(?:USD|EUR|GBP|dollars|pounds|euros)\b", re.IGNORECASE)


def _stem(word: str) -> str:
    word = word.lower().replace("’", "'").removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _content(text: str) -> set[str]:
    return {_stem(w) for w in word_tokens(text) if len(w) >= 3 and w not in _STOP and not w.isdigit()}


def _sentences(draft: EmailDraft) -> Iterator[tuple[str, str]]:
    for name, text in copy_fields(draft):
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if sentence.strip():
                yield name, sentence


def _check_brief_rules(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    findings: list[Finding] = []
    copy_words = {_stem(w) for _, text in copy_fields(draft) for w in word_tokens(text)}
    for rule in brief.constraints:
        limit = _WORD_LIMIT_RE.search(rule)
        if limit:
            count = len(re.findall(r"\S+", " ".join(draft.body)))
            if count > int(limit.group(1)):
                findings.append(
                    Finding("block", f"the body has {count} words; the brief says {rule!r}", [rule])
                )
            continue
        negative = _NEGATIVE_RE.match(rule)
        if negative:
            banned = _content(negative.group("what"))
            money = any(w in {"price", "cost", "pricing"} for w in banned)
            for name, sentence in _sentences(draft):
                words = {_stem(w) for w in word_tokens(sentence)}
                if (banned and banned <= words) or (money and _MONEY_RE.search(sentence)):
                    findings.append(
                        Finding("block", f"breaks the brief's rule {rule!r}", [f"{name}: {sentence}"])
                    )
            continue
        positive = _POSITIVE_RE.match(rule)
        if positive:
            wanted = _content(positive.group("what"))
            missing = sorted(wanted - copy_words)
            if wanted and len(missing) > len(wanted) / 2:
                findings.append(
                    Finding(
                        "warn",
                        f"does not cover the brief's rule {rule!r}",
                        [f"missing: {', '.join(missing)}"],
                    )
                )
    return findings


def coverage(draft: EmailDraft, brief: Brief) -> float:
    """Share of the goal's, offer's and positive rules' content words that the copy uses, 0..1."""
    wanted = _content(brief.goal) | _content(brief.offer)
    for rule in brief.constraints:
        positive = _POSITIVE_RE.match(rule)
        if positive:
            wanted |= _content(positive.group("what"))
    if not wanted:
        return 1.0
    copy_words = {_stem(w) for _, text in copy_fields(draft) for w in word_tokens(text)}
    return len(wanted & copy_words) / len(wanted)


GATES: tuple[Gate, ...] = (
    Gate(
        "grounding",
        "block",
        "numbers, codes, dates, places and claims only from the brand kit and the brief",
        _check_grounding,
    ),
    Gate("audience_label", "block", "the segment's label is never said to the reader", _check_audience_label),
    Gate(
        "brief_rules",
        "block",
        "the brief's constraints are obeyed where a rule can check them",
        _check_brief_rules,
    ),
)
