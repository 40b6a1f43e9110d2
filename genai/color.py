"""Hex colours, WCAG 2.x relative luminance and contrast, and nudging a colour to a target contrast."""

from __future__ import annotations

import re

from genai.errors import InvalidInputError

__all__ = [
    "AA_NORMAL_TEXT",
    "NEAR_BLACK",
    "WHITE",
    "adjust_to_contrast",
    "best_text_color",
    "contrast_ratio",
    "is_near_white",
    "is_neutral",
    "mix",
    "normalize_hex",
    "parse_hex",
    "relative_luminance",
    "to_hex",
]

AA_NORMAL_TEXT = 4.5  # WCAG 2.x level AA for body-size text
WHITE = "#ffffff"
NEAR_BLACK = "#111111"  # softer than pure black, still ~18.9:1 on white

_HEX_RE = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# A colour whose every channel is this close to 255 reads as "white" on a white email body.
_NEAR_WHITE_MAX_DEFICIT = 32

# White, black and greys: every channel within this many steps of the others.
_NEUTRAL_CHROMA = 10

RGB = tuple[int, int, int]


def parse_hex(value: str, *, field: str = "color") -> RGB:
    """Parse `#rgb` or `#rrggbb` (the `#` optional) into an (r, g, b) tuple of 0..255 ints."""
    match = _HEX_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidInputError(f"{value!r} is not a #rrggbb colour", field=field)
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: tuple[float, float, float]) -> str:
    """Format an (r, g, b) tuple as lowercase `#rrggbb`, clamping each channel to 0..255."""
    r, g, b = (max(0, min(255, round(c))) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def normalize_hex(value: str, *, field: str = "color") -> str:
    """Return `value` as lowercase six-digit `#rrggbb`."""
    return to_hex(parse_hex(value, field=field))


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """The WCAG relative luminance of a colour, 0 (black) to 1 (white)."""
    r, g, b = parse_hex(color)
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast_ratio(a: str, b: str) -> float:
    """The WCAG contrast ratio between two colours, 1 to 21, independent of order."""
    la, lb = relative_luminance(a), relative_luminance(b)
    light, dark = max(la, lb), min(la, lb)
    return (light + 0.05) / (dark + 0.05)


def is_near_white(color: str) -> bool:
    """True when every channel is within a small distance of 255 (page-background colours)."""
    return all(255 - c <= _NEAR_WHITE_MAX_DEFICIT for c in parse_hex(color))


def is_neutral(colour: str) -> bool:
    """True for white, black and greys (all channels within a few steps of each other)."""
    channels = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return max(channels) - min(channels) <= _NEUTRAL_CHROMA


def best_text_color(background: str, candidates: tuple[str, ...] = (WHITE, NEAR_BLACK)) -> str:
    """The candidate text colour with the highest contrast on `background` (first wins ties)."""
    return max(candidates, key=lambda c: contrast_ratio(background, c))


def mix(a: str, b: str, t: float) -> str:
    """Blend `a` toward `b` by fraction `t` (0 gives `a`, 1 gives `b`), channel by channel in sRGB."""
    ra, rb = parse_hex(a), parse_hex(b)
    return to_hex((ra[0] + (rb[0] - ra[0]) * t, ra[1] + (rb[1] - ra[1]) * t, ra[2] + (rb[2] - ra[2]) * t))


def adjust_to_contrast(
    background: str, text: str, target: float = AA_NORMAL_TEXT, *, step: float = 0.02
) -> str:
    """Darken or lighten `background` step by step, away from `text`, until their contrast reaches `target`.

    Returns the background unchanged (normalised) when it already meets the target. Moving toward
    black or white always ends at 21:1 or the text's own contrast with that end, so the loop ends; if
    even the end point falls short, that end point is returned as the best available.
    """
    if not 0 < step <= 1:
        raise InvalidInputError(f"must be in (0, 1], got {step}", field="step")
    current = normalize_hex(background, field="background")
    if contrast_ratio(current, text) >= target:
        return current
    # Move the background away from the text's luminance so the gap can only grow.
    toward = "#000000" if relative_luminance(text) >= relative_luminance(current) else WHITE
    steps = round(1 / step)
    for i in range(1, steps + 1):
        candidate = mix(current, toward, min(1.0, i * step))
        if contrast_ratio(candidate, text) >= target:
            return candidate
    return toward
