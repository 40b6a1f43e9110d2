"""The wire models and the typed dicts used for batches accept and refuse exactly the same events."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from feedback.events import FeedbackEventDict, FeedbackEventIn, OutcomeEventDict, OutcomeEventIn

PAIRS: list[tuple[type[BaseModel], Any]] = [
    (FeedbackEventIn, FeedbackEventDict),
    (OutcomeEventIn, OutcomeEventDict),
]
BASE = {"idempotency_key": "k", "variant_id": "v" * 32, "event_time": "2024-05-01T10:00:00Z"}
SAMPLES: list[dict[str, Any]] = [
    {**BASE, "kind": "rating", "rating": 5},
    {**BASE, "kind": "rating", "rating": 0},
    {**BASE, "kind": "rating", "rating": "x"},
    {**BASE, "kind": "accept", "reason_codes": ["ok"] * 21},
    {**BASE, "kind": "accept", "reason_codes": ["Bad Code"]},
    {**BASE, "kind": "comment", "comment": "c" * 5_001},
    {**BASE, "kind": "edit", "edited_text": ""},
    {**BASE, "kind": "accept", "actor": " ann "},
    {**BASE, "kind": "open", "contact": "ann@example.com"},
    {**BASE, "kind": "conversion", "contact": "ann@example.com", "revenue": 12.5},
    {**BASE, "kind": "conversion", "contact": "ann@example.com", "revenue": -1},
    {**BASE, "kind": "conversion", "contact": "ann@example.com", "revenue": float("nan")},
    {**BASE, "kind": "open", "contact": " "},
    {**BASE, "kind": "open", "contact": "x" * 321},
    {**BASE, "kind": "open", "contact": "ann@example.com", "event_time": "2024-05-01T10:00:00"},
    {**BASE, "kind": "open", "contact": "ann@example.com", "idempotency_key": "has space"},
    {**BASE, "kind": "open", "contact": "ann@example.com", "variant_id": "v" * 33},
    {**BASE, "kind": "open", "contact": "ann@example.com", "extra": 1},
    {"kind": "open"},
]


def _first_error(validate: Any, data: dict[str, Any]) -> tuple[str, ...] | None:
    try:
        validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        return (first["type"], *map(str, first["loc"]))
    return None


@pytest.mark.parametrize(("model", "row"), PAIRS)
def test_typed_dicts_have_the_fields_of_the_wire_models(model: type[BaseModel], row: Any) -> None:
    wire, batch = model.model_json_schema(), TypeAdapter(row).json_schema()
    assert set(batch["properties"]) == set(wire["properties"])
    assert set(batch["required"]) == set(wire["required"])


@pytest.mark.parametrize(("model", "row"), PAIRS)
@pytest.mark.parametrize("data", SAMPLES)
def test_typed_dicts_accept_and_refuse_like_the_wire_models(
    model: type[BaseModel], row: Any, data: dict[str, Any]
) -> None:
    adapter = TypeAdapter(row)
    assert _first_error(model.model_validate, data) == _first_error(adapter.validate_python, data)
    if _first_error(model.model_validate, data) is None:
        parsed = model.model_validate(data).model_dump(exclude_unset=True)
        assert parsed == adapter.validate_python(data)
