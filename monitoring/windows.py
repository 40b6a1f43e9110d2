"""Time windows of a monitoring run: durations such as ``24h`` or ``7d``, aligned so reruns agree."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from monitoring.errors import InvalidInputError

__all__ = ["Window", "monitoring_window", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_duration(text: str | dt.timedelta, field: str = "window") -> dt.timedelta:
    """A duration written as a whole number and a unit: ``90m``, ``24h``, ``7d``, ``2w``."""
    if isinstance(text, dt.timedelta):
        value = text
    else:
        match = _DURATION.match(str(text))
        if match is None:
            raise InvalidInputError(f"{text!r} is not a duration like 30m, 24h, 7d or 2w", field=field)
        value = dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if value <= dt.timedelta(0):
        raise InvalidInputError("must be longer than zero", field=field)
    if value.total_seconds() != int(value.total_seconds()):
        raise InvalidInputError("must be a whole number of seconds", field=field)
    return value


@dataclass(frozen=True)
class Window:
    """The current window ``[start, end)`` and its reference ``[reference_start, start)``."""

    start: dt.datetime
    end: dt.datetime
    reference_start: dt.datetime

    @property
    def length(self) -> dt.timedelta:
        """How long the current window is."""
        return self.end - self.start

    @property
    def reference_length(self) -> dt.timedelta:
        """How long the reference window is."""
        return self.start - self.reference_start

    @property
    def label(self) -> str:
        """The window's length and its reference's, e.g. ``24h/7d``."""
        return f"{_short(self.length)}/{_short(self.reference_length)}"

    @property
    def key(self) -> str:
        """A stable name of the window, safe in file names: ``20250101T000000Z_24h_ref7d``."""
        return f"{_stamp(self.end)}_{_short(self.length)}_ref{_short(self.reference_length)}"

    def as_dict(self) -> dict[str, str]:
        """The bounds as ISO 8601 strings."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "reference_start": self.reference_start.isoformat(),
            "length": _short(self.length),
            "reference_length": _short(self.reference_length),
        }


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _short(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"  # pragma: no cover - every whole number of seconds divides by 1


def monitoring_window(
    window: str | dt.timedelta = "24h",
    reference: str | dt.timedelta = "7d",
    now: dt.datetime | None = None,
    *,
    align: bool = True,
) -> Window:
    """The last complete window before `now` and the reference span just before it.

    With `align` the window ends on a multiple of its length counted from the Unix epoch (midnight
    UTC for ``24h``, the top of the hour for ``1h``), so every run between two boundaries covers the
    same rows; without it the window ends at `now`.
    """
    length = parse_duration(window, "window")
    reference_length = parse_duration(reference, "reference")
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError("must be timezone-aware", field="now")
    moment = moment.astimezone(dt.UTC)
    if align:
        elapsed = int((moment - _EPOCH).total_seconds())
        size = int(length.total_seconds())
        end = _EPOCH + dt.timedelta(seconds=elapsed - elapsed % size)
    else:
        end = moment
    start = end - length
    return Window(start=start, end=end, reference_start=start - reference_length)
