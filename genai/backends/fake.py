"""A backend without a model: it replays queued outputs, or writes drafts from the prompt itself.

Unit tests queue exact outputs (or pass a `responder`). With nothing queued and no responder, the
backend writes a deterministic draft for the prompt it is given: the brand's name, the brief's goal
and offer (word for word, so every number in it is grounded), a CTA label from the schema's allowed
set, and the point of each "Mention that ..." rule. The same seed and candidate index give the
same draft, and the candidates of one request differ, so the API and the web app run end to end
(`COPYLOOP_BACKEND=fake`) with drafts that pass the quality gates.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai.backends.base import AdapterUsed, Backend, Candidate, GenerationRequest, GenerationResult
from genai.errors import BackendError
from genai.tuning.adapters import find_adapter

__all__ = ["FakeBackend", "written_draft"]

Responder = Callable[[GenerationRequest, int], str]


class FakeBackend(Backend):
    """Returns queued texts in order, or asks `responder(request, index)` when the queue is empty;
    with neither, writes a draft from the prompt (`written_draft`) unless `write=False`."""

    name = "fake"

    def __init__(
        self,
        outputs: Iterable[str] = (),
        responder: Responder | None = None,
        model_id: str = "fake-model",
        write: bool = True,
        adapter_dirs: Sequence[Path] = (),
    ) -> None:
        self.model_id = model_id
        self.adapter_dirs = tuple(Path(d) for d in adapter_dirs)
        self.checkpoint_sha256 = None
        self._queue: deque[str] = deque(outputs)
        self._responder = responder
        self._write = write
        self._lock = threading.Lock()
        self.requests: list[GenerationRequest] = []

    def queue(self, *texts: str) -> None:
        """Add outputs to replay."""
        with self._lock:
            self._queue.extend(texts)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """One output per candidate: queued, from the responder, or written from the prompt."""
        results = []
        with self._lock:
            for request in requests:
                self.requests.append(request)
                candidates = []
                for i in range(request.n):
                    if self._queue:
                        text = self._queue.popleft()
                    elif self._responder is not None:
                        text = self._responder(request, i)
                    elif self._write:
                        text = written_draft(request, i)
                    else:
                        raise BackendError("the fake backend has no output queued")
                    candidates.append(
                        Candidate(text=text, tokens_out=len(text.split()), finish_reason="stop")
                    )
                tokens_in = sum(len(m["content"].split()) for m in request.messages)
                result = GenerationResult(candidates, tokens_in=tokens_in, ttft_s=0.0, total_s=0.0)
                if request.adapter is not None:
                    # as the embedded backend would name it: a shipped adapter or one of adapter_dirs
                    found = find_adapter(request.adapter, self.adapter_dirs)
                    result.adapter = (
                        AdapterUsed(found.name, found.sha256) if found else AdapterUsed(None, None)
                    )
                results.append(result)
        return results

    def check_adapter(self, name: str) -> None:
        """The adapters the embedded backend could switch to: shipped ones and `adapter_dirs`'."""
        find_adapter(name, self.adapter_dirs)


@dataclass(frozen=True)
class _Facts:
    """What the prompt tells the writer."""

    brand: str
    goal: str
    offer: str
    mentions: tuple[str, ...]
    labels: tuple[str, ...]


# Each style uses its own words, so the candidates of one request are never near-duplicates.
# Fields: {brand}, {goal} (the brief's goal, shortened), {topic} (the same, lower-cased start).
_STYLES: tuple[dict[str, Any], ...] = (
    {
        "subject": "{brand}: {goal}",
        "preheader": "A short note from {brand}, written with you in mind this week.",
        "headline": "{goal}",
        "body": [
            "We put this together with care, and we would love you to take a look at {topic}.",
            "{offer_line}",
        ],
        "offer": "{offer}, while it lasts.",
        "no_offer": "Come and see what is waiting for you.",
    },
    {
        "subject": "News from {brand}",
        "preheader": "Something we have been looking forward to sharing with you at last.",
        "headline": "Hello from {brand}",
        "body": [
            "Our team has been busy, and {topic} is finally here for you to enjoy.",
            "{offer_line}",
        ],
        "offer": "Right now we have {offer} for you.",
        "no_offer": "Have a look whenever suits you best.",
    },
    {
        "subject": "A little something from {brand}",
        "preheader": "Quietly made for the people who keep coming back to us, season after season.",
        "headline": "Made with you in mind",
        "body": [
            "Thank you for being part of the {brand} story, and here is the latest: {topic}.",
            "{offer_line} It is our way of saying thank you.",
        ],
        "offer": "There is {offer} waiting.",
        "no_offer": "There is plenty to explore.",
    },
    {
        "subject": "Take a look: {goal}",
        "preheader": "Here is what is happening at {brand} right now, in a short read.",
        "headline": "What is happening at {brand}",
        "body": [
            "If you have been waiting for the right moment, {topic} might be it.",
            "{offer_line}",
        ],
        "offer": "Enjoy {offer} when you pop by.",
        "no_offer": "Pop by and see for yourself.",
    },
    {
        "subject": "Your invitation from {brand}",
        "preheader": "We saved a place for you, with all the details inside.",
        "headline": "You are invited",
        "body": [
            "It would be lovely to see you, so here is everything about {topic}.",
            "{offer_line}",
        ],
        "offer": "As a thank-you, {offer} is yours.",
        "no_offer": "Bring a friend along if you like.",
    },
    {
        "subject": "Good things at {brand}",
        "preheader": "A fresh reason to visit {brand}, whenever it suits you.",
        "headline": "A fresh reason to smile",
        "body": [
            "Everything here starts with people like you, which is why {topic} matters to us.",
            "{offer_line}",
        ],
        "offer": "Treat yourself with {offer}.",
        "no_offer": "Treat yourself to something lovely.",
    },
    {
        "subject": "Straight from {brand} to you",
        "preheader": "No fuss, just the essentials from {brand}, in under a minute.",
        "headline": "The short version",
        "body": [
            "Here it is in brief: {topic}, from all of us at {brand}.",
            "{offer_line}",
        ],
        "offer": "And yes, {offer} applies.",
        "no_offer": "That is all, and thanks for reading.",
    },
    {
        "subject": "Some cheerful news from {brand}",
        "preheader": "We think this will brighten your day a little, and we hope it does.",
        "headline": "A bright spot in your inbox",
        "body": [
            "Warm wishes from everyone at {brand}, where {topic} has us smiling.",
            "{offer_line}",
        ],
        "offer": "Make the most of {offer} soon.",
        "no_offer": "We hope it makes you smile too.",
    },
)

