"""What the reports read from the feedback store, as pandas frames for one window.

The wide reads (every variant of the current and reference windows, every verdict and send of the
current one) select only numbers and short labels, and let the database pull the few JSON fields
they need, so a million rows load without decoding a million drafts. Texts are read separately,
only for the rows a report samples.

Outcome rates are counted per send: a send in the window, and whether the same contact opened,
clicked, converted or unsubscribed from that variant within the window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Float, case, cast, extract, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from feedback.models import (
    Brand,
    Experiment,
    ExperimentArm,
    FeedbackEvent,
    GenerationRequestRow,
    OutcomeEvent,
    VariantRow,
    Workspace,
)
from genai.campaign import GenerationStats
from genai.draft import EmailDraft
from monitoring.windows import Window

__all__ = [
    "MonitoringFrames",
    "Scope",
    "load_edits",
    "load_frames",
    "load_texts",
    "offer_types",
    "scopes",
    "stable_sample",
]

VERDICT_KINDS = ("accept", "reject", "edit")
OUTCOME_FLAGS = {
    "open": "opened",
    "click": "clicked",
    "conversion": "converted",
    "unsubscribe": "unsubscribed",
}
_ID_CHUNK = 500


@dataclass(frozen=True)
class Scope:
    """What one Evidently project covers: a workspace, or one brand of it."""

    workspace_id: str
    workspace_name: str
    brand_id: str | None = None
    brand_name: str | None = None

    @property
    def name(self) -> str:
        """The project's name: ``copyloop · workspace`` or ``copyloop · workspace · brand``."""
        if self.brand_name is None:
            return f"copyloop · {self.workspace_name}"
        return f"copyloop · {self.workspace_name} · {self.brand_name}"


@dataclass
class MonitoringFrames:
    """The rows of one window.

    - ``generations``: one row per variant created in ``[reference_start, end)`` (of the reference
      window, possibly only a sample of its requests), with its lineage, latency parts, gate failures
      and request inputs; ``period`` is ``current`` or ``reference``.
    - ``reference_requests``: how many generation requests the whole reference window holds.
    - ``requests``: generation requests of the current window with their candidate and block counts.
    - ``verdicts``: the latest accept, reject or edit of each variant judged in the current window.
    - ``ratings``: rating events of the current window.
    - ``sends``: one row per send in the current window with 0/1 engagement flags.
    """

    window: Window
    reference_requests: int
    generations: pd.DataFrame
    requests: pd.DataFrame
    verdicts: pd.DataFrame
    ratings: pd.DataFrame
    sends: pd.DataFrame

    @property
    def current(self) -> pd.DataFrame:
        """The variants of the current window."""
        return self.generations[self.generations["period"] == "current"]

    @property
    def reference(self) -> pd.DataFrame:
        """The variants of the reference window."""
        return self.generations[self.generations["period"] == "reference"]


def scopes(engine: Engine, workspace: str | None = None, per: str = "workspace") -> list[Scope]:
    """The workspaces (by id or name; all when None) to monitor, split by brand when `per` is "brand"."""
    with engine.connect() as conn:
        stmt = select(Workspace.id, Workspace.name).order_by(Workspace.name)
        if workspace is not None:
            stmt = stmt.where((Workspace.id == workspace) | (Workspace.name == workspace))
        found = [(str(row.id), str(row.name)) for row in conn.execute(stmt)]
        if per != "brand":
            return [Scope(ws_id, ws_name) for ws_id, ws_name in found]
        out: list[Scope] = []
        for ws_id, ws_name in found:
            brands = conn.execute(
                select(Brand.id, Brand.name).where(Brand.workspace_id == ws_id).order_by(Brand.name)
            )
            out.extend(Scope(ws_id, ws_name, str(b.id), str(b.name)) for b in brands)
        return out


