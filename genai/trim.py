"""Trim a draft's body to the sentences it can stand behind, before the gates judge it.

A small model often writes three good sentences and one that states a fact wrongly ("the sale
runs from Friday 18 December"), says a fact a second time, or says a sentence again in other
words. Dropping that sentence keeps a draft that is otherwise sendable; blocking the whole
draft for it throws the good sentences away. A body sentence goes when:

- it states a fact the brand kit and the brief do not give (`genai.gates.grounding.ungrounded`)
  or says a fact of something its source does not (`genai.gates.binding.unbound`);
- every fact it states was already stated by a sentence kept before it in the body;
- its words are mostly those of a sentence kept before it (near-duplicate).

A body sentence that runs on after ", so" or ", which" is cut back to its main clause: the
model's afterthoughts are where its sentences lose their way ("Every candle burns for about 50
hours, so it takes longer to light than it does to smell"; "Every candle is hand-poured in small
batches, so every single one is from the same plant"). The main clause usually states the fact
the model was given; what follows is a consequence it made up.

A body sentence, or a clause of one, that says nothing the brand kit or the brief gives goes too
(`genai.gates.anchoring`): it is where a small model makes things up ("and the bottles are often too
small to keep all of them"), and the same goes for a preheader or a headline, which are then
written from the brief.

A draft whose body would keep fewer than `MIN_BODY_CHARS` characters, the closing offer paragraph
counted, keeps its body as it is, for the gates to block or warn on.

The preheader is one sentence the model often runs past its room with, or fills with a fact said
wrongly. When it is unfinished, over `PREHEADER_MAX` characters, or states a fact the brand kit
and the brief do not give (or not of what they say it of), or runs on past a main clause too
short to stand alone, it is written from the brief instead (a run-on with a main clause of inbox
length is cut back to it, as body sentences are): the offer and the first fact the body does not
already state, in the brief's own words (`compose_preheader`). And when the opened e-mail
(headline and body; the preheader is hidden there) does not state the brief's offer, a closing
paragraph states it with the first fact the e-mail does not state, in the brief's words
(`offer_paragraph`): the reader must see the deal they are asked to act on. A headline that says
the subject again (the reader has just read it in the inbox) is replaced by the brief's offer or
goal, whichever the subject does not already say (`compose_headline`); otherwise subject and
headline are left to the gates. Each edit is reported with its reason, for the variant's
reasons.
"""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import pairwise

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.anchoring import INSTRUCTIONS, Anchors, clauses, is_task
from genai.gates.binding import fact_tokens, unbound
from genai.gates.form import MIN_BODY_CHARS
from genai.gates.grounding import ungrounded
from genai.gates.offers import unbound_free
from genai.gates.text import shared_runs, word_overlap, word_tokens
from genai.sentences import finished, sentences

__all__ = [
    "MIN_BODY_CHARS",
    "NEAR_DUPLICATE",
    "PREHEADER_MAX",
    "compose_headline",
    "compose_preheader",
    "offer_paragraph",
    "trim_draft",
]

NEAR_DUPLICATE = 0.7  # share of content words two sentences have in common (Jaccard)
SAID_AGAIN = 0.8  # share of a later clause's words already said, past which it says nothing new
_MIN_WORDS = 3  # words of 3+ letters a sentence needs before it can be a near-duplicate
MIN_CLAUSE = 30  # the main clause kept must be at least this long, or the sentence stays whole
PREHEADER_MIN = 40  # the preheader_length gate warns under this
PREHEADER_MAX = 110  # the inbox shows about this much; the preheader_length gate warns past it
HEADLINE_LENGTH = (10, 60)  # the corpus's headline lengths
SAME_LINE = 0.8  # share of words (Jaccard) past which a headline says the subject again


def _words(sentence: str) -> set[str]:
    return {w for w in word_tokens(sentence) if len(w) >= 3}


_RUN_ON_RE = re.compile(r",\s+(?:so|which)\s")


def _main_clause(sentence: str) -> str:
    """A sentence cut back to what comes before its first ", so" or ", which"."""
    match = _RUN_ON_RE.search(sentence, MIN_CLAUSE)
    if match is None:
        return sentence
    main = sentence[: match.start()] + "."
    return main if finished(main) else sentence


def _anchored_part(
    sentence: str,
    anchors: Anchors,
    said: set[tuple[str, str]] | None = None,
    kept: list[set[str]] | None = None,
) -> tuple[str | None, str | None]:
    """`sentence` cut back before its first clause that says nothing the brand kit or the brief
    gives, or only what was said before it (facts in `said`, words of the `kept` sentences or of
    its own earlier clauses), and why; None and why when the first clause is such a one."""
    if anchors.why_loose(sentence) == INSTRUCTIONS:
        return None, INSTRUCTIONS
    facts = set(said or ())
    words = set().union(*(kept or []))
    for i, (at, clause) in enumerate(clauses(sentence)):
        loose = anchors.why_loose(clause)
        clause_facts = {(t.kind, t.value) for t in fact_tokens(clause)}
        clause_words = _words(clause)
        if i > 0 and loose is None:
            if clause_facts and clause_facts <= facts:
                loose = "repeats a fact already stated"
            elif len(clause_words) >= 2 and len(clause_words & words) >= SAID_AGAIN * len(clause_words):
                loose = "says again what was said"
        if loose is not None:
            cut = sentence[:at].rstrip(" ,;:") + "."
            return (cut, loose) if i > 0 and finished(cut) else (None, loose)
        facts |= clause_facts
        words |= clause_words
    return sentence, None


