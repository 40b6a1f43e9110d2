"""The tuning corpus: hand-written e-mails for fictional businesses, loaded, checked and split.

Each YAML file in `genai/tuning/corpus/` is a list of businesses, each with a brand kit and
several e-mails (brief, segment, e-mail); see the README there. `check` runs every rule a
training e-mail must follow: the quality gates (grounding, audience label, brief rules
included) plus the corpus's own length and CTA rules. `python -m genai.tuning.corpus check
FILE...` prints each problem with the e-mail it belongs to.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from genai.brand import BrandKit, Product
from genai.brief import Brief, Segment, SegmentTraits
from genai.draft import CTA_LABELS, EmailDraft
from genai.errors import InvalidInputError, invalid_input
from genai.gates import run_gates

__all__ = ["CORPUS_DIR", "Example", "check", "load_corpus", "split"]

CORPUS_DIR = Path(__file__).parent / "corpus"
OCCASIONS = ("launch", "sale", "reminder", "winback", "event", "newsletter", "thanks", "seasonal")
_LENGTHS = {"subject": (15, 60), "preheader": (40, 100), "headline": (10, 60)}
_PARAGRAPH = (80, 300)


@dataclass(frozen=True)
class Example:
    """One training e-mail: who writes it (brand), what for (brief), to whom (segment)."""

    business: str
    split: str  # "train" or "eval"
    occasion: str
    brand: BrandKit
    brief: Brief
    segment: Segment
    draft: EmailDraft
    source: str  # "file.yaml: business #email"

    def target(self) -> dict[str, Any]:
        """The JSON object the model is trained to write."""
        return {
            "subject": self.draft.subject,
            "preheader": self.draft.preheader,
            "headline": self.draft.headline,
            "body": list(self.draft.body),
            "cta_label": self.draft.cta_label,
        }


def _brand(data: dict[str, Any], where: str) -> BrandKit:
    try:
        products = [Product(name=str(p["name"]), price=p.get("price")) for p in data.get("products") or []]
        return BrandKit(
            name=str(data["name"]),
            tagline=str(data.get("tagline") or ""),
            description=str(data.get("description") or ""),
            voice=[str(v) for v in data.get("voice") or []],
            products=products,
            website=data.get("website"),
            address=data.get("address"),
        )
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"{where}: brand is missing {exc}", field="brand") from None


def _example(business: dict[str, Any], email: dict[str, Any], brand: BrandKit, where: str) -> Example:
    seg = email.get("segment") or {}
    try:
        segment = Segment(
            name=str(seg.get("name", "everyone")),
            description=str(seg.get("description", "")),
            traits=SegmentTraits(spend_tier=seg.get("spend_tier", "any")),
        )
        brief_data = dict(email.get("brief") or {})
        brief = Brief.model_validate(
            {**brief_data, "segments": [segment.model_dump()], "variants_per_segment": 1}
        )
    except ValidationError as exc:
        raise InvalidInputError(f"{where}: {invalid_input(exc)}", field="brief") from None
    out = email.get("email") or {}
    try:
        draft = EmailDraft(
            subject=str(out["subject"]),
            preheader=str(out["preheader"]),
            headline=str(out["headline"]),
            body=[str(p) for p in out["body"]],
            cta_label=str(out["cta_label"]),
            cta_url=brief.cta_url,
        )
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"{where}: email is missing {exc}", field="email") from None
    return Example(
        business=str(business["id"]),
        split=str(business.get("split", "train")),
        occasion=str(email.get("occasion", "")),
        brand=brand,
        brief=brief,
        segment=segment,
        draft=draft,
        source=where,
    )


def load_file(path: Path) -> list[Example]:
    """Every e-mail of one corpus file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})", field="corpus") from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path.name}: not valid YAML: {exc}", field="corpus") from None
    if not isinstance(data, list):
        raise InvalidInputError(f"{path.name}: must be a list of businesses", field="corpus")
    out = []
    for business in data:
        bid = business.get("id", "?")
        brand = _brand(business.get("brand") or {}, f"{path.name}: {bid}")
        for i, email in enumerate(business.get("emails") or []):
            out.append(_example(business, email, brand, f"{path.name}: {bid} #{i + 1}"))
    return out


def load_corpus(paths: Iterable[Path] | None = None) -> list[Example]:
    """Every e-mail of the given files, or of the shipped corpus."""
    files = sorted(paths) if paths is not None else sorted(CORPUS_DIR.glob("*.yaml"))
    return [ex for path in files for ex in load_file(Path(path))]


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(train, eval), split by business as the corpus marks it."""
    train = [e for e in examples if e.split != "eval"]
    held = [e for e in examples if e.split == "eval"]
    overlap = {e.business for e in train} & {e.business for e in held}
    if overlap:
        raise InvalidInputError(f"businesses in both splits: {', '.join(sorted(overlap))}", field="split")
    return train, held


def check(example: Example) -> list[str]:
    """Every rule the example breaks, as messages; empty when it is fit to train on."""
    problems: list[str] = []
    draft = example.draft
    for name, (low, high) in _LENGTHS.items():
        size = len(getattr(draft, name))
        if not low <= size <= high:
            problems.append(f"{name} is {size} characters, not {low}..{high}")
    if len(draft.body) != 2:
        problems.append(f"body has {len(draft.body)} paragraphs, not 2")
    for i, para in enumerate(draft.body):
        if not _PARAGRAPH[0] <= len(para) <= _PARAGRAPH[1]:
            problems.append(f"body[{i}] is {len(para)} characters, not {_PARAGRAPH[0]}..{_PARAGRAPH[1]}")
    if draft.cta_label not in CTA_LABELS:
        problems.append(f"cta_label {draft.cta_label!r} is not one of CTA_LABELS")
    if example.split not in ("train", "eval"):
        problems.append(f"split {example.split!r} is not train or eval")
    if example.occasion not in OCCASIONS:
        problems.append(f"occasion {example.occasion!r} is not one of {', '.join(OCCASIONS)}")
    for gate in run_gates(draft, example.brief, example.brand):
        # a hand-written sentence that hangs on nothing the brief gives is a writer's warmth, not a
        # small model's invention: the anchoring gate only warns of it; its block still counts
        if not gate.passed and not (gate.gate_id == "anchoring" and gate.severity == "warn"):
            problems.append(f"gate {gate.gate_id} ({gate.severity}): {gate.message}; {gate.evidence}")
    return problems


def main(argv: list[str]) -> int:
    """`check FILE...`: print each problem; exit 1 when there is any."""
    if not argv or argv[0] != "check":
        print("usage: python -m genai.tuning.corpus check FILE...", file=sys.stderr)
        return 2
    files = [Path(a) for a in argv[1:]] or sorted(CORPUS_DIR.glob("*.yaml"))
    bad = total = 0
    ids: dict[str, str] = {}
    for path in files:
        try:
            examples = load_file(path)
        except InvalidInputError as exc:
            print(f"ERROR {exc}")
            bad += 1
            continue
        for ex in examples:
            total += 1
            if ids.setdefault(ex.business, path.name) != path.name:
                print(f"ERROR {ex.source}: business id {ex.business!r} is also in {ids[ex.business]}")
            problems = check(ex)
            bad += bool(problems)
            for problem in problems:
                print(f"ERROR {ex.source}: {problem}")
    businesses = len(ids)
    print(f"{total} e-mails from {businesses} businesses checked, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