def _epoch(column: Any, dialect: str) -> ColumnElement[float]:
    """Seconds since the Unix epoch, computed by the database (no datetime objects per row)."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return cast(extract("epoch", column), Float)


def _gate_failures(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return literal_column(
            "(SELECT count(*) FROM json_each(variants.gate_results) AS g "
            "WHERE json_extract(g.value, '$.passed') = 0)"
        )
    return literal_column(
        "jsonb_array_length(jsonb_path_query_array(variants.gate_results, '$[*] ? (@.passed == false)'))"
    )


def _times(seconds: pd.Series) -> pd.Series:
    return pd.to_datetime(seconds.astype("float64") * 1e6, unit="us", utc=True).astype("datetime64[us, UTC]")


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=list(columns))


def _scoped(stmt: Any, scope: Scope, brand_column: Any) -> Any:
    if scope.brand_id is not None:
        return stmt.where(brand_column == scope.brand_id)
    return stmt


def _generations(
    engine: Engine,
    scope: Scope,
    start: dt.datetime,
    end: dt.datetime,
    request_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Variants created in ``[start, end)`` (only those of `request_ids` when given)."""
    dialect = engine.dialect.name
    v, gr = VariantRow, GenerationRequestRow
    stmt = (
        select(
            v.id.label("variant_id"),
            v.generation_request_id.label("request_id"),
            v.segment_name.label("segment"),
            v.rank,
            v.score,
            v.backend,
            v.model_id,
            v.prompt_name,
            v.prompt_version,
            v.tokens_in,
            v.tokens_out,
            v.ttft_s,
            v.latency_s,
            v.time_per_output_token_s.label("stored_tpot_s"),
            v.finish_reason,
            v.attempts,
            _gate_failures(dialect).label("gate_failures"),
            _epoch(v.created_at, dialect).label("created_s"),
            gr.brand_id,
            gr.brief["goal"].as_string().label("goal"),
            gr.brief["offer"].as_string().label("offer"),
            gr.brief["language"].as_string().label("language"),
            gr.stats["queue_s"].as_float().label("queue_s"),
        )
        .join(gr, (gr.workspace_id == v.workspace_id) & (gr.id == v.generation_request_id))
        .where(
            v.workspace_id == scope.workspace_id,
            v.created_at >= start,
            v.created_at < end,
        )
    )
    stmt = _scoped(stmt, scope, gr.brand_id)
    rows: list[Any] = []
    with engine.connect() as conn:
        if request_ids is None:
            result = conn.execute(stmt)
            keys = list(result.keys())
            rows = list(result.fetchall())
        else:
            keys = [column.key for column in stmt.selected_columns]
            for chunk in _chunks(request_ids):
                rows.extend(conn.execute(stmt.where(v.generation_request_id.in_(chunk))).fetchall())
    frame = _frame(rows, keys)
    frame["created_at"] = _times(frame.pop("created_s"))
    for column in ("score", "ttft_s", "latency_s", "queue_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("tokens_in", "tokens_out", "attempts", "rank", "gate_failures"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return _with_derived(frame)


def _request_ids(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime) -> pd.Series:
    """Ids of the generation requests created in ``[start, end)``."""
    gr = GenerationRequestRow
    stmt = select(gr.id).where(
        gr.workspace_id == scope.workspace_id, gr.created_at >= start, gr.created_at < end
    )
    with engine.connect() as conn:
        ids = [str(row[0]) for row in conn.execute(_scoped(stmt, scope, gr.brand_id))]
    return pd.Series(ids, dtype="str")


def _with_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """Latency ratios, request inputs and the model version label."""
    tokens = frame["tokens_out"].to_numpy(dtype="float64")
    latency = frame["latency_s"].to_numpy(dtype="float64")
    ttft = frame["ttft_s"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["tokens_per_s"] = np.where(latency > 0, tokens / latency, np.nan)
        decode = np.where(np.isnan(ttft), latency, latency - ttft)
        derived = np.where(tokens > 1, decode / np.maximum(tokens - 1, 1), np.nan)
    # as the backend call measured it (shared by its longest candidate, as Prometheus has it); rows
    # stored before it was kept derive it from the variant's own tokens
    stored = pd.to_numeric(frame.pop("stored_tpot_s"), errors="coerce").to_numpy(dtype="float64")
    frame["time_per_output_token_s"] = np.where(np.isnan(stored), derived, stored)
    goal = frame["goal"].fillna("").astype("string[pyarrow]")
    offer = frame["offer"].fillna("").astype("string[pyarrow]")
    frame["brief_length"] = (goal.str.len() + offer.str.len()).astype("float64").to_numpy()
    frame["offer_type"] = offer_types(offer)
    frame["language"] = frame["language"].fillna("unknown").astype(str)
    frame["model_version"] = frame["model_id"].astype(str)
    frame["backend_model"] = frame["backend"].astype(str) + " / " + frame["model_id"].astype(str)
    return frame.drop(columns=["goal", "offer"])


def offer_types(offers: pd.Series) -> np.ndarray:
    """The kind of offer a brief makes: percent_off, amount_off, free_shipping, gift, none or other."""
    text = offers.fillna("").astype("string[pyarrow]").str.lower()
    kinds = np.full(len(text), "other", dtype=object)
    rules = [
        ("gift", r"\bgift\b|\bfree\b(?!\s+(?:shipping|delivery))"),
        ("amount_off", r"[$£€]\s?\d|\d\s?(?:usd|eur|gbp)\b"),
        ("free_shipping", r"free\s+(?:shipping|delivery)"),
        ("percent_off", r"\d+\s?%"),
    ]
    # Later rules win: "free shipping over $40" is free shipping, "20% off and free shipping" a percentage.
    for kind, pattern in rules:
        kinds[text.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)] = kind
    kinds[(text.str.strip() == "").to_numpy(dtype=bool)] = "none"
    return kinds


def _requests(engine: Engine, scope: Scope, window: Window, generations: pd.DataFrame) -> pd.DataFrame:
    """Requests of the current window with their counts; lineage from their variants (first by rank)."""
    dialect = engine.dialect.name
    gr = GenerationRequestRow
    stmt = select(
        gr.id.label("request_id"),
        _epoch(gr.created_at, dialect).label("created_s"),
        gr.stats,
    ).where(
        gr.workspace_id == scope.workspace_id,
        gr.created_at >= window.start,
        gr.created_at < window.end,
    )
    stmt = _scoped(stmt, scope, gr.brand_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    records = []
    for row in rows:
        stats = GenerationStats.from_dict(row.stats)  # the same type the pipeline wrote
        records.append(
            {
                "request_id": row.request_id,
                "created_s": row.created_s,
                "candidates": float(stats.candidates),
                "blocked": float(stats.blocked),
                "parse_failures": float(stats.parse_failures),
                "blocked_by": {k: float(n) for k, n in stats.blocked_by.items()},
            }
        )
    frame = pd.DataFrame.from_records(
        records,
        columns=["request_id", "created_s", "candidates", "blocked", "parse_failures", "blocked_by"],
    )
    frame["created_at"] = _times(frame.pop("created_s"))
    lineage = generations.sort_values("rank", kind="stable").drop_duplicates("request_id")[
        ["request_id", "model_version", "prompt_version"]
    ]
    frame = frame.merge(lineage, on="request_id", how="left")
    for column in ("model_version", "prompt_version"):
        frame[column] = frame[column].fillna("unknown").astype(str)
    return frame


def _feedback(engine: Engine, scope: Scope, window: Window) -> tuple[pd.DataFrame, pd.DataFrame]:
    dialect = engine.dialect.name
    fe, v, gr = FeedbackEvent, VariantRow, GenerationRequestRow
    stmt = (
        select(
            fe.id.label("event_id"),
            fe.variant_id,
            fe.kind,
            fe.rating,
            _epoch(fe.event_time, dialect).label("event_s"),
            v.model_id.label("model_version"),
            v.prompt_version,
            v.segment_name.label("segment"),
            v.backend,
            v.adapter,
            v.reward_model,
        )
        .join(v, (v.workspace_id == fe.workspace_id) & (v.id == fe.variant_id))
        .where(
            fe.workspace_id == scope.workspace_id,
            fe.event_time >= window.start,
            fe.event_time < window.end,
            fe.kind.in_((*VERDICT_KINDS, "rating")),
        )
    )
    if scope.brand_id is not None:
        stmt = stmt.join(gr, (gr.workspace_id == v.workspace_id) & (gr.id == v.generation_request_id)).where(
            gr.brand_id == scope.brand_id
        )
    with engine.connect() as conn:
        result = conn.execute(stmt)
        frame = _frame(result.fetchall(), list(result.keys()))
    frame["event_time"] = _times(frame.pop("event_s"))
    ratings = frame[frame["kind"] == "rating"][
        ["event_id", "variant_id", "rating", "model_version", "prompt_version", "segment", "event_time"]
    ].reset_index(drop=True)
    ratings["rating"] = pd.to_numeric(ratings["rating"], errors="coerce").astype("float64")
    verdicts = frame[frame["kind"].isin(VERDICT_KINDS)].sort_values(["event_time", "event_id"], kind="stable")
    # A marketer may change their mind: the latest verdict on a variant is the one that counts.
    verdicts = verdicts.drop_duplicates("variant_id", keep="last").drop(columns=["rating"])
    verdicts = verdicts.reset_index(drop=True)
    verdicts["accepted"] = verdicts["kind"].isin(["accept", "edit"]).astype("float64")
    for column in ("adapter", "reward_model"):  # the learning loop's versions; none before it ran
        verdicts[column] = verdicts[column].fillna("(none)").astype(str)
    verdicts["edited"] = (verdicts["kind"] == "edit").astype("float64")
    return verdicts, ratings


def _sends(engine: Engine, scope: Scope, window: Window) -> pd.DataFrame:
    oe, v, gr = OutcomeEvent, VariantRow, GenerationRequestRow
    flags = [
        func.max(case((oe.kind == kind, 1), else_=0)).label(flag)
        for kind, flag in (("send", "sent"), *OUTCOME_FLAGS.items())
    ]
    stmt = (
        select(oe.variant_id, oe.contact_id, *flags)
        .where(
            oe.workspace_id == scope.workspace_id,
            oe.event_time >= window.start,
            oe.event_time < window.end,
        )
        .group_by(oe.variant_id, oe.contact_id)
    )
    if scope.brand_id is not None:
        stmt = (
            stmt.join(v, (v.workspace_id == oe.workspace_id) & (v.id == oe.variant_id))
            .join(gr, (gr.workspace_id == v.workspace_id) & (gr.id == v.generation_request_id))
            .where(gr.brand_id == scope.brand_id)
        )
    with engine.connect() as conn:
        result = conn.execute(stmt)
        frame = _frame(result.fetchall(), list(result.keys()))
        frame = frame[frame["sent"] == 1].drop(columns=["sent"]).reset_index(drop=True)
        lineage = _lineage(conn, scope.workspace_id, frame["variant_id"].unique().tolist())
        experiments = _experiments(conn, scope.workspace_id)
    for flag in OUTCOME_FLAGS.values():
        frame[flag] = frame[flag].astype("float64")
    frame = frame.merge(lineage, on="variant_id", how="left")
    frame = frame.merge(experiments, on="variant_id", how="left")
    frame["experiment"] = frame["experiment"].fillna("(none)")
    frame["arm"] = frame["arm"].fillna("(none)")
    return frame


def _lineage(conn: Any, workspace_id: str, variant_ids: list[str]) -> pd.DataFrame:
    v = VariantRow
    rows: list[Any] = []
    for start in range(0, len(variant_ids), _ID_CHUNK):
        chunk = variant_ids[start : start + _ID_CHUNK]
        rows.extend(
            conn.execute(
                select(
                    v.id.label("variant_id"),
                    v.model_id.label("model_version"),
                    v.prompt_version,
                    v.segment_name.label("segment"),
                    v.pipeline_id,
                    v.adapter,
                    v.reward_model,
                ).where(v.workspace_id == workspace_id, v.id.in_(chunk))
            ).fetchall()
        )
    frame = _frame(
        rows,
        [
            "variant_id",
            "model_version",
            "prompt_version",
            "segment",
            "pipeline_id",
            "adapter",
            "reward_model",
        ],
    )
    for column in ("adapter", "reward_model"):
        frame[column] = frame[column].fillna("(none)").astype(str)
    frame["variant"] = frame["pipeline_id"].fillna(frame["variant_id"]).astype(str)
    return frame.drop(columns=["pipeline_id"])


def _experiments(conn: Any, workspace_id: str) -> pd.DataFrame:
    arm, exp = ExperimentArm, Experiment
    rows = conn.execute(
        select(arm.variant_id, exp.name.label("experiment"), arm.position, arm.is_control)
        .join(exp, (exp.workspace_id == arm.workspace_id) & (exp.id == arm.experiment_id))
        .where(arm.workspace_id == workspace_id)
        .order_by(exp.created_at)
    ).fetchall()
    frame = _frame(rows, ["variant_id", "experiment", "position", "is_control"])
    frame["arm"] = np.where(
        frame["is_control"].astype(bool), "control", "arm " + frame["position"].astype(str)
    ).astype(object)
    # A variant in several experiments is reported under the latest.
    return frame.drop_duplicates("variant_id", keep="last")[["variant_id", "experiment", "arm"]]


def load_frames(
    engine: Engine, scope: Scope, window: Window, *, reference_requests: int | None = None
) -> MonitoringFrames:
    """Every row the three reports need for `scope` in `window`.

    With `reference_requests`, only the variants of that many requests of the reference window are
    read (picked by a hash of the request id, as `drift_sample` picks them), instead of all of them:
    the reports need no more of it, and on a busy store it is most of the rows.
    """
    verdicts, ratings = _feedback(engine, scope, window)
    current = _generations(engine, scope, window.start, window.end)
    if reference_requests is None:
        reference = _generations(engine, scope, window.reference_start, window.start)
        total = int(reference["request_id"].nunique())
    else:
        ids = _request_ids(engine, scope, window.reference_start, window.start)
        total = len(ids)
        picked = ids.loc[stable_sample(ids, reference_requests)].tolist()
        reference = _generations(engine, scope, window.reference_start, window.start, picked)
    generations = pd.concat(
        [current.assign(period="current"), reference.assign(period="reference")], ignore_index=True
    )
    return MonitoringFrames(
        window=window,
        reference_requests=total,
        generations=generations,
        requests=_requests(engine, scope, window, generations),
        verdicts=verdicts,
        ratings=ratings,
        sends=_sends(engine, scope, window),
    )


def _chunks(ids: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(ids)
    for start in range(0, len(items), _ID_CHUNK):
        yield items[start : start + _ID_CHUNK]


def _draft_parts(draft: object) -> tuple[str, str, str]:
    """Subject, body (paragraphs joined by blank lines) and all visible text of a stored draft."""
    if not isinstance(draft, dict):
        return "", "", ""
    body = draft.get("body")
    paragraphs = [str(p) for p in body] if isinstance(body, list) else [str(body or "")]
    try:
        visible = EmailDraft.from_dict(draft).full_text()
    except TypeError:
        visible = "\n".join([str(draft.get("subject") or ""), *paragraphs])
    return str(draft.get("subject") or ""), "\n\n".join(paragraphs), visible


def load_texts(engine: Engine, workspace_id: str, variant_ids: Sequence[str]) -> pd.DataFrame:
    """Subject and body of the given variants (columns ``variant_id, subject, body``)."""
    records: list[tuple[str, str, str]] = []
    with engine.connect() as conn:
        for chunk in _chunks(variant_ids):
            for row in conn.execute(
                select(VariantRow.id, VariantRow.draft).where(
                    VariantRow.workspace_id == workspace_id, VariantRow.id.in_(chunk)
                )
            ):
                subject, body, _ = _draft_parts(row.draft)
                records.append((str(row.id), subject, body))
    return pd.DataFrame.from_records(records, columns=["variant_id", "subject", "body"])


def load_edits(engine: Engine, workspace_id: str, event_ids: Sequence[int]) -> pd.DataFrame:
    """The edited text of the given edit events and the visible draft text they started from."""
    fe, v = FeedbackEvent, VariantRow
    records: list[tuple[int, str, str]] = []
    with engine.connect() as conn:
        for chunk in _chunks(event_ids):
            stmt = (
                select(fe.id, fe.edited_text, v.draft)
                .join(v, (v.workspace_id == fe.workspace_id) & (v.id == fe.variant_id))
                .where(fe.workspace_id == workspace_id, fe.id.in_(chunk))
            )
            for row in conn.execute(stmt):
                _, _, visible = _draft_parts(row.draft)
                records.append((int(row.id), visible, str(row.edited_text or "")))
    return pd.DataFrame.from_records(records, columns=["event_id", "original", "edited"])


def stable_sample(ids: pd.Series, size: int) -> pd.Index:
    """The index labels of at most `size` rows, picked by a hash of their ids.

    The same id always hashes the same, so windows that overlap pick the same rows and reuse their
    cached embeddings; and reruns pick exactly the same rows.
    """
    if len(ids) <= size:
        return ids.index
    hashes = pd.util.hash_pandas_object(ids.astype(str), index=False)
    return hashes.nsmallest(size).index
