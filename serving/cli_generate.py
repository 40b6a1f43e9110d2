"""The `copyloop generate` job: brand page + brief -> variants, manifest and a preview page."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from genai.backends import Backend, get_backend
from genai.brand import load_brand
from genai.brand.logo import verify_logo
from genai.brief import load_brief
from genai.campaign import CampaignDraft, Variant
from genai.pipeline import GenerationOptions, generate_campaign
from genai.render import preview_html, render_index
from serving.settings import Settings

__all__ = ["run_generate", "write_campaign"]


def run_generate(
    settings: Settings,
    brand_path: Path,
    brief_path: Path,
    out_dir: Path,
    *,
    url: str | None = None,
    seed: int | None = None,
    backend: Backend | None = None,
) -> Path:
    """Generate a campaign and write it to `out_dir`; returns the preview page's path."""
    brand = verify_logo(
        load_brand(brand_path, url), timeout=settings.brand_fetch_timeout_s, policy=settings.fetch_policy()
    )
    for warning in brand.completeness().warnings:
        if warning.startswith("logo_url:"):
            tqdm.write(warning, file=sys.stderr)
    brief = load_brief(brief_path)
    total = sum(1 for _ in brief.segments) * brief.variants_per_segment
    own_backend = backend is None
    with tqdm(total=None, desc="loading model", unit="", bar_format="{desc} {elapsed}") as bar:
        if backend is None:
            backend = get_backend(settings.backend, **_progress_option(settings, bar))
    try:
        with tqdm(total=total, desc="generating", unit="variant") as bar:

            def progress(message: str, done: int) -> None:
                bar.set_postfix_str(message)
                bar.n = min(done, total)
                bar.refresh()

            campaign = generate_campaign(
                brand, brief, backend, options=GenerationOptions(seed=seed), progress=progress
            )
    finally:
        if own_backend:
            backend.close()
    for reasons in (campaign.stats.shortfall_reasons, campaign.stats.warned_reasons):
        for segment, reason in reasons.items():
            tqdm.write(f"{segment}: {reason}", file=sys.stderr)
    return write_campaign(campaign, brand, out_dir)


def _progress_option(settings: Settings, bar: tqdm) -> dict[str, object]:  # type: ignore[type-arg]
    options = settings.backend_options()
    if settings.backend == "transformers":
        options["progress"] = lambda message: bar.set_description_str(message)
    return options


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "segment"


def write_campaign(campaign: CampaignDraft, brand: object, out_dir: Path) -> Path:
    """Write each variant's HTML and text, `manifest.json` and `index.html`."""
    from genai.brand import BrandKit

    assert isinstance(brand, BrandKit)
    out_dir.mkdir(parents=True, exist_ok=True)
    # two segment names can share a slug ("vip club", "vip-club"): clear each folder once, then write
    for name in {_slug(segment) for segment in campaign.variants}:
        if (out_dir / name).exists():
            shutil.rmtree(out_dir / name)
        (out_dir / name).mkdir()
    for segment, variants in campaign.variants.items():
        folder = out_dir / _slug(segment)
        for v in variants:
            (folder / f"{v.id}.html").write_text(
                v.html, encoding="utf-8"
            )  # for the e-mail platform: raw tags
            (folder / f"{v.id}.preview.html").write_text(preview_html(v.html, brand), encoding="utf-8")
            (folder / f"{v.id}.txt").write_text(v.text, encoding="utf-8")

    def href(v: Variant) -> str:
        return f"{_slug(v.segment)}/{v.id}.preview.html"

    manifest = campaign.to_dict()
    for variants in manifest["variants"].values():
        for v in variants:
            v["files"] = {
                "html": f"{_slug(v['segment'])}/{v['id']}.html",
                "preview": f"{_slug(v['segment'])}/{v['id']}.preview.html",
                "text": f"{_slug(v['segment'])}/{v['id']}.txt",
            }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    (out_dir / "brand.json").write_text(brand.to_json(), encoding="utf-8")
    index = out_dir / "index.html"
    index.write_text(render_index(campaign, brand, variant_href=href), encoding="utf-8")
    return index
