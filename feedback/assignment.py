"""Deterministic assignment of contacts to experiment arms by a stable hash.

The algorithm is part of the product's contract: a contact must land in the same arm on
every process, after every restart and in every future version, or experiments silently
mix their arms. It is therefore spelled out here and pinned by tests with fixed outputs:

1. ``digest = sha256(f"{salt}:{contact_key}".encode("utf-8"))``
2. ``u = (first 8 bytes of digest, big-endian, as an unsigned integer >> 11) / 2**53``,
   a uniform number in [0, 1) with the 53 bits a float holds exactly
3. the arm is the first one whose cumulative share of the total weight exceeds ``u``
   (arms of weight zero never receive anyone).

Changing the weights moves the boundaries, so contacts near them move arm; callers that
need sticky assignment store the first one (the experiment's assignment table).
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Iterable, Sequence

from feedback.errors import InvalidInputError

__all__ = ["assign_arm", "hash_to_unit", "validate_weights"]

_MANTISSA_BITS = 53


def hash_to_unit(salt: str, contact_key: str) -> float:
    """Map an experiment salt and a contact to a uniform number in [0, 1), identically everywhere."""
    digest = hashlib.sha256(f"{salt}:{contact_key}".encode()).digest()
    top = int.from_bytes(digest[:8], "big") >> (64 - _MANTISSA_BITS)
    return top / float(1 << _MANTISSA_BITS)


def validate_weights(weights: Sequence[float], field: str = "weights") -> list[float]:
    """Check allocation weights (finite, non-negative, some positive) and return them as floats."""
    if isinstance(weights, str | bytes) or not isinstance(weights, Iterable):
        raise InvalidInputError("must be a sequence of numbers, one per arm", field=field)
    items = list(weights)
    if not items:
        raise InvalidInputError("needs at least one arm", field=field)
    checked: list[float] = []
    for index, weight in enumerate(items):
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise InvalidInputError(f"weight {index} is not a number: {weight!r}", field=field)
        value = float(weight)
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"weight {index} must be finite and >= 0, got {weight!r}", field=field)
        checked.append(value)
    if not any(value > 0 for value in checked):
        raise InvalidInputError("at least one weight must be positive", field=field)
    return checked


def assign_arm(salt: str, contact_key: str, weights: Sequence[float]) -> int:
    """Return the index of the arm that `contact_key` belongs to in the experiment salted `salt`."""
    if not isinstance(salt, str) or not salt:
        raise InvalidInputError("must be a non-empty string", field="salt")
    if not isinstance(contact_key, str) or not contact_key:
        raise InvalidInputError("must be a non-empty string", field="contact_key")
    checked = validate_weights(weights)
    threshold = hash_to_unit(salt, contact_key) * math.fsum(checked)
    cumulative = 0.0
    last_positive = 0
    for index, weight in enumerate(checked):
        if weight <= 0:
            continue
        cumulative += weight
        last_positive = index
        if threshold < cumulative:
            return index
    # Rounding can leave `cumulative` a hair below the total; the top of the range belongs to the last arm.
    return last_positive