_SCHEMA_LIMITS = {"subject": (15, 60), "preheader": (40, 110), "headline": (10, 60)}
_BODY_LIMITS = (60, 320)
# Words a shortened goal must not end on.
_DANGLING = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "for",
        "with",
        "in",
        "on",
        "at",
        "by",
        "from",
        "our",
        "your",
        "its",
        "their",
        "this",
        "that",
        "as",
        "is",
        "are",
    ]
)
_NO_PRICES = re.compile(
    r"^\s*(?:please\s+)?(?:do not|don't|never|avoid)\s+(?:mention|mentioning|say|use)\b.*"
    r"\b(?:prices?|discounts?|offers?|money|costs?)\b",
    re.IGNORECASE,
)
_MENTION = re.compile(r"^\s*(?:please\s+)?mention\s+(?:that\s+)?(.+?)\s*[.!]?\s*$", re.IGNORECASE)


def written_draft(request: GenerationRequest, index: int) -> str:
    """A draft for the request's prompt as JSON text: seeded by the request's seed and `index`."""
    facts = _read_prompt(request)
    seed = request.sampling.seed if request.sampling.seed is not None else 0
    order = list(range(len(_STYLES)))
    random.Random(seed).shuffle(order)
    style = _STYLES[order[index % len(order)]]
    label = facts.labels[(seed + index) % len(facts.labels)]
    topic = _shorten(facts.goal, 48)
    topic = topic[:1].lower() + topic[1:] if not topic[:2].isupper() else topic
    values = {"brand": facts.brand, "goal": _shorten(facts.goal, 36), "topic": topic}
    offer_line = (
        style["offer"].format(offer=facts.offer) if facts.offer else style["no_offer"].format(**values)
    )
    offer_line = offer_line[:1].upper() + offer_line[1:]
    fields = {k: _fit(style[k].format(**values), *_SCHEMA_LIMITS[k]) for k in _SCHEMA_LIMITS}
    body = [p.format(offer_line=offer_line, **values) for p in style["body"]]
    for mention in facts.mentions:
        sentence = mention[:1].upper() + mention[1:].rstrip(".!") + "."
        if len(body[-1]) + len(sentence) + 1 <= _BODY_LIMITS[1]:
            body[-1] = f"{body[-1]} {sentence}"
    body = [_pad(p) for p in body]
    return json.dumps({**fields, "body": body, "cta_label": label})


def _read_prompt(request: GenerationRequest) -> _Facts:
    """The brand, goal, offer and rules from the prompt's last user message; the labels from its schema."""
    user = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "")

    def line(label: str) -> str:
        match = re.search(rf"^{label}:[ \t]*(.*)$", user, re.MULTILINE)
        return match.group(1).strip() if match else ""

    brand = re.sub(r"\s*\(.*\)\s*$", "", line("Brand")) or "our shop"
    offer = line("Offer")
    rules = re.findall(r"^Rule:[ \t]*(.+)$", user, re.MULTILINE)
    if offer.lower().startswith("none") or any(_NO_PRICES.match(r) for r in rules):
        offer = ""
    mentions = tuple(m.group(1) for r in rules if (m := _MENTION.match(r)))
    labels: tuple[str, ...] = ()
    schema = request.json_schema or {}
    enum = schema.get("properties", {}).get("cta_label", {}).get("enum")
    if isinstance(enum, list) and enum:
        labels = tuple(str(x) for x in enum)
    elif line("Button"):
        labels = tuple(x.strip() for x in line("Button").split(" / ") if x.strip())
    return _Facts(
        brand=brand,
        goal=line("Goal") or "our latest news",
        offer=offer.rstrip("."),
        mentions=mentions,
        labels=labels or ("Read more",),
    )


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters."""
    text = " ".join(text.split()).rstrip(".!?")
    if len(text) <= limit:
        return text
    words = text[:limit].rsplit(" ", 1)[0].rstrip(",;:-").split(" ")
    while len(words) > 1 and words[-1].lower() in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(",;:-")


def _fit(text: str, low: int, high: int) -> str:
    """A subject, preheader or headline within its schema's lengths."""
    text = _shorten(text, high) if not text.endswith(".") else text
    if len(text) > high:
        text = _shorten(text, high - 1) + "."
    while len(text) < low:
        text = text.rstrip(".") + " for you" + ("." if text.endswith(".") else "")
    return text


def _pad(paragraph: str) -> str:
    """A body paragraph of at least the schema's least length."""
    if len(paragraph) < _BODY_LIMITS[0]:
        paragraph = f"{paragraph} We hope to hear from you soon."
    return paragraph[: _BODY_LIMITS[1]]
