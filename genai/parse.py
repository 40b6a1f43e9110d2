"""Turn model output into an EmailDraft, or say precisely why it cannot be one."""

from __future__ import annotations

import json
import re
from typing import Any

from genai.draft import EmailDraft
from genai.errors import ParseError
from genai.sentences import finished, sentences, trim_unfinished

__all__ = ["parse_draft", "split_paragraph"]

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
_LABELS = {
    "subject": "subject",
    "subject line": "subject",
    "preheader": "preheader",
    "preview text": "preheader",
    "headline": "headline",
    "body": "body",
    "cta": "cta_label",
    "cta label": "cta_label",
    "button": "cta_label",
}
_REQUIRED = ("subject", "preheader", "headline", "body", "cta_label")


def parse_draft(text: str, cta_url: str) -> EmailDraft:
    """Parse a JSON object (or `Label: value` lines) into a draft; the CTA URL is the brief's."""
    data = _json_object(text)
    if data is None:
        data = _labelled(text)
    if data is None:
        raise ParseError("output is neither a JSON object nor labelled lines", field="output")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ParseError(f"missing {', '.join(missing)}", field=missing[0])
    body = data["body"]
    if isinstance(body, str):
        body = [p.strip() for p in re.split(r"\n\s*\n|\n", body) if p.strip()]
    if not isinstance(body, list) or not all(isinstance(p, str) for p in body):
        raise ParseError("must be a list of paragraphs", field="body")
    fields: dict[str, str] = {}
    for key in ("subject", "preheader", "headline", "cta_label"):
        value = data[key]
        if not isinstance(value, str):
            raise ParseError("must be text", field=key)
        fields[key] = " ".join(value.split())
    return EmailDraft(
        subject=fields["subject"],
        preheader=trim_unfinished(fields["preheader"]),
        headline=fields["headline"],
        body=[q for p in _whole_paragraphs(body) for q in split_paragraph(p)],
        cta_label=fields["cta_label"],
        cta_url=cta_url,
    )


def _whole_paragraphs(body: list[str]) -> list[str]:
    """Paragraphs trimmed to their finished sentences; where one was cut off at its limit, the next
    one's first sentence goes too, as the model mostly carried the cut sentence on into it."""
    kept: list[str] = []
    cut_before = False
    for raw in body:
        text = " ".join(raw.split())
        if cut_before and len(sentences(text)) > 1:
            text = " ".join(sentences(text)[1:])
        kept.append(trim_unfinished(text))
        cut_before = bool(text) and not finished(text)
    return kept


def split_paragraph(text: str, max_sentences: int = 2) -> list[str]:
    """Break a long paragraph into paragraphs of at most `max_sentences` sentences, for easy reading."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9*])", text) if s]
    if len(sentences) <= max_sentences + 1:
        return [text] if text else []
    return [" ".join(sentences[i : i + max_sentences]) for i in range(0, len(sentences), max_sentences)]


def _json_object(text: str) -> dict[str, Any] | None:
    cleaned = _FENCE.sub("", text.strip())
    start = cleaned.find("{")
    if start < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(cleaned[start:])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _labelled(text: str) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    current: str | None = None
    for line in text.splitlines():
        # "**Subject:** ..." keeps the closing bold after the colon
        match = re.match(r"^\s*\**([A-Za-z ]{2,14})\**\s*:\**\s*(.*)$", line)
        key = _LABELS.get(match.group(1).strip().lower()) if match else None
        if match and key:
            current = key
            value = match.group(2).strip()
            data[key] = [value] if key == "body" and value else ([] if key == "body" else value)
        elif current == "body" and line.strip():
            data["body"].append(line.strip())
    return data or None
