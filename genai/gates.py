"""Quality gates a model-written draft must pass before anyone can use it.

Every gate reads the draft, the brief and the brand kit and gives one `GateResult`. A gate's
`severity` in `GATES` is the worst verdict it can give; gates with two levels (say, subject
length) report "warn" for the milder finding and "block" for the serious one.

Thresholds, chosen to be strict on what mail filters and readers punish and lenient on style:

- subject_length: warn past 60 characters, block past 100 (surrounding spaces ignored,
  merge tags counted as written).
- preheader_length: warn outside 40..110 characters.
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
- empty_fields: block on an empty required field; for English briefs, warn when a field's last
  word is one no sentence ends on (an article, a preposition, a conjunction, a possessive), as
  when the model's text was cut at a length limit.
- exemplar_echo: warn when a field shares 3 or more words in a row with a few-shot example
  email and those words include one that is neither generic marketing language nor in the
  brand kit or the brief ("Book a tune-up" in a candle shop's email comes from the bike shop
  example, "Spring is here" in a holiday sale from the tea one).
- offer_consistency: percentages count as offers only next to discount words ("off", "save",
  "up to"...), so "100% soy wax" is not an offer; currency amounts compare by value, not symbol.
  Discounts must come from the brief (offer, goal or constraints); plain prices may also be the
  brand's product prices; "free shipping" and "buy one get one" must be in the brief's words.
- merge_tags: conditions name a known field only (`*|IF:FNAME|*`); comparisons such as
  `*|IF:FNAME=Ann|*` are refused, as they are not among the known forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal
from urllib.parse import urlsplit

from genai.brand import BrandKit
from genai.brief import Brief
from genai.campaign import GateResult
from genai.draft import KNOWN_MERGE_TAGS, MERGE_TAG_RE, EmailDraft
from genai.prompts import exemplar_outputs

__all__ = ["GATES", "SPAM_PHRASES", "Finding", "Gate", "Severity", "blocking", "run_gates", "warnings"]

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
    """A named check; `severity` is the worst verdict it can give."""

    id: str
    severity: Severity
    description: str
    check: Check


# ---------------------------------------------------------------------------------------------
# Shared text scanning: one regex each for links, e-mail addresses and phone numbers.

_URL_CHARS = r"[^\s<>\"'()\[\]{}]"
_URL_RE = re.compile(
    # Not the tail of an e-mail address or of a longer host name.
    r"(?<![\w@.-])"
    rf"(?:https?://{_URL_CHARS}+"
    # Bare hosts use Unicode letters so a look-alike such as "brаnd.com" (Cyrillic a) is still seen.
    r"|(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?![\w@-])"
    rf"(?:[/?#]{_URL_CHARS}*)?)",
    re.IGNORECASE,
)
# File extensions that are not top-level domains, so "menu.pdf" is a file name, not a host.
_NOT_TLDS = frozenset(
    {
        "js",
        "css",
        "pdf",
        "jpg",
        "jpeg",
        "png",
        "gif",
        "svg",
        "webp",
        "txt",
        "csv",
        "json",
        "html",
        "htm",
        "xml",
    }
)

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

_PHONE_RE = re.compile(r"(?<![\w$€£%.,/+-])\+?\(?\d{1,12}\)?(?:[ .-]\(?\d{1,12}\)?){0,5}(?![\w%$€£]|[.,]\d)")
_PHONE_DIGITS = range(7, 16)
_DATE_RE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")

_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_TOKEN_RE = re.compile(r"\w+(?:['’]\w+)*")


def _copy_fields(draft: EmailDraft) -> list[tuple[str, str]]:
    """The fields the model wrote, by name: subject, preheader, headline, body[i], cta_label."""
    fields = draft.text_fields()
    return [(name, text) for name, text in fields.items() if name != "greeting"]


def _prose(text: str) -> str:
    """Text with merge tags, links and e-mail addresses blanked, for word-level scanning."""
    text = MERGE_TAG_RE.sub(" ", text)
    text = _EMAIL_RE.sub(" ", text)
    return _URL_RE.sub(" ", text)


def _urls(text: str) -> Iterator[str]:
    """Every link-like string in `text`, trailing sentence punctuation removed."""
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        if "://" not in url and url.split("/", 1)[0].rsplit(".", 1)[-1].lower() in _NOT_TLDS:
            continue
        yield url


def _phones(text: str) -> Iterator[str]:
    """Every phone-number-like string in `text` (7 to 15 digits, not a date)."""
    for match in _PHONE_RE.finditer(_EMAIL_RE.sub(" ", _URL_RE.sub(" ", text))):
        number = match.group(0)
        if len(_digits(number)) in _PHONE_DIGITS and not _DATE_RE.fullmatch(number):
            yield number


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _window(text: str, start: int, end: int, pad: int = 15) -> str:
    """The matched text with a little context either side, for evidence."""
    return text[max(0, start - pad) : end + pad].strip()


# ---------------------------------------------------------------------------------------------
# Lengths, capitals and punctuation.

_SUBJECT_WARN_CHARS = 60
_SUBJECT_BLOCK_CHARS = 100
_PREHEADER_CHARS = range(40, 111)


def _check_subject_length(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    size = len(draft.subject.strip())
    if size > _SUBJECT_BLOCK_CHARS:
        message = f"subject is {size} characters, over the limit of {_SUBJECT_BLOCK_CHARS}"
        return [Finding("block", message, [f"{size} characters", draft.subject])]
    if size > _SUBJECT_WARN_CHARS:
        message = f"subject is {size} characters; inboxes cut it after about {_SUBJECT_WARN_CHARS}"
        return [Finding("warn", message, [f"{size} characters", draft.subject])]
    return []


def _check_preheader_length(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    size = len(draft.preheader.strip())
    if size in _PREHEADER_CHARS:
        return []
    low, high = _PREHEADER_CHARS[0], _PREHEADER_CHARS[-1]
    message = f"preheader is {size} characters, outside {low}..{high}"
    return [Finding("warn", message, [f"{size} characters", draft.preheader])]


_CAPS_WARN_RATIO = 0.3
_CAPS_MIN_WORDS = 5
_CAPS_SUBJECT_BLOCK_WORDS = 4
# Upper-case by convention, so not shouting; ambiguous ones ("US", "IT") are left to count.
_ACRONYMS = frozenset({
    "USA", "UK", "EU", "UN", "FAQ", "FAQS", "DIY", "VIP", "CEO", "PM", "AM", "OK", "TV", "PDF", "SMS",
    "USB", "LED", "ID", "NYC", "LA", "DC", "HQ", "QA", "UV", "HR", "USD", "EUR", "GBP", "CAD", "AUD",
    "XS", "XL", "XXL", "XXXL", "RSVP", "ASAP", "ETA", "FYI", "AI", "VR", "PS", "NB", "BBQ", "SPF", "PC",
})  # fmt: skip


def _caps_words(text: str, ignore: frozenset[str]) -> tuple[list[str], list[str]]:
    """The words of 2+ letters that count, and those of them in capitals."""
    words = [w for w in _WORD_RE.findall(_prose(text)) if len(w) >= 2 and w.upper() not in ignore]
    return words, [w for w in words if w.isupper()]


def _check_all_caps(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    ignore = _ACRONYMS | {w.upper() for w in _WORD_RE.findall(brand.name) if w.isupper()}
    findings: list[Finding] = []
    subject_words, subject_caps = _caps_words(draft.subject, ignore)
    if len(subject_words) >= _CAPS_SUBJECT_BLOCK_WORDS and len(subject_caps) == len(subject_words):
        findings.append(Finding("block", "subject is written entirely in capitals", [draft.subject]))
    elif len(subject_caps) >= 3 and len(subject_caps) > len(subject_words) / 2:
        message = f"{len(subject_caps)} of the subject's {len(subject_words)} words are in capitals"
        findings.append(Finding("warn", message, subject_caps))
    words, caps = _caps_words("\n".join([draft.subject, draft.headline, *draft.body]), ignore)
    if len(words) >= _CAPS_MIN_WORDS and len(caps) / len(words) > _CAPS_WARN_RATIO:
        message = f"{len(caps) / len(words):.0%} of the words are in capitals (limit {_CAPS_WARN_RATIO:.0%})"
        findings.append(Finding("warn", message, list(dict.fromkeys(caps))[:10]))
    return findings


_PUNCT_RUN_RE = re.compile(r"[!?]{2,}")


def _check_excess_punctuation(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    findings: list[Finding] = []
    for name, text in _copy_fields(draft):
        for match in _PUNCT_RUN_RE.finditer(text):
            evidence = [f"{name}: {_window(text, match.start(), match.end())}"]
            if len(match.group(0)) >= 3:
                findings.append(Finding("block", f"{len(match.group(0))} marks in a row in {name}", evidence))
            else:
                findings.append(Finding("warn", f"doubled punctuation in {name}", evidence))
    if draft.subject.count("!") > 1:
        message = f"subject has {draft.subject.count('!')} exclamation marks"
        findings.append(Finding("warn", message, [f"subject: {draft.subject}"]))
    return findings


# ---------------------------------------------------------------------------------------------
# Spam trigger phrases.

_SPAM_BLOCK_DISTINCT = 3
# Classic phrases that content filters score; common retail calls to action ("shop now") are
# left out on purpose because they are not what filters punish.
SPAM_PHRASES: tuple[str, ...] = (
    "act now", "act immediately", "action required", "100% free", "absolutely free", "risk-free",
    "no risk", "click here", "click below", "guaranteed", "winner", "you are a winner",
    "you have been selected", "you've been selected", "congratulations", "cash bonus", "no obligation",
    "no strings attached", "no catch", "no hidden fees", "no credit check", "no purchase necessary",
    "no questions asked", "free money", "free cash", "fast cash", "earn money", "make money",
    "extra income", "double your income", "be your own boss", "work from home", "get paid",
    "million dollars", "once in a lifetime", "limited time only", "urgent", "don't delete",
    "what are you waiting for", "this won't last", "amazing deal", "incredible deal", "lowest price",
    "best price", "bargain", "cheap", "dear friend", "miracle", "verify your account",
    "account suspended", "claim your prize", "prize", "money back", "pre-approved", "call now",
    "order now", "apply now", "instant access", "lose weight", "as seen on", "$$$",
)  # fmt: skip


def _normalize_phrase(text: str) -> str:
    return re.sub(r"[\s-]+", " ", text.lower().replace("’", "'")).strip()


_SPAM_RE = re.compile(
    r"(?<!\w)(?:"
    + "|".join(
        r"[\s-]+".join(re.escape(part) for part in _normalize_phrase(phrase).split(" "))
        for phrase in sorted(SPAM_PHRASES, key=len, reverse=True)
    )
    + r")(?!\w)",
    re.IGNORECASE,
)


def _check_spam_phrases(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    hits: dict[str, list[str]] = {}
    for name, text in _copy_fields(draft):
        for match in _SPAM_RE.finditer(MERGE_TAG_RE.sub(" ", text.replace("’", "'"))):
            hits.setdefault(_normalize_phrase(match.group(0)), []).append(f"{name}: {match.group(0)}")
    if not hits:
        return []
    severity: Severity = "block" if len(hits) >= _SPAM_BLOCK_DISTINCT else "warn"
    message = f"{len(hits)} spam trigger phrase(s): {', '.join(sorted(hits))}"
    return [Finding(severity, message, [e for found in hits.values() for e in found])]


# ---------------------------------------------------------------------------------------------
# Merge tags.

_CONTROL_TAGS = frozenset({"IF", "IFNOT", "ELSE", "END:IF"})
_MERGE_FIELDS = KNOWN_MERGE_TAGS - _CONTROL_TAGS
_CONDITION_RE = re.compile(r"(IF|IFNOT):(.+)")
# Starting the "FNAME|*" form only at a token boundary keeps the scan linear on long text.
_BROKEN_TAG_RE = re.compile(r"\*\|[^\s|*]*|(?<![^\s|*])[^\s|*]*\|\*|\|[A-Z][A-Z0-9_:]*\|")
_PLACEHOLDER_RE = re.compile(
    r"\{\{[^{}\n]{0,60}\}\}|\{%[^{}\n]{0,60}%\}|\$?\{\s*[A-Za-z_]\w*\s*\}|%%\w+%%|%[A-Z][A-Z_]+%|<<[^<>\n]{1,40}>>"
    r"|\[\s*(?:insert\b[^\]\n]{0,40}|x{2,}|\.{3}|(?:your |first |last |full |customer |recipient "
    r"|company |brand |product |store )?(?:name|company|link|url|e-?mail(?: address)?|date|city"
    r"|phone(?: number)?|address|product|discount(?: code)?|promo code|code|offer|price|amount))\s*\]",
    re.IGNORECASE,
)


def _tag_problems(text: str) -> Iterator[tuple[str, str]]:
    """(problem, offending text) for each malformed, unknown or unbalanced tag in one field."""
    depth = 0
    for match in MERGE_TAG_RE.finditer(text):
        tag, name = match.group(0), match.group(1)
        condition = _CONDITION_RE.fullmatch(name)
        if condition:
            depth += 1
            if condition.group(2) not in _MERGE_FIELDS:
                yield f"unknown merge field {condition.group(2)!r} in a condition", tag
        elif name in ("ELSE", "ELSE:"):
            if depth == 0:
                yield "ELSE outside an IF block", tag
        elif name == "END:IF":
            if depth == 0:
                yield "END:IF without an IF", tag
            depth = max(0, depth - 1)
        elif name not in _MERGE_FIELDS:
            yield f"unknown merge tag {name!r}", tag
    if depth:
        yield f"{depth} IF block(s) never closed with *|END:IF|*", text
    rest = MERGE_TAG_RE.sub(" ", text)
    for match in _BROKEN_TAG_RE.finditer(rest):
        yield "broken merge tag", match.group(0)
    for match in _PLACEHOLDER_RE.finditer(rest):
        yield "template placeholder that is not a merge tag", match.group(0)


def _check_merge_tags(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    return [
        Finding("block", f"{problem} in {name}", [f"{name}: {snippet}"])
        for name, text in draft.text_fields().items()
        for problem, snippet in _tag_problems(text)
    ]


# ---------------------------------------------------------------------------------------------
# Links and contact details.


def _host(url: str) -> str | None:
    """The lower-case host of a link, with or without a scheme; None when it cannot be read."""
    try:
        return urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        return None


def _domain(entry: str) -> str:
    """An allowed-domain entry ("https://www.brand.com/", "*.brand.com") as a bare domain."""
    host = _host(entry.strip()) or ""
    return host.removeprefix("*.").removeprefix("www.").strip(".")


def _without_scheme(url: str) -> str:
    host, _, rest = url.split("://", 1)[-1].partition("/")
    return f"{host.lower()}/{rest}".rstrip("/")


def _link_allowed(url: str, cta_url: str, domains: Iterable[str]) -> bool:
    if _without_scheme(url) == _without_scheme(cta_url):
        return True
    host = _host(url)
    return host is not None and any(host == d or host.endswith(f".{d}") for d in domains if d)


def _check_links(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    domains = {_domain(d) for d in brand.allowed_domains}
    if brand.website:
        domains.add(_domain(brand.website))
    fields = [*draft.text_fields().items(), ("cta_url", draft.cta_url)]
    return [
        Finding(
            "block",
            f"link to {_host(url) or url} is neither the brief's CTA nor a brand domain",
            [f"{name}: {url}"],
        )
        for name, text in fields
        for url in _urls(text)
        if not _link_allowed(url, brief.cta_url, domains)
    ]


def _same_phone(a: str, b: str) -> bool:
    """Digit strings match, allowing a country code or trunk zero on one side only."""
    if a == b:
        return True
    a, b = a.lstrip("0"), b.lstrip("0")
    short, long = sorted((a, b), key=len)
    return len(short) >= 7 and len(long) - len(short) <= 3 and long.endswith(short)


def _check_contact_details(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    known_emails = {e.strip().lower().removeprefix("mailto:") for e in brand.emails}
    known_phones = [_digits(p) for p in brand.phones if _digits(p)]
    findings: list[Finding] = []
    for name, text in draft.text_fields().items():
        for email in _EMAIL_RE.findall(text):
            if email.lower() not in known_emails:
                message = f"e-mail address {email} is not in the brand kit"
                findings.append(Finding("block", message, [f"{name}: {email}"]))
        for phone in _phones(text):
            if not any(_same_phone(_digits(phone), known) for known in known_phones):
                message = f"phone number {phone} is not in the brand kit"
                findings.append(Finding("block", message, [f"{name}: {phone}"]))
    return findings


# ---------------------------------------------------------------------------------------------
# Degenerate text.

_REPEAT_WORD_RUN = 4
_REPEAT_PHRASE_RUN = 3
_DISTINCT_MIN_TOKENS = 40
_DISTINCT_MIN_RATIO = 0.3
_SENTENCE_MIN_TOKENS = 4
_ECHO_RUN_TOKENS = 8
_ECHO_WHOLE_MIN_TOKENS = 5


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN_RE.findall(_prose(text))]


def _runs(tokens: list[str]) -> Iterator[tuple[str, int]]:
    """(phrase, times) for each word or 2- to 5-word phrase repeated back to back too often."""
    for n in range(1, 6):
        needed = _REPEAT_WORD_RUN if n == 1 else _REPEAT_PHRASE_RUN
        i = 0
        while i + n <= len(tokens):
            gram, times, j = tokens[i : i + n], 1, i + n
            while tokens[j : j + n] == gram:
                times, j = times + 1, j + n
            if times >= needed:
                # A loop of one word is reported once, as a word, not again as "w w" and "w w w".
                if n == 1 or len(set(gram)) > 1:
                    yield " ".join(gram), times
                i = j
            else:
                i += 1


def _echoes(draft: EmailDraft) -> Iterator[Finding]:
    """A warning for each body paragraph that repeats the subject or the preheader."""
    for source_name, source in (("subject", draft.subject), ("preheader", draft.preheader)):
        source_tokens = _tokens(source)
        for i, para in enumerate(draft.body):
            run = max(_shared_runs(source_tokens, _tokens(para), 1), key=len, default=[])
            whole = len(run) == len(source_tokens) >= _ECHO_WHOLE_MIN_TOKENS
            if len(run) >= _ECHO_RUN_TOKENS or whole:
                yield Finding("warn", f"the body repeats the {source_name}", [f"body[{i}]: {' '.join(run)}"])


def _check_repetition(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    findings: list[Finding] = list(_echoes(draft))
    seen_runs: set[str] = set()
    for name, text in _copy_fields(draft):
        for phrase, times in _runs(_tokens(text)):
            if phrase not in seen_runs:
                seen_runs.add(phrase)
                findings.append(
                    Finding("block", f"{phrase!r} repeated {times} times in a row", [f"{name}: {phrase}"])
                )
    sentences: dict[tuple[str, ...], str] = {}
    for para in draft.body:
        for sentence in re.split(r"(?<=[.!?])\s+", para.strip()):
            key = tuple(_tokens(sentence))
            if len(key) < _SENTENCE_MIN_TOKENS:
                continue
            if key in sentences:
                findings.append(Finding("block", "a sentence is repeated in the body", [sentence]))
            sentences.setdefault(key, sentence)
    tokens = [t for _, text in _copy_fields(draft) for t in _tokens(text)]
    if len(tokens) >= _DISTINCT_MIN_TOKENS and len(set(tokens)) / len(tokens) < _DISTINCT_MIN_RATIO:
        ratio = len(set(tokens)) / len(tokens)
        message = f"only {ratio:.0%} of {len(tokens)} words are distinct (at least {_DISTINCT_MIN_RATIO:.0%})"
        findings.append(Finding("block", message, [f"{len(set(tokens))} distinct of {len(tokens)} words"]))
    return findings


# Words an English sentence does not end on: a field whose last word is one was cut off.
_UNFINISHED_ENDINGS = frozenset({
    "a", "an", "the", "of", "to", "for", "with", "and", "or", "but", "in", "on", "at", "by", "from",
    "into", "your", "our", "my", "their", "his", "her", "its", "this", "these", "that", "those",
    "you've", "we're", "you're", "it's", "is", "are", "was", "be",
})  # fmt: skip


def _unfinished(draft: EmailDraft) -> Iterator[str]:
    """Fields (by name) that stop on a word no sentence ends on, with that ending."""
    for name, text in _copy_fields(draft):
        words = _TOKEN_RE.findall(text)  # links and tags included: a text may end on one
        if words and words[-1].lower() in _UNFINISHED_ENDINGS and not text.rstrip().endswith(("?", ":")):
            yield f"{name}: ...{text.rstrip()[-30:]}"


def _check_empty_fields(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    required = {
        "subject": draft.subject,
        "preheader": draft.preheader,
        "headline": draft.headline,
        "cta_label": draft.cta_label,
        "cta_url": draft.cta_url,
    }
    empty = [name for name, text in required.items() if not text.strip()]
    empty += [f"body[{i}]" for i, para in enumerate(draft.body) if not para.strip()]
    if not draft.body:
        empty.append("body")
    findings = [Finding("block", f"empty field(s): {', '.join(empty)}", empty)] if empty else []
    if brief.language.split("-")[0] == "en":
        cut = list(_unfinished(draft))
        if cut:
            findings.append(Finding("warn", "text stops mid-sentence", cut))
    return findings


# ---------------------------------------------------------------------------------------------
# Few-shot examples: the model must not carry another business's words into this one's email.

_ECHO_MIN_RUN = 3
# Words any email may share with an example: function words and everyday marketing language.
_GENERIC_WORDS = frozenset({
    "a", "an", "the", "of", "to", "for", "with", "and", "or", "but", "in", "on", "at", "by", "from",
    "into", "as", "is", "are", "was", "be", "it", "its", "it's", "this", "that", "these", "those",
    "you", "your", "you're", "you've", "we", "our", "we're", "us", "my", "me", "so", "now", "new",
    "here", "there", "all", "any", "every", "each", "one", "more", "most", "just", "only", "get",
    "take", "save", "off", "shop", "buy", "order", "orders", "find", "first", "week", "month",
    "today", "day", "time", "thank", "thanks", "thank-you", "welcome", "ready", "keep", "keeps",
    "made", "make", "small", "little", "quick", "free", "best", "good", "great", "season", "favourite",
    "favorite", "discover", "explore", "try", "gift", "gifts", "home", "up", "out", "back", "book",
    "join", "learn", "see", "view", "visit", "browse", "claim", "start", "read", "call", "reserve",
})  # fmt: skip


def _vocabulary(brief: Brief, brand: BrandKit) -> set[str]:
    """Every word the brand kit and the brief give the model to write about."""
    texts = [brand.name, brand.tagline, brand.description, *brand.voice, *(p.name for p in brand.products)]
    texts += [brief.goal, brief.offer, *brief.constraints]
    texts += [f"{s.name} {s.description}" for s in brief.segments]
    return {t for text in texts for t in _tokens(text)}


def _shared_runs(a: list[str], b: list[str], least: int) -> Iterator[list[str]]:
    """Each maximal run of `least` or more tokens that `a` and `b` share."""
    previous = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        current = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] != b[j - 1]:
                continue
            current[j] = length = previous[j - 1] + 1
            extends = i < len(a) and j < len(b) and a[i] == b[j]
            if length >= least and not extends:
                yield a[i - length : i]
        previous = current


def _check_exemplar_echo(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    known = _vocabulary(brief, brand) | _GENERIC_WORDS
    evidence: list[str] = []
    for example_brand, example in exemplar_outputs():
        example_tokens = _tokens(example)
        for name, text in _copy_fields(draft):
            for run in _shared_runs(_tokens(text), example_tokens, _ECHO_MIN_RUN):
                if any(t not in known and not t.isdigit() for t in run):
                    evidence.append(f"{name}: {' '.join(run)} (from the {example_brand} example)")
    if not evidence:
        return []
    return [Finding("warn", "words copied from a few-shot example about another business", evidence)]


# ---------------------------------------------------------------------------------------------
# Offers: discounts, prices and promises must come from the brief or the brand's prices.

_AMOUNT_RE = re.compile(
    r"(?P<pct>(?<![\w.])\d{1,3}(?:\.\d+)?\s?%)"
    r"|(?P<money>[$€£]\s?\d[\d,]*(?:\.\d+)?|(?<![\w.])\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP)\b)",
    re.IGNORECASE,
)
_OFFER_AFTER_RE = re.compile(r"\s*(?:off|discount|savings?|cash\s?back|back|credit)\b", re.IGNORECASE)
_OFFER_BEFORE_RE = re.compile(r"\b(?:save|saving|extra|up to|take|get|enjoy|discount of)\s*$", re.IGNORECASE)
_PROMISES = {
    "free shipping": re.compile(r"\bfree\s+(?:shipping|delivery)\b|\bships?\s+(?:for\s+)?free\b", re.I),
    "buy one get one": re.compile(r"\bbuy\s+one,?\s+get\s+one\b|\bbogo\b", re.I),
}

Amount = tuple[str, Decimal]  # ("pct" or "money", value)


def _value(text: str) -> Decimal | None:
    number = re.search(r"\d[\d,]*(?:\.\d+)?", text)
    if not number:
        return None
    digits = number.group(0)
    # "19,99" is a decimal comma; "1,299" is a thousands separator.
    digits = digits.replace(",", ".") if re.fullmatch(r"\d+,\d{2}", digits) else digits.replace(",", "")
    try:
        return Decimal(digits).normalize()
    except InvalidOperation:
        return None


def _amounts(text: str) -> Iterator[tuple[Amount, bool, re.Match[str]]]:
    """(amount, reads as a discount, match) for each percentage or currency amount."""
    for match in _AMOUNT_RE.finditer(text):
        value = _value(match.group(0))
        if value is None:
            continue
        before = text[max(0, match.start() - 25) : match.start()]
        after = text[match.end() : match.end() + 25]
        is_offer = bool(_OFFER_AFTER_RE.match(after) or _OFFER_BEFORE_RE.search(before))
        yield ("pct" if match.group("pct") else "money", value), is_offer, match


def _check_offer_consistency(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    brief_text = "\n".join([brief.offer, brief.goal, *brief.constraints])
    offered = {amount for amount, _, _ in _amounts(brief_text)}
    prices = {("money", v) for p in brand.products if p.price for v in [_value(p.price)] if v is not None}
    findings: list[Finding] = []
    found: set[Amount] = set()
    for name, text in _copy_fields(draft):
        prose = _prose(text)
        for amount, is_offer, match in _amounts(prose):
            found.add(amount)
            kind, _ = amount
            if kind == "pct" and not is_offer:
                continue  # "100% soy wax" is a fact, not an offer
            allowed = offered if is_offer else offered | prices
            if amount not in allowed:
                what = "discount" if is_offer else "price"
                message = f"{what} {match.group(0).strip()} in {name} is not in the brief's offer"
                findings.append(
                    Finding("block", message, [f"{name}: {_window(prose, match.start(), match.end())}"])
                )
        for promise, pattern in _PROMISES.items():
            hit = pattern.search(prose)
            if hit and not pattern.search(brief_text):
                message = f"{promise!r} promise in {name} is not in the brief's offer"
                findings.append(Finding("block", message, [f"{name}: {hit.group(0)}"]))
    discount = brief.discount
    if discount:
        wanted = next((amount for amount, _, _ in _amounts(discount)), None)
        if wanted is not None and wanted not in found:
            findings.append(
                Finding("warn", f"the brief's discount {discount} is not in the draft", [discount])
            )
    return findings


# ---------------------------------------------------------------------------------------------
# Registry and runner.

GATES: tuple[Gate, ...] = (
    Gate(
        "subject_length",
        "block",
        "subject of 60 characters or fewer; blocked past 100",
        _check_subject_length,
    ),
    Gate("preheader_length", "warn", "preheader of 40 to 110 characters", _check_preheader_length),
    Gate("all_caps", "block", "not shouting in capitals", _check_all_caps),
    Gate(
        "excess_punctuation",
        "block",
        "no runs of '!' or '?', one '!' at most in the subject",
        _check_excess_punctuation,
    ),
    Gate("spam_phrases", "block", "no spam trigger phrases", _check_spam_phrases),
    Gate(
        "merge_tags",
        "block",
        "well-formed, known and balanced merge tags; no other placeholders",
        _check_merge_tags,
    ),
    Gate("links", "block", "links only to the brief's CTA URL or the brand's domains", _check_links),
    Gate(
        "contact_details",
        "block",
        "e-mail addresses and phone numbers only from the brand kit",
        _check_contact_details,
    ),
    Gate(
        "repetition",
        "block",
        "no degenerate repetition of words, phrases or sentences; a body that repeats the subject or "
        "preheader warns",
        _check_repetition,
    ),
    Gate(
        "empty_fields",
        "block",
        "every required field filled in; none stops mid-sentence",
        _check_empty_fields,
    ),
    Gate(
        "exemplar_echo",
        "warn",
        "no words carried over from the prompt's example emails about other businesses",
        _check_exemplar_echo,
    ),
    Gate(
        "offer_consistency",
        "block",
        "discounts, prices and promises match the brief and brand",
        _check_offer_consistency,
    ),
)


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
