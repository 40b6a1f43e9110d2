"""Summary tables the reports carry next to Evidently's metrics: rates with Wilson intervals, percentiles.

Evidently reports a mean; a marketer comparing two prompt versions also needs to know how sure that
mean is, so rates come with Wilson score intervals (good at small counts and at rates near 0 or 1).
Tables are lists of plain dicts, ready for JSON, and render to a small HTML section.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["Table", "percentile_table", "rate_table", "tables_html", "wilson_interval"]

Table = list[dict[str, Any]]


def wilson_interval(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a rate; (nan, nan) when there are no trials."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(special.ndtri(0.5 + level / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate_table(frame: pd.DataFrame, by: str | None, flags: Sequence[str], level: float = 0.95) -> Table:
    """Per group of `by` (or overall): trials, and for each 0/1 column in `flags` its rate and interval.

    Rows where a flag is missing are not trials of that flag.
    """
    groups: list[tuple[str, pd.DataFrame]] = (
        [("all", frame)]
        if by is None
        else [(str(key), part) for key, part in frame.groupby(by, sort=True, dropna=False, observed=True)]
    )
    rows: Table = []
    for key, part in groups:
        row: dict[str, Any] = {"group": key}
        for flag in flags:
            values = part[flag].dropna().to_numpy(dtype="float64")
            n, hits = len(values), float(values.sum())
            low, high = wilson_interval(hits, n, level)
            row[f"{flag}_n"] = n
            row[flag] = hits / n if n else math.nan
            row[f"{flag}_low"] = low
            row[f"{flag}_high"] = high
        rows.append(row)
    return rows


def percentile_table(frame: pd.DataFrame, by: str | None, columns: Sequence[str]) -> Table:
    """Per group (or overall): rows, and p50, p95 and p99 of each column (missing values ignored)."""
    groups: list[tuple[str, pd.DataFrame]] = (
        [("all", frame)]
        if by is None
        else [(str(k), p) for k, p in frame.groupby(by, sort=True, observed=True)]
    )
    rows: Table = []
    for key, part in groups:
        row: dict[str, Any] = {"group": key, "rows": len(part)}
        for column in columns:
            values = part[column].dropna().to_numpy(dtype="float64")
            for q in (50, 95, 99):
                row[f"{column}_p{q}"] = float(np.percentile(values, q)) if len(values) else math.nan
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4g}"
    return html.escape(str(value))


def tables_html(tables: Mapping[str, Table], title: str) -> str:
    """The tables as one HTML section, to append to a report page."""
    parts = [
        '<section id="copyloop-tables" style="font-family:sans-serif;margin:24px">',
        f"<h2>{html.escape(title)}</h2>",
    ]
    for name, rows in tables.items():
        parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3>")
        if not rows:
            parts.append("<p>No rows in this window.</p>")
            continue
        columns = list(rows[0].keys())
        parts.append('<table style="border-collapse:collapse;font-size:13px">')
        parts.append(
            "<tr>"
            + "".join(
                f'<th style="border:1px solid #ccc;padding:3px 6px">{html.escape(c)}</th>' for c in columns
            )
            + "</tr>"
        )
        for row in rows:
            parts.append(
                "<tr>"
                + "".join(
                    f'<td style="border:1px solid #ccc;padding:3px 6px">{_cell(row.get(c))}</td>'
                    for c in columns
                )
                + "</tr>"
            )
        parts.append("</table>")
    parts.append("</section>")
    return "\n".join(parts)
