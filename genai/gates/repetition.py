"""The repetition gate: loops of words, repeated sentences and a body that repeats the inbox lines."""

from __future__ import annotations

import re
from collections.abc import Iterator

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.base import Finding, Gate
from genai.gates.text import copy_fields, shared_runs, word_tokens

_REPEAT_WORD_RUN = 4
_REPEAT_PHRASE_RUN = 3
_DISTINCT_MIN_TOKENS = 40
_DISTINCT_MIN_RATIO = 0.3
_SENTENCE_MIN_TOKENS = 4
_ECHO_RUN_TOKENS = 8
_ECHO_WHOLE_MIN_TOKENS = 5


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
        source_tokens = word_tokens(source)
        for i, para in enumerate(draft.body):
            run = max(shared_runs(source_tokens, word_tokens(para), 1), key=len, default=[])
            whole = len(run) == len(source_tokens) >= _ECHO_WHOLE_MIN_TOKENS
            if len(run) >= _ECHO_RUN_TOKENS or whole:
                yield Finding("warn", f"the body repeats the {source_name}", [f"body[{i}]: {' '.join(run)}"])


def _check_repetition(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    findings: list[Finding] = list(_echoes(draft))
    seen_runs: set[str] = set()
    for name, text in copy_fields(draft):
        for phrase, times in _runs(word_tokens(text)):
            if phrase not in seen_runs:
                seen_runs.add(phrase)
                findings.append(
                    Finding("block", f"{phrase!r} repeated {times} times in a row", [f"{name}: {phrase}"])
                )
    sentences: dict[tuple[str, ...], str] = {}
    for para in draft.body:
        for sentence in re.split(r"(?<=[.!?])\s+", para.strip()):
            key = tuple(word_tokens(sentence))
            if len(key) < _SENTENCE_MIN_TOKENS:
                continue
            if key in sentences:
                findings.append(Finding("block", "a sentence is repeated in the body", [sentence]))
            sentences.setdefault(key, sentence)
    tokens = [t for _, text in copy_fields(draft) for t in word_tokens(text)]
    if len(tokens) >= _DISTINCT_MIN_TOKENS and len(set(tokens)) / len(tokens) < _DISTINCT_MIN_RATIO:
        ratio = len(set(tokens)) / len(tokens)
        message = f"only {ratio:.0%} of {len(tokens)} words are distinct (at least {_DISTINCT_MIN_RATIO:.0%})"
        findings.append(Finding("block", message, [f"{len(set(tokens))} distinct of {len(tokens)} words"]))
    return findings


GATES: tuple[Gate, ...] = (
    Gate(
        "repetition",
        "block",
        "no degenerate repetition of words, phrases or sentences; a body that repeats the subject or "
        "preheader warns",
        _check_repetition,
    ),
)
