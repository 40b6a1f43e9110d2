"""Whether a sentence says something the brand kit or the brief gives: what its claims hang on.

A small model writes its good sentences close to what it was given ("Every candle is hand-poured
in small batches") and loses its way where it writes freely ("That's a lot of candles, so you can
watch the lights burn down to the floor"; "and the bottles are often too small to keep all of
them"). A sentence, or a clause of one, is *anchored* when it

- states a fact (a number, price, percentage, date, month or weekday: `genai.gates.binding`),
  which grounding and binding then check against the brand kit and the brief;
- names one of the brand's products;
- is a short question ("Questions about a gift?"), which asserts nothing; or
- shares two content words in a row (stop words skipped, words compared on their stem; on the
  source's side one word may come between them) with the brand's tagline, description, voice
  or products, or the brief's goal, offer, facts or rules: "slow evenings", "small batches",
  "hand-poured candles".

A sentence that speaks of the brief's own instructions ("it's a good idea to mention that ...")
or says back a goal written as the marketer's task ("Win back customers who have not ordered in
over 18 months") is never anchored: it is the prompt talking, not the brand.

`genai.trim` drops the body sentences that are not anchored and cuts a sentence back before its
first clause that is not. The `anchoring` gate warns on what is left of them in the preheader
and the body (when trimming would have left the body too thin to send), so such a draft never
outranks a clean one, and blocks on the brief's instructions spoken to the reader. The rule
costs the tuned model some warmth (about a fifth of the hand-written corpus's sentences are not
anchored) and buys copy whose every sentence the brand could stand behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.base import Finding, Gate
from genai.gates.binding import fact_tokens
from genai.gates.text import word_tokens
from genai.sentences import sentences

__all__ = ["GATES", "INSTRUCTIONS", "Anchors", "clauses", "is_task"]

INSTRUCTIONS = "speaks of the brief's instructions"
SHORT_QUESTION = 6  # words: a question this short asserts nothing and may stand on its own

_STOP = frozenset({
    "a", "an", "the", "of", "to", "for", "with", "and", "or", "but", "in", "on", "at", "by", "from",
    "into", "as", "is", "are", "be", "been", "was", "were", "it", "its", "it's", "this", "that",
    "these", "those", "you", "your", "yours", "you're", "you'll", "we", "we're", "we'll", "our",
    "us", "any", "all", "every", "each", "one", "ones", "about", "them", "they", "there", "their",
    "what", "which", "who", "how", "when", "where", "than", "then", "so", "not", "no", "do", "does",
    "just", "more", "most", "some", "also", "will", "can", "have", "has", "had", "would", "could",
    "should", "may", "might", "here", "now", "very", "too", "get", "got", "own", "i", "my", "me",
})  # fmt: skip

# the brief's instructions spoken to the reader: "mention that", "be sure to say", "the brief"
_INSTRUCTION_RE = re.compile(
    r"\b(?:mention(?:s|ed|ing)? that|(?:remember|be sure|make sure|don't forget|a good idea) to "
    r"(?:mention|say|include|note|highlight|tell)|the brief(?:'s)?)\b",
    re.IGNORECASE,
)
# where a sentence joins a second thought onto its first: each clause is judged on its own
_CLAUSE_RE = re.compile(r",\s+(?:and|but|while|so|which|because)\s+|;\s+|:\s+(?=[a-z])")


def _stem(word: str) -> str:
    word = word.replace("’", "'").removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _content(text: str) -> list[str]:
    return [_stem(w) for w in word_tokens(text) if w not in _STOP and not w.isdigit() and len(w) >= 2]


def _pairs(text: str, reach: int = 1) -> set[tuple[str, str]]:
    """Pairs of content words at most `reach` apart, in order."""
    words = _content(text)
    return {(a, b) for step in range(1, reach + 1) for a, b in zip(words, words[step:], strict=False)}


def clauses(sentence: str) -> list[tuple[int, str]]:
    """`sentence` split where it joins one thought onto another (", and", ", so", "; ", ": x"):
    each clause, without the word that joins it on, with the offset where the joining text begins
    (0 for the first)."""
    parts: list[tuple[int, str]] = []
    start, joined = 0, 0
    for match in _CLAUSE_RE.finditer(sentence):
        parts.append((joined, sentence[start : match.start()]))
        start, joined = match.end(), match.start()
    parts.append((joined, sentence[start:]))
    return [(at, text) for at, text in parts if text.strip()]


# the first words of a goal written as the marketer's task ("Win back customers who ...", "Invite
# people to the open studio"), which the reader must never be told
_TASK_VERBS = frozenset({
    "remind", "launch", "win", "sell", "invite", "fill", "thank", "get", "bring", "welcome",
    "clear", "introduce", "encourage", "turn", "suggest", "announce", "tell", "run", "promote",
    "drive", "push", "boost", "increase", "grow", "ask", "nudge", "convert", "recover",
    "reactivate", "re-engage", "reengage", "upsell", "feature", "highlight", "explain", "send",
    "move", "collect", "gather", "reward", "share", "show", "let", "make", "persuade", "sign",
})  # fmt: skip
# share of a task-like goal's content words that a text opening on its verb says back, past which
# it speaks the task to the reader
_TASK_ECHO = 0.6


def is_task(goal: str) -> bool:
    """Whether `goal` is written as the marketer's task ("Invite people to ...") rather than as
    something a reader could be told ("Holiday sale on hand-poured candles")."""
    words = word_tokens(goal)
    return bool(words) and words[0] in _TASK_VERBS


class Anchors:
    """What a sentence may hang on: the brand kit's and the brief's phrases and products."""

    def __init__(self, brief: Brief, brand: BrandKit) -> None:
        texts: Iterable[str] = (
            brief.goal,
            brief.offer,
            *brief.facts,
            *brief.constraints,
            brand.name,
            brand.tagline or "",
            brand.description or "",
            ", ".join(brand.voice),
            *(p.name for p in brand.products),
        )
        self.pairs: set[tuple[str, str]] = set()
        for text in texts:
            # "slow, cosy evenings" gives "slow evenings" too
            self.pairs |= _pairs(text, reach=2)
        self.products = [p.name.lower() for p in brand.products if p.name.strip()]
        self.task = set(_content(brief.goal)) if is_task(brief.goal) else set()
        self.task_verb = word_tokens(brief.goal)[0] if self.task else ""

    def why_loose(self, text: str) -> str | None:
        """None when `text` (a sentence or a clause) is anchored; else why it is not."""
        if _INSTRUCTION_RE.search(text):
            return INSTRUCTIONS
        opens_on_task = bool(self.task) and word_tokens(text)[:1] == [self.task_verb]
        if opens_on_task and len(self.task & set(_content(text))) >= _TASK_ECHO * len(self.task):
            return INSTRUCTIONS  # "Win back customers who have not ordered in over 18 months"
        if fact_tokens(text):
            return None
        if text.rstrip().endswith("?") and len(text.split()) <= SHORT_QUESTION:
            return None  # "Questions about a gift?" asserts nothing
        low = text.lower()
        if any(name in low for name in self.products):
            return None
        if _pairs(text) & self.pairs:
            return None
        return "says nothing the brand kit or the brief gives"


def _check_anchoring(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    anchors = Anchors(brief, brand)
    loose: list[str] = []
    spoken: list[str] = []
    fields = [("preheader", draft.preheader), *((f"body[{i}]", p) for i, p in enumerate(draft.body))]
    for name, text in fields:
        for sentence in sentences(text):
            why = anchors.why_loose(sentence)
            if why == INSTRUCTIONS:
                spoken.append(f"{name}: {sentence}")
            elif why is not None:
                loose.append(f"{name}: {sentence}")
    findings = []
    if spoken:
        findings.append(Finding("block", "the brief's instructions are spoken to the reader", spoken))
    if loose:
        findings.append(Finding("warn", "sentences that say nothing the brand kit or the brief gives", loose))
    return findings


GATES: tuple[Gate, ...] = (
    Gate(
        "anchoring",
        "block",
        "every sentence hangs on something the brand kit or the brief gives; none speaks of the brief",
        _check_anchoring,
    ),
)
