"""When a sentence is finished: the rule the decoder writes by, the parser trims by and the gates check.

A sentence is finished when it ends on a word, then '.', '!' or '?' (closing quotes may follow), and
that word is one an English sentence can end on. "...worth waiting for." and "Stop by." are
finished; "The sale runs until.", "Light one every." and "Every." are a decoder out of room putting a
stop where the text was cut.
"""

from __future__ import annotations

import re

__all__ = [
    "CUT_BEFORE_STOP",
    "UNFINISHED_ENDINGS",
    "ends_sentence",
    "finished",
    "last_word",
    "sentences",
    "trim_unfinished",
    "unfinished_sentences",
]

_TOKEN_RE = re.compile(r"\w+(?:['\u2019]\w+)*")

# Words no English sentence ends on, even before a stop: articles, possessives, conjunctions, and
# words that need what follows them. Many words look as if they do but can close a sentence
# ("we bake with.", "to choose from.", "at £9.50 each.", "where it was."), so they are not here.
CUT_BEFORE_STOP = frozenset({
    "a", "an", "the", "your", "our", "my", "their", "its", "and", "or", "but", "nor", "every",
    "until", "than", "into", "onto", "during", "between", "among", "per", "via", "whether",
    "because", "although", "very", "you've", "we've", "we're", "you're", "they're", "it's",
    "we'll", "you'll", "i'm",
})  # fmt: skip

# Words a field does not end on without a stop ("Get 20% off your", "Shop the sale at"): the list
# above and the prepositions, verbs and demonstratives that close a sentence only with its stop.
UNFINISHED_ENDINGS = CUT_BEFORE_STOP | frozenset({
    "to", "for", "in", "on", "by", "at", "of", "with", "from", "is", "are", "was", "be", "his",
    "her", "this", "these", "that", "those",
})  # fmt: skip

_CLOSERS = "\"'\u2019\u201d)\\]"
_SENTENCE_END_RE = re.compile(rf"[\w%)\]\"'\u2019\u201d][.!?][{_CLOSERS}]*$")
_TRAILING_OFF_RE = re.compile(rf"(?:\.\s*\.|\u2026)[{_CLOSERS}]*$")
_SENTENCE_SPLIT_RE = re.compile(rf"(?:(?<=[.!?])|(?<=[.!?][{_CLOSERS}]))\s+")


def ends_sentence(text: str) -> bool:
    """True when `text` ends on a word, then '.', '!' or '?', then closing quotes.

    A trailing ellipsis ("and then...") or a stop after a stray symbol ("off $.") is text
    that trails off, not a finished sentence.
    """
    text = text.rstrip()
    return bool(_SENTENCE_END_RE.search(text)) and not _TRAILING_OFF_RE.search(text)


def last_word(text: str) -> str:
    """The last word of `text`, lower-cased ('' when it has none)."""
    words = _TOKEN_RE.findall(text)
    return words[-1].lower() if words else ""


def finished(sentence: str) -> bool:
    """True when a sentence ends on a stop after a word it can end on ("...for the sale." is not)."""
    return ends_sentence(sentence) and last_word(sentence) not in CUT_BEFORE_STOP


def sentences(text: str) -> list[str]:
    """`text` split after each '.', '!' or '?' that a space follows."""
    return [s for s in _SENTENCE_SPLIT_RE.split(text.strip()) if s]


def unfinished_sentences(text: str) -> list[str]:
    """The sentences of `text` that are not finished, in order."""
    return [s for s in sentences(text) if not finished(s)]


def trim_unfinished(text: str) -> str:
    """`text` without the unfinished sentences it trails off with, when a finished one comes first.

    A decoder that runs out of room closes the string where it is: "Every candle is 20% off.
    Order before the end of ." keeps its first sentence. Text with no finished sentence is
    returned as it is, for the gates to judge.
    """
    kept = sentences(text)
    while len(kept) > 1 and not finished(kept[-1]):
        kept.pop()
    joined = " ".join(kept)
    return joined if finished(joined) else text
