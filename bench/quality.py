"""Copy-quality benchmark: how much of what the embedded model writes a small business could send.

Writes bench/results/quality.json. Over the eval split of the tuning corpus (businesses never
trained on), each e-mail's brand, brief and segment becomes one request for
`--variants` variants, run through the whole pipeline (oversampling, gates, retries, ranking)
twice in the same run: with the base model on the few-shot prompt (v1) and with the shipped
adapter on the prompt it was trained on (the latest version). A requested variant is
*sendable* when it was returned, no gate blocks or warns, every sentence is complete and
nothing in it is ungrounded; rates are over the variants requested, so a shortfall counts
against the model. Also timed, first: a 3-segment, 2-variant campaign on the demo brand, tuned.

    python bench/quality.py [--limit 30] [--variants 1] [--out bench/results/quality.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from genai.backends.hf import TransformersBackend
from genai.brand import load_brand
from genai.brief import load_brief
from genai.campaign import CampaignDraft, Variant
from genai.embed import default_embedder
from genai.pipeline import GenerationOptions, generate_campaign
from genai.prompts import load_prompt
from genai.sentences import ends_sentence
from genai.tuning.corpus import Example, load_corpus, split
from serving.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"tuned_sendable_rate_min": 0.8, "tuned_cut_off_rate_max": 0.0, "demo_campaign_s_max": 60.0}


def _cut_off(v: Variant) -> bool:
    sentences = [v.draft.preheader, *v.draft.body]
    cut_gate = any(
        g.gate_id == "empty_fields" and "mid-sentence" in g.message for g in v.gates if not g.passed
    )
    return cut_gate or not all(ends_sentence(s) for s in sentences)


def _bigrams(texts: list[str]) -> tuple[int, int]:
    grams = [tuple(ws[i : i + 2]) for t in texts for ws in [t.lower().split()] for i in range(len(ws) - 1)]
    return len(set(grams)), len(grams)


def _measure(
    backend: TransformersBackend, prompt_version: str, examples: list[Example], variants: int, seed: int
) -> dict[str, Any]:
    prompt = load_prompt(version=prompt_version)
    embedder = default_embedder()
    requested = returned = sendable = cut = ungrounded = warned = 0
    texts: list[str] = []
    seconds = 0.0
    samples: list[dict[str, Any]] = []
    for i, ex in enumerate(examples):
        brief = ex.brief.model_copy(update={"variants_per_segment": variants})
        started = time.perf_counter()
        campaign: CampaignDraft = generate_campaign(
            ex.brand,
            brief,
            backend,
            prompt=prompt,
            embedder=embedder,
            options=GenerationOptions(seed=seed + i),
        )
        seconds += time.perf_counter() - started
        print(
            f"{backend.adapter_name or 'base'} {i + 1}/{len(examples)} {ex.business}: "
            f"{len(campaign.variants[ex.segment.name])} returned, {campaign.stats.candidates} candidates, "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        requested += variants
        for v in campaign.variants[ex.segment.name]:
            returned += 1
            is_cut = _cut_off(v)
            is_ungrounded = any(g.gate_id == "grounding" and not g.passed for g in v.gates)
            has_warning = any(not g.passed for g in v.gates)
            cut += is_cut
            ungrounded += is_ungrounded
            warned += has_warning
            sendable += not (is_cut or is_ungrounded or has_warning)
            texts.append(v.draft.full_text())
            if i % 3 == 0:  # ten samples to read, spread over the businesses
                samples.append({"business": ex.business, "occasion": ex.occasion, **v.draft.to_dict()})
    distinct, total = _bigrams(texts)
    return {
        "prompt": f"{prompt.name} v{prompt.version}",
        "adapter": backend.adapter_name,
        "requested": requested,
        "returned": returned,
        "sendable_rate": round(sendable / requested, 3) if requested else None,
        "cut_off_rate": round(cut / max(1, returned), 3),
        "ungrounded_rate": round(ungrounded / max(1, returned), 3),
        "gate_warning_rate": round(warned / max(1, returned), 3),
        "shortfall_rate": round((requested - returned) / requested, 3) if requested else None,
        "distinct_2": round(distinct / total, 3) if total else None,
        "seconds_per_variant": round(seconds / max(1, requested), 2),
        "samples": samples,
    }


def _write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    """Run the benchmark and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--limit", type=int, default=30, help="Eval briefs to use (at least 30 for the figures)."
    )
    parser.add_argument("--variants", type=int, default=1, help="Variants asked for per brief.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--adapter", default=None, help="The tuned side's adapter [default: the shipped one]."
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    args = parser.parse_args()
    # The cache the command line uses, so COPYLOOP_CACHE_DIR moves the benchmark's files too.
    cache_dir = load_settings().cache_dir
    _, held_out = split(load_corpus())
    # spread over businesses and occasions: every k-th e-mail of the eval split
    step = max(1, len(held_out) // args.limit)
    examples = held_out[::step][: args.limit]
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "eval_briefs": len(examples),
        "eval_businesses": sorted({e.business for e in examples}),
        "targets": TARGETS,
    }
    tuned = TransformersBackend(adapter=args.adapter, cache_dir=cache_dir)
    try:
        # the demo campaign first, on a machine the rest of the run has not yet warmed or crowded
        brand = load_brand(ROOT / "genai/samples/wick-and-willow.html", "https://wickandwillow.example/")
        brief = load_brief(ROOT / "genai/samples/holiday-brief.yaml")
        started = time.perf_counter()
        demo = generate_campaign(brand, brief, tuned, options=GenerationOptions(seed=7))
        result["demo_campaign"] = {
            "segments": len(brief.segments),
            "variants_per_segment": brief.variants_per_segment,
            "seconds": round(time.perf_counter() - started, 1),
            "returned": sum(len(v) for v in demo.variants.values()),
            "candidates": demo.stats.candidates,
            "shortfall_reasons": demo.stats.shortfall_reasons,
            "warned_reasons": demo.stats.warned_reasons,
            # what `make demo` writes, to read as a marketer would
            "variants": {
                segment: [
                    {**v.draft.to_dict(), "warnings": [g.gate_id for g in v.gates if not g.passed]}
                    for v in variants
                ]
                for segment, variants in demo.variants.items()
            },
        }
        result["tuned"] = _measure(tuned, load_prompt().version, examples, args.variants, args.seed)
    finally:
        tuned.close()
    _write(args.out, {**result, "complete": False})  # the tuned side, should the base side not finish
    base = TransformersBackend(adapter="none", cache_dir=cache_dir)
    try:
        result["base"] = _measure(base, "1", examples, args.variants, args.seed)
    finally:
        base.close()
    result["variants"] = result["base"]["returned"] + result["tuned"]["returned"]
    tuned_rate = result["tuned"]["sendable_rate"] or 0.0
    result["met"] = {
        "tuned_sendable_rate": tuned_rate >= TARGETS["tuned_sendable_rate_min"],
        "tuned_cut_off_rate": result["tuned"]["cut_off_rate"] <= TARGETS["tuned_cut_off_rate_max"],
        "demo_campaign_s": result["demo_campaign"]["seconds"] <= TARGETS["demo_campaign_s_max"],
    }
    _write(args.out, {**result, "complete": True})
    print(json.dumps({k: v for k, v in result.items() if k not in ("base", "tuned")}, indent=2))
    for name in ("base", "tuned"):
        print(name, {k: v for k, v in result[name].items() if k != "samples"})


if __name__ == "__main__":
    main()
