"""Deterministic assignment: pinned outputs, stability across processes, the split, bad weights."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from feedback.assignment import assign_arm, hash_to_unit, validate_weights
from feedback.errors import InvalidInputError
from feedback.experiments import srm_check

REPO = Path(__file__).resolve().parents[2]

# Pinned outputs: if any of these change, contacts already in running experiments would switch arms.
PINNED = [
    # salt, contact, unit value, arm for [1, 1], arm for [0.5, 0.3, 0.2], arm for [0, 1, 3]
    ("exp-1", "contact-1", 0.8245465653305346, 1, 2, 2),
    ("exp-1", "contact-2", 0.0854045525176591, 0, 0, 1),
    ("exp-1", "a", 0.7960702524109123, 1, 1, 2),
    ("spring-sale", "7f3a9c", 0.47157517086147194, 0, 0, 2),
    ("spring-sale", "zoë@example", 0.8493921996255266, 1, 2, 2),
]
PINNED_THREE_WAY = (
    "0000011121101221200102010211120120011211"  # arms of c0..c39, salt "pinned", weights [1, 1, 1]
)


@pytest.mark.parametrize(("salt", "contact", "unit", "two", "three", "skewed"), PINNED)
def test_assignment_matches_pinned_outputs(
    salt: str, contact: str, unit: float, two: int, three: int, skewed: int
) -> None:
    assert hash_to_unit(salt, contact) == unit
    assert assign_arm(salt, contact, [1, 1]) == two
    assert assign_arm(salt, contact, [0.5, 0.3, 0.2]) == three
    assert assign_arm(salt, contact, [0, 1, 3]) == skewed


def test_assignment_of_a_sequence_of_contacts_matches_pinned_string() -> None:
    arms = "".join(str(assign_arm("pinned", f"c{i}", [1, 1, 1])) for i in range(40))
    assert arms == PINNED_THREE_WAY


def test_unit_value_is_top_53_bits_of_sha256_of_salt_colon_contact() -> None:
    digest = hashlib.sha256(b"exp-1:contact-1").digest()
    expected = (int.from_bytes(digest[:8], "big") >> 11) / 2**53
    assert hash_to_unit("exp-1", "contact-1") == expected


def test_assignment_is_identical_in_fresh_processes_with_different_hash_seeds() -> None:
    script = (
        "from feedback.assignment import assign_arm;"
        "print(''.join(str(assign_arm('pinned', f'c{i}', [1, 1, 1])) for i in range(40)))"
    )
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == PINNED_THREE_WAY


def test_scaling_all_weights_does_not_move_anyone() -> None:
    keys = [f"user-{i}" for i in range(2000)]
    assert [assign_arm("s", k, [1, 3]) for k in keys] == [assign_arm("s", k, [25, 75]) for k in keys]


def test_different_salts_assign_independently() -> None:
    keys = [f"user-{i}" for i in range(20_000)]
    first = np.array([assign_arm("exp-a", k, [1, 1]) for k in keys])
    second = np.array([assign_arm("exp-b", k, [1, 1]) for k in keys])
    # Independent fair splits agree on half the contacts (sd 0.0035 at n=20k).
    assert abs(np.mean(first == second) - 0.5) < 0.015


def test_split_over_100k_contacts_matches_weights() -> None:
    weights = [0.5, 0.3, 0.2]
    n = 100_000
    counts = np.bincount([assign_arm("split-check", f"contact-{i}", weights) for i in range(n)], minlength=3)
    for count, weight in zip(counts, weights, strict=True):
        sd = np.sqrt(n * weight * (1 - weight))
        assert abs(count - n * weight) < 4 * sd
    assert not srm_check(counts.tolist(), weights).alarm


def test_zero_weight_arm_never_receives_anyone() -> None:
    arms = {assign_arm("paused", f"k{i}", [1, 0, 1]) for i in range(5000)}
    assert arms == {0, 2}


def test_numpy_weights_are_accepted() -> None:
    assert assign_arm("exp-1", "contact-1", np.array([0.5, 0.3, 0.2])) == 2  # type: ignore[arg-type]
    assert validate_weights((1, np.int64(3))) == [1.0, 3.0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([], "at least one arm"),
        ([0, 0], "at least one weight must be positive"),
        ([1, -0.5], "weight 1 must be finite and >= 0"),
        ([1, float("nan")], "weight 1 must be finite"),
        ([1, float("inf")], "weight 1 must be finite"),
        ([1, "2"], "weight 1 is not a number"),
        ([True, 1], "weight 0 is not a number"),
        ("11", "must be a sequence"),
    ],
)
def test_invalid_weights_raise_an_error_naming_the_field(weights: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        assign_arm("exp", "contact", weights)  # type: ignore[arg-type]
    assert caught.value.field == "weights"


@pytest.mark.parametrize(("salt", "contact", "field"), [("", "c", "salt"), ("s", "", "contact_key")])
def test_empty_salt_or_contact_is_refused(salt: str, contact: str, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        assign_arm(salt, contact, [1, 1])
    assert caught.value.field == field
