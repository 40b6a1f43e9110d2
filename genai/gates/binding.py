"""The fact-binding gate: a number or a date the copy states is said of what its source says.

Grounding checks that each number, date and month of the copy appears somewhere in the brand
kit or the brief. Binding checks, sentence by sentence, that it is said of the same thing:

- A fact keeps its kind: a percentage, a price, a plain number, a day of a month, a month, a
  weekday. "20" is not grounded by "20%" ("the 20% discount is worth 20 bucks").
- A sentence stating a fact shares a word with a source that states it (a brief fact, the
  offer, the goal, a rule, a product, the brand's own text): "The sale runs from Friday 18
  December" is unbound when 18 December is when "orders placed by Friday 18 December arrive
  before Christmas". Words match on their stem, and a few groups of words count as one
  (sale / save / discount / off; order / buy / shop; arrive / delivery / ship; end / until /
  last).
- An amount its source states exactly is not hedged ("about 20% off", "up to 20% off" of an
  offer of 20% off); one its source hedges may be.
- A month said without its day is unbound when every source naming that month gives a day
  ("the sale runs through the end of December" when it ends on 13 December).
- A product's price binds to a sentence that names that product by a word of its name that no
  other product's name has ("Every candle is 28.00 USD" with two candles on the page).

Facts stated only by the send date, the brand's address or its contact details are left to
grounding. `unbound` gives the unbound facts of one sentence, for the gate and for the
sentence trimming in `genai.trim`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.base import Finding, Gate
from genai.gates.text import copy_fields, prose, word_tokens
from genai.sentences import sentences

__all__ = ["GATES", "FactToken", "fact_tokens", "unbound"]

_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
_MONTH_SHORT = {m[:3]: m for m in _MONTH_NAMES} | {"sept": "september"}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_ALT = "|".join(sorted({*_MONTH_NAMES, *_MONTH_SHORT}, key=len, reverse=True))
_NUM = r"\d+(?:[.,:]\d+)*"
_DATE_RE = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({_MONTH_ALT})\b\.?"
    rf"|\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b",
    re.IGNORECASE,
)
_PERCENT_RE = re.compile(rf"({_NUM})\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)
_MONEY_RE = re.compile(
    rf"[$€£]\s?({_NUM})|({_NUM})\s?(?:usd|eur|gbp|dollars?|pounds?|euros?|bucks)\b", re.IGNORECASE
)
_NUMBER_RE = re.compile(rf"(?<![\w.,:]){_NUM}")
_RANGE_RE = re.compile(r"(?:st|nd|rd|th)?\s*(?:to|and|or|until|till|through|-|–|,)\s*", re.IGNORECASE)
_MONTH_RE = re.compile(rf"\b({_MONTH_ALT})\b", re.IGNORECASE)
_WEEKDAY_RE = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")s?\b", re.IGNORECASE)

# Words that say nothing about what a fact is of.
_GENERIC = frozenset({
    "a", "an", "the", "of", "to", "for", "with", "and", "or", "but", "in", "on", "at", "by", "from",
    "into", "as", "is", "are", "was", "be", "it", "its", "this", "that", "these", "those", "you",
    "your", "we", "our", "us", "any", "all", "every", "each", "about", "around", "some", "one",
    "them", "they", "there", "their", "what", "which", "who", "how", "when", "where", "than", "then",
    "so", "not", "no", "do", "has", "have", "will", "can", "just", "more", "most", "only", "also",
    "up", "out", "get", "got", "before", "after", "over", "under", "per", "mention", "that's",
    "it's", "we're", "you're", "i", "my", "me", "if", "new", "now", "here",
})  # fmt: skip
# Words that stand for the same thing when a fact is said of it.
_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"sale", "save", "saving", "discount", "off", "offer", "deal", "promo", "reduc"}),
    frozenset({"order", "buy", "shop", "purchas", "checkout"}),
    frozenset({"arriv", "deliver", "ship", "post", "dispatch"}),
    frozenset({"end", "until", "last", "close", "finish", "through"}),
    frozenset({"open", "start", "begin", "from"}),
    frozenset({"join", "sign", "signup", "enrol", "regist", "member"}),
)


_NUMERIC = frozenset({"percent", "money", "number"})


@dataclass(frozen=True)
class FactToken:
    """A fact the text states: its kind and its value in a canonical form, as written."""

    kind: str  # "percent", "money", "number", "date", "month" or "weekday"
    value: str
    text: str
    of_date: str | None = None  # a weekday written with its date ("Sunday 13 December"): that date


def _canonical(raw: str) -> str:
    raw = raw.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", raw) else raw.replace(",", ".")
    if "." in raw and ":" not in raw:
        raw = raw.rstrip("0").rstrip(".")
    return raw.lstrip("0") or "0"


def _month(word: str) -> str:
    low = word.lower().rstrip(".")
    return _MONTH_SHORT.get(low, low)


def fact_tokens(text: str) -> list[FactToken]:
    """The percentages, prices, numbers, dates, months and weekdays `text` states."""
    text = prose(text)
    placed: list[tuple[int, int, FactToken]] = []  # (start, end, token)

    def free(match: re.Match[str]) -> bool:
        return not any(a < match.end() and match.start() < b for a, b, _ in placed)

    def dates_after(end: int, gap: int | None = None) -> list[FactToken]:
        return [
            t for start, _, t in sorted(placed, key=lambda p: p[0])
            if t.kind == "date" and start >= end and (gap is None or start - end <= gap)
        ]  # fmt: skip

    for match in _DATE_RE.finditer(text):
        day, month = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        if month == "may":
            continue  # "we may 3D-print it" is not a date; "May 4" is
        placed.append((*match.span(), FactToken("date", f"{int(day)} {_month(month)}", match.group(0))))
    for kind, pattern in (("percent", _PERCENT_RE), ("money", _MONEY_RE)):
        for match in pattern.finditer(text):
            if free(match):
                value = next(g for g in match.groups() if g)
                placed.append((*match.span(), FactToken(kind, _canonical(value), match.group(0))))
    for match in _NUMBER_RE.finditer(text):
        if not free(match):
            continue
        raw = match.group(0)
        later = dates_after(match.end())
        if later and raw.isdigit() and int(raw) <= 31 and _RANGE_RE.match(text, match.end()):
            # the first day of a range: "from Monday 3 to Sunday 9 March", "between 3 and 16 August"
            token = FactToken("date", f"{int(raw)} {later[0].value.split()[1]}", raw)
        else:
            token = FactToken("number", _canonical(raw), raw)
        placed.append((*match.span(), token))
    for match in _MONTH_RE.finditer(text):
        word = match.group(1)
        if free(match) and (word[0].isupper() and word.lower() != "may"):
            placed.append((*match.span(), FactToken("month", _month(word), word)))
    for match in _WEEKDAY_RE.finditer(text):
        after = dates_after(match.end(), gap=2)
        of_date = after[0].value if after else None
        placed.append((*match.span(), FactToken("weekday", match.group(1).lower(), match.group(0), of_date)))
    return [t for _, _, t in placed]


def _stem(word: str) -> str:
    """A crude stem, the same for "class" and "classes", "candle" and "candles", "arrive" and "arriving"."""
    word = word.lower().replace("’", "'").removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) >= 5:
        word = word[:-1]
    return word[:6]


def _same_stem(stem: str, member: str) -> bool:
    return len(stem) >= 3 and (stem.startswith(member) or member.startswith(stem))


def _anchors(text: str) -> set[str]:
    """The stems of the words that say what a fact is of (no numbers, dates or generic words)."""
    out: set[str] = set()
    for word in word_tokens(text):
        low = word.lower()
        if low in _GENERIC or low.isdigit() or low in _WEEKDAYS or _month(low) in _MONTH_NAMES:
            continue
        if len(low) < 3 and low != "off":
            continue
        stem = _stem(low)
        out.add(stem)
        out.update(g for group in _GROUPS if any(_same_stem(stem, m) for m in group) for g in group)
    return out


@dataclass(frozen=True)
class _Source:
    facts: frozenset[tuple[str, str]]
    anchors: frozenset[str]
    dated_months: frozenset[str]  # months this source names with a day
    bare_months: frozenset[str]  # months it names on their own
    last_days: dict[str, int]  # the latest day it gives of each dated month
    hedged: frozenset[tuple[str, str]] = frozenset()  # amounts it states as "up to", "about"...


def _source(text: str, anchors: set[str] | None = None) -> _Source:
    tokens = fact_tokens(text)
    dated = {t.value.split()[1] for t in tokens if t.kind == "date"}
    bare = {t.value for t in tokens if t.kind == "month"}
    facts = {(t.kind, t.value) for t in tokens}
    facts |= {("month", m) for m in dated}
    last: dict[str, int] = {}
    for t in tokens:
        if t.kind == "date":
            day, month = t.value.split()
            last[month] = max(last.get(month, 0), int(day))
    return _Source(
        frozenset(facts),
        frozenset(_anchors(text) if anchors is None else anchors),
        frozenset(dated),
        frozenset(bare),
        last,
        frozenset((t.kind, t.value) for t in tokens if _hedge(text, t)),
    )


_HEDGE_RE = re.compile(
    # "added up to 640 pounds" totals, it does not hedge
    r"\b(?:about|around|roughly|nearly|almost|approximately|(?<!add\s)(?<!adds\s)(?<!added\s)up\s+to|"
    r"over|more\s+than|at\s+least|"
    r"as\s+much\s+as)\s+$",
    re.IGNORECASE,
)


def _hedge(text: str, token: FactToken) -> str | None:
    """The hedge written before an amount ("about 20%", "up to $50"), if any."""
    if token.kind not in ("percent", "money"):
        return None
    for match in re.finditer(re.escape(token.text), text):
        hedge = _HEDGE_RE.search(text, 0, match.start())
        if hedge is not None:
            return hedge.group(0).strip()
    return None


def _sources(brief: Brief, brand: BrandKit) -> list[_Source]:
    texts = [brief.goal, brief.offer, *brief.facts, *brief.constraints, brand.tagline]
    texts += sentences(brand.description or "")
    out = [_source(t) for t in texts if t]
    names = [_anchors(p.name) for p in brand.products]
    for i, product in enumerate(brand.products):
        others = set().union(*(n for j, n in enumerate(names) if j != i))
        own = names[i] - others or names[i]
        out.append(_source(f"{product.name} {product.price or ''}", own))
    return out


def unbound(sentence: str, brief: Brief, brand: BrandKit) -> list[str]:
    """The facts of one copy sentence that are not said of what their source says them of."""
    return _unbound(sentence, _sources(brief, brand)) + _offer_dated_wrongly(sentence, brief)


_SALE_RE = re.compile(r"\b(?:sale|offer|discount|off|save|savings|deal|promotion|code)\b", re.IGNORECASE)
_CLAUSE_RE = re.compile(r",\s+(?:and|but|so|while|which)\s+|;\s+")


def _offer_dated_wrongly(sentence: str, brief: Brief) -> list[str]:
    """Dates a clause ties the offer to that the brief gives for something else: "Order by Friday
    18 December and every candle is 20% off", when 18 December is the delivery cut-off and the sale
    ends on the 13th. The offer's own dates are those of the offer and of the brief's lines that
    speak of the sale."""
    amounts = {(t.kind, t.value) for t in fact_tokens(brief.offer) if t.kind in ("percent", "money")}
    if not amounts:
        return []
    lines = [brief.offer, brief.goal, *brief.facts, *brief.constraints]
    own = {
        t.value
        for line in lines
        if line is brief.offer or _SALE_RE.search(line)
        for t in fact_tokens(line)
        if t.kind == "date"
    }
    wrong: list[str] = []
    for clause in _CLAUSE_RE.split(sentence):
        tokens = fact_tokens(clause)
        if amounts & {(t.kind, t.value) for t in tokens}:
            wrong += [
                f"{t.text} (a date the brief gives for something other than the offer)"
                for t in tokens
                if t.kind == "date" and t.value not in own
            ]
    return wrong


def _whole_month_re(month: str) -> re.Pattern[str]:
    """ "all December", "through the end of December": the month as a whole, not one day of it."""
    return re.compile(
        r"\b(?:all|throughout|through|thru|until|till|end of)\s+(?:(?:of\s+)?the\s+)?(?:end\s+of\s+)?"
        + re.escape(month)
        + r"\b",
        re.IGNORECASE,
    )


def _unbound(sentence: str, sources: list[_Source]) -> list[str]:
    tokens = fact_tokens(sentence)
    if not tokens:
        return []
    words = _anchors(sentence)
    about = [s for s in sources if s.anchors & words]  # the sources this sentence speaks of
    days_said = {t.value.split()[1] for t in tokens if t.kind == "date"}
    found: list[str] = []
    for token in tokens:
        key = (token.kind, token.value)
        holding = [s for s in sources if key in s.facts]
        if not holding:
            # a number its sources state only as another kind is not that number ("20" of "20%")
            if token.kind in _NUMERIC and any(
                (kind, token.value) in s.facts for s in sources for kind in _NUMERIC - {token.kind}
            ):
                found.append(token.text)
            continue  # otherwise grounding's to judge
        hedge = _hedge(sentence, token)
        if hedge is not None and not any(key in s.hedged for s in holding):
            # "every candle is yours for about 20% off", of an offer of 20% off
            found.append(f"{hedge} {token.text} (stated exactly in its source)")
            continue
        if token.kind == "month":
            # "through the end of December", of a sale that ends on 13 December
            if token.value not in days_said and _whole_month_re(token.text).search(sentence):
                ends = [s.last_days.get(token.value, 0) for s in about if token.value in s.dated_months]
                if ends and max(ends) < 28 and all(token.value not in s.bare_months for s in holding):
                    found.append(f"{token.text} (without its day)")
            continue
        if token.of_date is not None:
            # judged with its date; it only has to be that date's weekday
            if not any(("date", token.of_date) in s.facts for s in holding) and any(
                ("date", token.of_date) in s.facts for s in sources
            ):
                found.append(f"{token.text} {token.of_date}")
            continue
        if token.kind not in ("date", "weekday") or any(s in about for s in holding):
            continue
        if any(kind == token.kind for s in about for kind, _ in s.facts):
            # the sentence speaks of something whose own date is another one
            found.append(token.text)
    return list(dict.fromkeys(found))


def _check_binding(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    sources = _sources(brief, brand)
    evidence = []
    for name, text in copy_fields(draft):
        if name == "cta_label":
            continue
        for sentence in sentences(text) or [text]:
            for token in _unbound(sentence, sources):
                evidence.append(f"{name}: {token!r} in {sentence!r}")
    if not evidence:
        return []
    return [Finding("block", "states a fact of something its source does not say it of", evidence)]


GATES: tuple[Gate, ...] = (
    Gate(
        "fact_binding",
        "block",
        "each number and date is said of what the brand kit or the brief says it of",
        _check_binding,
    ),
)
