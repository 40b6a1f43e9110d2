"""Versioned prompt templates.

Each prompt lives in `genai/prompts/<name>/v<version>.yaml`; few-shot exemplars are
brand-neutral and live in `genai/prompts/exemplars.yaml`. A rendered prompt records the
template's name, version and the sha256 of the template file, which go into every
variant's lineage.

A version marked `candidate: true` is offered to the prompt bandit (several versions live at
once, `feedback.prompt_arms`) but is not the default: `load_prompt()` without a version takes the
latest version that is not a candidate, until the candidate is promoted by dropping the mark.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from genai.brand import BrandKit
from genai.brief import Brief, Segment
from genai.draft import cta_choices
from genai.errors import InvalidInputError

__all__ = [
    "PromptTemplate",
    "RenderedPrompt",
    "cta_labels_for",
    "default_version",
    "exemplar_outputs",
    "list_prompts",
    "load_prompt",
]

PROMPTS_DIR = Path(__file__).parent
DEFAULT_PROMPT = "email_variant"
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class RenderedPrompt:
    """Chat messages ready for a backend, with the identity of the template that made them."""

    messages: list[dict[str, str]]
    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class PromptTemplate:
    """One version of one prompt."""

    name: str
    version: str
    sha256: str
    system: str
    user: str
    exemplar_user: str
    exemplars: int = 1  # few-shot examples before the request

    def render(
        self,
        brand: BrandKit,
        brief: Brief,
        segment: Segment,
        *,
        exemplars: int | None = None,
        offset: int = 0,
        cta_labels: tuple[str, ...] | None = None,
    ) -> RenderedPrompt:
        """Fill the template for one segment, with the template's few-shot examples first."""
        exemplars = self.exemplars if exemplars is None else exemplars
        messages = [{"role": "system", "content": self.system.strip()}]
        pool = _exemplars()
        for i in range(min(exemplars, len(pool))):
            ex = pool[(offset + i) % len(pool)]
            messages.append(
                {"role": "user", "content": _ENV.from_string(self.exemplar_user).render(ex=ex).strip()}
            )
            messages.append({"role": "assistant", "content": json.dumps(ex["output"], ensure_ascii=False)})
        user = _ENV.from_string(self.user).render(
            brand=brand, brief=brief, segment=segment, cta_labels=cta_labels or cta_labels_for(brief)
        )
        messages.append({"role": "user", "content": user.strip()})
        return RenderedPrompt(messages, self.name, self.version, self.sha256)


def list_prompts() -> dict[str, list[str]]:
    """Every prompt name with its versions, oldest first."""
    out: dict[str, list[str]] = {}
    for path in sorted(PROMPTS_DIR.glob("*/v*.yaml")):
        out.setdefault(path.parent.name, []).append(path.stem[1:])
    for versions in out.values():
        versions.sort(key=lambda v: [int(p) if p.isdigit() else p for p in v.split(".")])
    return out


def _is_candidate(name: str, version: str) -> bool:
    data = yaml.safe_load((PROMPTS_DIR / name / f"v{version}.yaml").read_bytes())
    return bool(data.get("candidate", False))


def default_version(name: str = DEFAULT_PROMPT) -> str:
    """The version generation uses unless told otherwise: the latest that is not a candidate."""
    versions = list_prompts().get(name)
    if not versions:
        raise InvalidInputError(f"no prompt named {name!r}", field="prompt")
    settled = [v for v in versions if not _is_candidate(name, v)]
    return (settled or versions)[-1]


def load_prompt(name: str = DEFAULT_PROMPT, version: str | None = None) -> PromptTemplate:
    """Load a prompt by name; its default version (`default_version`) unless one is given."""
    versions = list_prompts().get(name)
    if not versions:
        raise InvalidInputError(f"no prompt named {name!r}", field="prompt")
    version = version or default_version(name)
    if version not in versions:
        raise InvalidInputError(
            f"prompt {name!r} has no version {version!r} (has {versions})", field="prompt"
        )
    path = PROMPTS_DIR / name / f"v{version}.yaml"
    raw = path.read_bytes()
    data: dict[str, Any] = yaml.safe_load(raw)
    return PromptTemplate(
        name=name,
        version=str(data["version"]),
        sha256=hashlib.sha256(raw).hexdigest(),
        system=data["system"],
        user=data["user"],
        exemplar_user=data["exemplar_user"],
        exemplars=int(data.get("exemplars", 1)),
    )


def cta_labels_for(brief: Brief) -> tuple[str, ...]:
    """The CTA labels a draft for `brief` may use: the brief's own, or those fitting its goal."""
    return (brief.cta_label,) if brief.cta_label else cta_choices(brief.goal, brief.offer)


def exemplar_outputs() -> list[tuple[str, str]]:
    """Each few-shot exemplar's brand and the text of its example email (every field, joined)."""
    out = []
    for ex in _exemplars():
        email = ex["output"]
        fields = [email["subject"], email["preheader"], email["headline"], *email["body"], email["cta_label"]]
        out.append((str(ex["brand"]), "\n".join(str(f) for f in fields)))
    return out


@functools.cache
def _exemplars() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = yaml.safe_load((PROMPTS_DIR / "exemplars.yaml").read_text(encoding="utf-8"))
    return data
