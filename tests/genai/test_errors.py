"""The one translation of a validation error: the field at fault and the reason, wherever it is raised."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from genai.errors import InvalidInputError, invalid_input


class _Segment(BaseModel):
    name: str
    size: int


class _Brief(BaseModel):
    goal: str
    segments: list[_Segment]


def _problem(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Brief.model_validate(data)
    return info.value


def test_the_field_is_the_location_under_the_prefix() -> None:
    error = invalid_input(_problem({"goal": "Sale", "segments": [{"name": "a", "size": "many"}]}), "brief")
    assert isinstance(error, InvalidInputError)
    assert error.field == "brief.segments.0.size"
    assert "integer" in error.message
    assert str(error).startswith("brief.segments.0.size: ")


def test_a_framework_source_is_left_out_and_other_problems_are_counted() -> None:
    problems = [
        {"loc": ("body", "brief", "goal"), "msg": "Field required"},
        {"loc": ("body", "brief", "segments"), "msg": "Field required"},
        {"loc": ("query", "limit"), "msg": "Input should be a valid integer"},
    ]
    error = invalid_input(problems, sources=("body", "query"), count_others=True)
    assert error.field == "brief.goal"
    assert error.message == "Field required (and 2 more problems)"
    one_more = invalid_input(problems[:2], sources=("body",), count_others=True)
    assert one_more.message == "Field required (and 1 more problem)"


def test_a_problem_with_no_location_is_named_by_the_prefix_or_the_fallback() -> None:
    problem = _problem(["not", "a", "mapping"])
    assert invalid_input(problem, "brief").field == "brief"
    assert invalid_input(problem, fallback="config").field == "config"
    assert invalid_input(problem).field is None