def _why_drop(
    sentence: str, brief: Brief, brand: BrandKit, said: set[tuple[str, str]], kept: list[set[str]]
) -> str | None:
    wrong = ungrounded(sentence, brief, brand)
    if wrong:
        return (
            "states " + ", ".join(repr(w) for w in wrong) + ", which the brand kit and the brief do not give"
        )
    loose = unbound(sentence, brief, brand)
    if loose:
        return "says " + ", ".join(repr(w) for w in loose) + " of something its source does not"
    if unbound_free(sentence, brief, brand):
        return "promises something free that the brief does not offer"
    facts = {(t.kind, t.value) for t in fact_tokens(sentence)}
    if facts and facts <= said:
        return "repeats a fact already stated"
    words = _words(sentence)
    if len(words) >= _MIN_WORDS:
        for other in kept:
            if len(words & other) / len(words | other) >= NEAR_DUPLICATE:
                return "repeats an earlier sentence"
    return None


def _as_sentence(text: str) -> str:
    text = text.strip().rstrip(";,:")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _unstated_facts(brief: Brief, texts: list[str]) -> list[str]:
    """The brief's facts, as sentences, that none of `texts` states."""
    said = {(t.kind, t.value) for text in texts for t in fact_tokens(text)}
    words_said = {w for text in texts for w in word_tokens(text)}
    fresh = []
    for fact in brief.facts:
        facts = {(t.kind, t.value) for t in fact_tokens(fact)}
        words = set(word_tokens(fact))
        # most of its dates and numbers said is the fact said ("10am to 4pm" said as "until 4pm")
        stated = (
            len(facts & said) >= 0.6 * len(facts) if facts else len(words & words_said) >= 0.8 * len(words)
        )
        if not stated:
            fresh.append(_as_sentence(fact))
    return fresh


def _states_offer(brief: Brief, texts: list[str]) -> bool:
    facts = {(t.kind, t.value) for t in fact_tokens(brief.offer)}
    if facts:
        return facts <= {(t.kind, t.value) for text in texts for t in fact_tokens(text)}
    wanted = {w for w in word_tokens(brief.offer) if len(w) > 3}
    said = {w for text in texts for w in word_tokens(text)}
    return len(wanted & said) >= 0.6 * max(len(wanted), 1)


_ECHO_RUN = 8  # words in a row a body shares with the subject or preheader before it repeats them


def _echoes(text: str, lines: list[str]) -> bool:
    return any(
        max(map(len, shared_runs(word_tokens(line), word_tokens(text), 1)), default=0) >= _ECHO_RUN
        for line in lines
    )


def offer_paragraph(brief: Brief, headline: str, body: list[str]) -> str | None:
    """The brief's offer and the first fact the e-mail does not state, when the opened e-mail (its
    headline and body) does not state the offer: the reader must see the deal, not only the inbox."""
    if not brief.offer.strip() or _states_offer(brief, [headline, *body]):
        return None
    fresh = _unstated_facts(brief, [headline, *body])
    return f"{_as_sentence(brief.offer)} {fresh[0]}" if fresh else _as_sentence(brief.offer)


def compose_preheader(brief: Brief, body: list[str], brand: BrandKit | None = None) -> str:
    """The brief's offer and the first of its facts the body does not state, as one inbox line.

    What the body already states is left to the body (the reader would see it twice: the offer
    too, when the body states it); the line is kept to `PREHEADER_MAX` characters and shares no
    run of 8 words with the body, and falls back to the offer, then the goal (unless it is written
    as the marketer's task: "Invite people to ..."), then the brand's tagline.
    """
    full_offer = _as_sentence(brief.offer)
    goal = "" if is_task(brief.goal) else _as_sentence(brief.goal)
    tagline = _as_sentence(brand.tagline or "") if brand is not None else ""
    offer = "" if _states_offer(brief, body) else full_offer
    fresh = _unstated_facts(brief, body)
    lines = [f"{offer} {fact}".strip() for fact in fresh]
    lines += [f"{offer} {a} {b}".strip() for a, b in pairwise(fresh)]
    # the body says it all: the inbox line is the offer (said again, as inboxes do) and the goal
    lines += [f"{full_offer} {fact}".strip() for fact in fresh]
    lines += [f"{full_offer} {goal}".strip(), offer, full_offer, goal, f"{full_offer} {tagline}".strip()]
    lines += [tagline, *(_as_sentence(f) for f in brief.facts)]
    fitting = [line for line in lines if line and len(line) <= PREHEADER_MAX and not _echoes(line, body)]
    # a line of PREHEADER_MIN characters or more fills the inbox's preview; a shorter one will do
    for line in [*(x for x in fitting if len(x) >= PREHEADER_MIN), *fitting]:
        return line
    return (full_offer or goal or tagline or _as_sentence(brief.goal))[:PREHEADER_MAX]


