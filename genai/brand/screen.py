"""Screening the visible text a brand page gives a kit: it is data for the prompt, never instructions.

A page's title, tagline, descriptions, address and product names reach the model's prompt and the
rendered e-mail as they are, and the page is not ours. A sentence that speaks to a language model
("ignore previous instructions", "you are now", "system:", chat-template tokens) is dropped, and
so is a sentence with a link off the brand's own domain or an e-mail address (disguised ones too,
see `genai.links`: a sentence that points elsewhere is an advertisement for elsewhere, and cutting
the link alone would leave "Shop at today."). What was removed is reported, so the kit can flag
the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from genai.brand.urls import host_of, registrable_domain
from genai.links import EMAIL_RE, URL_RE, idna_host, unmask

__all__ = ["INSTRUCTION_RE", "Screened", "screen_text"]

INSTRUCTION_RE = re.compile(
    r"""
    \b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|the|of)\s+)*
        (?:previous|prior|above|earlier|preceding|all|any|your|these|those|system|original|initial)\s+
        (?:\w+\s+){0,2}?(?:instructions?|prompts?|rules|directions|guidelines|messages|context|guardrails)\b
    | \byou\s+are\s+(?:now|no\s+longer)\b
    | \bfrom\s+now\s+on,?\s+(?:you\s+)?(?:are|must|will|only\s+)?\s*(?:write|respond|answer|reply|speak|act)\b
    | \bpretend\s+(?:to\s+be|you\s+are|that\s+you\s+are)\s+(?:an?|the)\s+(?:\w+\s+)?
        (?:ai|assistant|model|chatbot|owner|developer|admin|administrator|system)\b
    | \b(?:act|behave)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?an?\s+
        (?:ai|assistant|model|chatbot|language\s+model)\b
    | (?:^|[\s"'(\[{<|>*#])(?:system|assistant|developer|user)\s*:
    | \bnew\s+(?:instructions?|system\s+prompt)\b | \bsystem\s+prompt\b
    | \b(?:do\s+not|don'?t|never)\s+(?:follow|obey)\s+(?:the\s+|your\s+|any\s+)?
        (?:brief|instructions?|prompt|guidelines|system)\b
    | \bas\s+an?\s+(?:ai|language\s+model|llm|chatbot)\b
    | \b(?:write|say|include|add|insert|mention|put)\b[^.!?\n]{0,40}\b(?:in|into|to)\s+(?:every|each|all)\s+
        (?:e-?mails?|drafts?|messages?|outputs?|responses?|replies|answers?)\b
    | <\|[a-z_]+\|> | </?(?:start|end)_of_turn> | \[/?INST\] | <</?SYS>> | \#{2,}\s*(?:instruction|system)
    | \bprompt\s+injection\b | \bjailbreak\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
# Sentences, and the separators titles use ("Brand | Tagline"), kept so the text can be rebuilt.
_PIECES = re.compile(r"((?<=[.!?…])\s+|\s+[|·•»–—-]\s+|\s*\n+\s*)")


@dataclass
class Screened:
    """Text without the sentences that held instructions, links or addresses, and what was taken."""

    text: str
    flagged: list[str] = field(default_factory=list)


def _own(host: str | None, own_domain: str | None) -> bool:
    return bool(host and own_domain and registrable_domain(idna_host(host)) == own_domain)


def _link_flags(piece: str, own_domain: str | None) -> list[str]:
    plain = unmask(piece)
    flags = []
    for match in URL_RE.finditer(plain):
        host = host_of(_with_scheme(match.group(0)))
        if not _own(host, own_domain):
            flags.append(f"a link to {host or match.group(0)} was removed")
    flags.extend(f"the e-mail address {m.group(0)} was removed" for m in EMAIL_RE.finditer(plain))
    return flags


def _with_scheme(url: str) -> str:
    return url if "://" in url else f"http://{url.rstrip('.,;:!?')}"


def screen_text(text: str, own_domain: str | None) -> Screened:
    """`text` without the sentences that instruct a model, link off `own_domain` or give an address."""
    if not text:
        return Screened(text)
    flagged: list[str] = []
    parts = _PIECES.split(text)
    pieces, separators = parts[0::2], parts[1::2]
    kept: list[tuple[str, str]] = []  # (separator before, piece)
    for i, piece in enumerate(pieces):
        before = separators[i - 1] if i else ""
        if INSTRUCTION_RE.search(unmask(piece)):
            flagged.append("an instruction to a language model was removed")
            continue
        links = _link_flags(piece, own_domain)
        if links:
            flagged.extend(links)
            continue
        kept.append((before, piece))
    if not flagged:
        return Screened(text)
    rebuilt = "".join((sep if j else "") + piece for j, (sep, piece) in enumerate(kept))
    return Screened(rebuilt.strip(" |·•»–—-"), list(dict.fromkeys(flagged)))