def _same_line(a: str, b: str) -> bool:
    return word_overlap(a, b) >= SAME_LINE


def compose_headline(brief: Brief, subject: str, brand: BrandKit | None = None) -> str | None:
    """A headline from the brief that does not say the subject again: its offer, else its goal
    (unless it is written as the marketer's task), else the brand's tagline, as a phrase of
    headline length; None when none will do."""
    goal = "" if is_task(brief.goal) else brief.goal
    tagline = brand.tagline or "" if brand is not None else ""
    for line in (brief.offer, goal, tagline):
        line = line.strip().rstrip(".")
        if HEADLINE_LENGTH[0] <= len(line) <= HEADLINE_LENGTH[1] and not _same_line(line, subject):
            return line[0].upper() + line[1:]
    return None


def _preheader_problem(preheader: str, brief: Brief, brand: BrandKit, anchors: Anchors) -> str | None:
    text = preheader.strip()
    if not finished(text) or any(not finished(s) for s in sentences(text)):
        return "is unfinished"
    if len(text) > PREHEADER_MAX:
        return f"is {len(text)} characters, over {PREHEADER_MAX}"
    wrong = ungrounded(text, brief, brand) + unbound(text, brief, brand)
    if wrong:
        return "states " + ", ".join(repr(w) for w in wrong) + " wrongly"
    for sentence in sentences(text):
        loose = anchors.why_loose(sentence)
        if loose is not None:
            return loose
    return None


def trim_draft(draft: EmailDraft, brief: Brief, brand: BrandKit) -> tuple[EmailDraft, list[str]]:
    """The draft without the body sentences it cannot stand behind, with a preheader it can, and what
    was dropped or rewritten and why."""
    anchors = Anchors(brief, brand)
    said: set[tuple[str, str]] = set()
    kept_words: list[set[str]] = []
    body: list[str] = []
    dropped: list[str] = []
    for paragraph in draft.body:
        kept: list[str] = []
        for written in sentences(paragraph) or [paragraph]:
            sentence = _main_clause(written)
            if sentence != written:
                dropped.append(f"{written!r}: cut back to its main clause")
            anchored, loose = _anchored_part(sentence, anchors, said, kept_words)
            if anchored is None:
                dropped.append(f"{sentence!r}: {loose}")
                continue
            if loose is not None:
                dropped.append(f"{sentence!r}: cut back before a clause that {loose}")
                sentence = anchored
            reason = _why_drop(sentence, brief, brand, said, kept_words)
            if reason is not None:
                dropped.append(f"{sentence!r}: {reason}")
                continue
            kept.append(sentence)
            said |= {(t.kind, t.value) for t in fact_tokens(sentence)}
            kept_words.append(_words(sentence))
        if kept:
            body.append(" ".join(kept))
    closing_room = len(offer_paragraph(brief, draft.headline, body) or "")
    if sum(len(p) for p in body) + closing_room < MIN_BODY_CHARS:
        body, dropped = list(draft.body), []
    why_headline = anchors.why_loose(draft.headline)
    if _same_line(draft.headline, draft.subject):
        why_headline = "says the subject again"
    if why_headline is not None:
        headline = compose_headline(brief, draft.subject, brand)
        if headline is not None:
            dropped.append(
                f"headline {draft.headline!r} {why_headline}: written from the brief as {headline!r}"
            )
            draft = replace(draft, headline=headline)
    closing = offer_paragraph(brief, draft.headline, body)
    if closing is not None and _echoes(closing, [draft.subject, draft.preheader]):
        closing = _as_sentence(brief.offer)  # the inbox lines said that fact already: the offer alone
    if closing is not None:
        body.append(closing)
        dropped.append(f"the opened e-mail did not state the offer: added {closing!r} from the brief")
    problem = _preheader_problem(draft.preheader, brief, brand, anchors)
    main = _main_clause(draft.preheader.strip())
    main = _anchored_part(main, anchors)[0] or main
    if problem is None and main != draft.preheader.strip():
        if len(main) >= PREHEADER_MIN:
            dropped.append(f"preheader {draft.preheader!r}: cut back to its main clause")
            draft = replace(draft, preheader=main)
        else:
            problem = "runs on past a main clause too short to stand alone"
    if problem is None and _echoes(draft.preheader, body):
        problem = "says again what the body says"
    if problem is not None:
        preheader = compose_preheader(brief, body, brand)
        dropped.append(f"preheader {draft.preheader!r} {problem}: written from the brief as {preheader!r}")
        return replace(draft, preheader=preheader, body=body), dropped
    if not dropped:
        return draft, []
    return replace(draft, body=body), dropped
