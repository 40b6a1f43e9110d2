"""The monitoring job: the three reports of a window, for every project, as snapshots, pages and alerts.

For each copyloop workspace (or brand) the job loads the window's rows, runs the latency, drift and
quality reports, writes each as HTML and JSON, adds each as a snapshot to the project's Evidently
dashboard and, when a test failed and a webhook is configured, posts the failed tests to it.

Windows are aligned (see `monitoring.windows.monitoring_window`), and a window whose reports are
already stored is not computed again: running the job twice for the same window changes nothing.
A window's ``run.json`` is written last, so an interrupted run leaves no half-stored window behind;
the next run removes the snapshots it had added and starts the window again.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from feedback.db import database_url, make_engine
from genai.embed import Embedder
from genai.paths import user_cache_dir
from monitoring.config import MonitoringConfig, load_config
from monitoring.errors import MonitoringError, WorkspaceLockedError
from monitoring.frames import MonitoringFrames, Scope, load_edits, load_frames, load_texts, scopes
from monitoring.reportfiles import RUN_FILE, read_run, run_dir, slugify, write_json_atomic
from monitoring.reports import (
    REPORT_KINDS,
    ReportResult,
    TestOutcome,
    drift_report,
    drift_sample,
    drift_skip_reason,
    edit_sample,
    latency_report,
    quality_report,
    skipped_report,
)
from monitoring.textstats import EmbeddingCache
from monitoring.vllm_metrics import VllmLatency, read_vllm_metrics
from monitoring.windows import Window, monitoring_window

__all__ = ["JobResult", "Progress", "WindowRun", "post_failures", "result_json", "run_monitoring"]

Progress = Callable[[int, int, str], None]
WEBHOOK_ATTEMPTS = 3
LOCK_TIMEOUT_S = 120.0


@dataclass
class WindowRun:
    """What the job did for one project and window."""

    project: str
    window: Window
    reused: bool
    folder: Path
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    webhook: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "project": self.project,
            "window": self.window.as_dict(),
            "reused": self.reused,
            "folder": str(self.folder),
            "reports": self.reports,
            "failures": self.failures,
            "webhook": self.webhook,
        }


@dataclass
class JobResult:
    """Every window the job handled, and the tests that failed in them."""

    runs: list[WindowRun] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, str]]:
        """The failed tests of every run, each with its project and window."""
        return [
            {"project": run.project, "window_end": run.window.end.isoformat(), **failure}
            for run in self.runs
            for failure in run.failures
        ]

    @property
    def failed(self) -> bool:
        """True when any test failed."""
        return bool(self.failures)

    @property
    def exit_code(self) -> int:
        """What the command line exits with: 1 when a test failed, else 0."""
        return 1 if self.failed else 0


@contextmanager
def _locked(folder: Path, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the reports folder's lock, so two runs never write the same window at once."""
    timeout_s = LOCK_TIMEOUT_S if timeout_s is None else timeout_s
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / ".monitoring.lock").open("a+")
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WorkspaceLockedError(
                        f"another monitoring run has held {folder} for {timeout_s:.0f} s", field="reports_dir"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        handle.close()


def _prune_pages(project_dir: Path, keep: int) -> None:
    """Delete the report pages of all but the newest `keep` windows (0 keeps them all)."""
    if keep <= 0:
        return
    windows = sorted((p for p in project_dir.iterdir() if p.is_dir()), reverse=True)
    for old in windows[keep:]:
        for page in old.glob("*.html"):
            page.unlink(missing_ok=True)


def post_failures(
    url: str, payload: dict[str, Any], client: httpx.Client | None = None, timeout_s: float = 10.0
) -> dict[str, Any]:
    """POST the payload as JSON; retries server errors and timeouts; returns what happened (never raises)."""
    own = client is None
    http = client or httpx.Client(timeout=timeout_s)
    outcome: dict[str, Any] = {"url": url, "delivered": False, "attempts": 0}
    try:
        for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
            outcome["attempts"] = attempt
            try:
                response = http.post(url, json=payload)
            except httpx.HTTPError as exc:
                outcome["error"] = f"{type(exc).__name__}: {exc}"
            else:
                outcome["status"] = response.status_code
                if response.is_success:
                    outcome["delivered"] = True
                    outcome.pop("error", None)
                    return outcome
                outcome["error"] = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    return outcome  # the receiver refused the payload; sending it again will not help
            if attempt < WEBHOOK_ATTEMPTS:
                time.sleep(0.25 * 2**attempt)
        return outcome
    finally:
        if own:
            http.close()


def _payload(run: WindowRun, project_id: str | None) -> dict[str, Any]:
    return {
        "source": "copyloop monitoring",
        "project": run.project,
        "evidently_project_id": project_id,
        "window": run.window.as_dict(),
        "failed_tests": run.failures,
        "reports": {kind: entry.get("html") for kind, entry in run.reports.items()},
    }


def _tags(frames: MonitoringFrames) -> tuple[list[str], dict[str, str]]:
    current = frames.current
    source = current if len(current) else frames.verdicts
    models = sorted({str(m) for m in source.get("model_version", [])})
    prompts = sorted({str(p) for p in source.get("prompt_version", [])})
    window = frames.window
    tags = [f"model:{m}" for m in models] + [f"prompt:{p}" for p in prompts]
    tags += [f"window:{window.label}", f"window_end:{window.end.strftime('%Y-%m-%dT%H:%MZ')}"]
    metadata = {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "reference_start": window.reference_start.isoformat(),
        "model_versions": ",".join(models),
        "prompt_versions": ",".join(prompts),
    }
    return tags, metadata


class _Runner:
    """Shared state of one job: the engine, the Evidently workspace, the embedder and its cache."""

    def __init__(
        self,
        engine: Engine,
        config: MonitoringConfig,
        embedder: Embedder | None,
        http_client: httpx.Client | None,
        progress: Progress | None,
        force: bool,
        data_dir: Path | None,
        cache_dir: Path | None,
    ) -> None:
        from monitoring.workspace import open_workspace

        self.engine = engine
        self.config = config
        self._embedder = embedder
        self.http_client = http_client
        self.progress = progress
        self.force = force
        self.workspace = open_workspace(config.workspace_path(data_dir))
        self.reports_dir = config.reports_path(data_dir)
        self.cache_dir = cache_dir or user_cache_dir()
        self._cache: EmbeddingCache | None = None
        self.steps_done = 0
        self.steps_total = 0

    def step(self, label: str) -> None:
        self.steps_done += 1
        if self.progress is not None:
            self.progress(self.steps_done, self.steps_total, label)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from genai.embed import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    @property
    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            name = self.embedder.name
            path = self.cache_dir / "monitoring" / f"embeddings-{slugify(name)}.npz"
            self._cache = EmbeddingCache(name, path)
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.save()

    def _complete(self, folder: Path, project_id: Any) -> dict[str, Any] | None:
        from monitoring.workspace import snapshot_ids

        run = read_run(folder)
        if run is None:
            return None
        stored = snapshot_ids(self.workspace, project_id)
        for kind in REPORT_KINDS:
            entry = run.get("reports", {}).get(kind)
            if entry is None or not (folder / f"{kind}.json").is_file():
                return None
            if entry.get("snapshot_id") and entry["snapshot_id"] not in stored:
                return None
        return run

    def run_window(self, scope: Scope, window: Window, scrape_vllm: bool) -> WindowRun:
        from monitoring.workspace import add_snapshot, delete_snapshots, ensure_project

        project = ensure_project(self.workspace, scope.name)
        folder = run_dir(self.reports_dir, scope.name, window.key)
        previous = read_run(folder)
        done = None if self.force else self._complete(folder, project.id)
        if done is not None:
            for _ in REPORT_KINDS:
                self.step(f"{scope.name}: {window.key} already stored")
            reused = WindowRun(
                scope.name, window, True, folder, done.get("reports", {}), done.get("failures", [])
            )
            reused.webhook = done.get("webhook")
            self._alert(reused, str(project.id), folder, done)
            return reused
        if previous is not None:
            stale = [
                e.get("snapshot_id") for e in previous.get("reports", {}).values() if e.get("snapshot_id")
            ]
            delete_snapshots(self.workspace, project.id, stale)
        frames = load_frames(self.engine, scope, window, reference_requests=self.config.drift.sample_rows)
        tags, metadata = _tags(frames)
        metadata["project"] = scope.name
        results = self._reports(scope, frames, tags, metadata, scrape_vllm)
        run = WindowRun(scope.name, window, False, folder)
        folder.mkdir(parents=True, exist_ok=True)
        for result in results:
            (folder / f"{result.kind}.html").write_text(result.html(), encoding="utf-8")
            write_json_atomic(folder / f"{result.kind}.json", result.as_json())
            snapshot_id = (
                add_snapshot(self.workspace, project.id, result.snapshot)
                if result.snapshot is not None
                else None
            )
            run.reports[result.kind] = {
                "snapshot_id": snapshot_id,
                "html": str(folder / f"{result.kind}.html"),
                "json": str(folder / f"{result.kind}.json"),
                "tests": len(result.tests),
                "failed": len(result.failures),
                "skipped": result.skipped,
            }
            run.failures.extend(test.as_dict() for test in result.failures)
        record = {
            "project": scope.name,
            "evidently_project_id": str(project.id),
            "window": window.as_dict(),
            "reports": run.reports,
            "failures": run.failures,
            "tags": tags,
            "webhook": None,
        }
        write_json_atomic(folder / RUN_FILE, record)
        self._alert(run, str(project.id), folder, record)
        _prune_pages(folder.parent, self.config.keep_html_windows)
        return run

    def _reports(
        self,
        scope: Scope,
        frames: MonitoringFrames,
        tags: list[str],
        metadata: dict[str, str],
        scrape_vllm: bool,
    ) -> list[ReportResult]:
        config = self.config
        vllm = self._vllm() if scrape_vllm else None
        scraped = vllm if isinstance(vllm, VllmLatency) else None
        latency = latency_report(frames, config.latency, tags=tags, metadata=metadata, vllm=scraped)
        if isinstance(vllm, TestOutcome):
            latency.tests.append(vllm)
        self.step(f"{scope.name}: latency")
        reason = drift_skip_reason(frames, config.drift)
        if reason is None:
            current, reference = drift_sample(frames, config.drift)
            ids = [*current["variant_id"], *reference["variant_id"]]
            texts = load_texts(self.engine, scope.workspace_id, ids)
            drift = drift_report(
                frames, texts, config.drift, self.embedder, cache=self.cache, tags=tags, metadata=metadata
            )
        else:
            drift = skipped_report("drift", frames, reason)
        self.step(f"{scope.name}: drift")
        edits = load_edits(self.engine, scope.workspace_id, edit_sample(frames, config.quality))
        quality = quality_report(frames, edits, config.quality, tags=tags, metadata=metadata)
        self.step(f"{scope.name}: quality")
        return [latency, drift, quality]

    def _vllm(self) -> VllmLatency | TestOutcome | None:
        url = self.config.latency.vllm_metrics_url
        if not url:
            return None
        try:
            return read_vllm_metrics(url, self.http_client)
        except MonitoringError as exc:
            return TestOutcome("latency", "vLLM metrics endpoint reachable", "ERROR", str(exc))

    def _alert(self, run: WindowRun, project_id: str, folder: Path, record: dict[str, Any]) -> None:
        url = self.config.webhook_url
        if not url or not run.failures:
            return
        if run.webhook is not None and run.webhook.get("delivered"):
            return
        run.webhook = post_failures(
            url, _payload(run, project_id), self.http_client, timeout_s=self.config.webhook_timeout_s
        )
        record["webhook"] = run.webhook
        write_json_atomic(folder / RUN_FILE, record)


def run_monitoring(
    engine_or_url: Engine | str | None = None,
    window: str | dt.timedelta = "24h",
    reference: str | dt.timedelta = "7d",
    now: dt.datetime | None = None,
    webhook_url: str | None = None,
    *,
    workspace: str | None = None,
    config: MonitoringConfig | str | Path | None = None,
    workspace_dir: Path | None = None,
    reports_dir: Path | None = None,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    windows: int = 1,
    embedder: Embedder | None = None,
    http_client: httpx.Client | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> JobResult:
    """Run the three reports for the last complete window before `now` (or the last `windows` ones).

    `workspace` limits the run to one copyloop workspace (id or name); `config` is a loaded
    configuration or the path of a YAML file; `webhook_url`, `workspace_dir` and `reports_dir`
    override it. The database (when no URL is given) and the folders the configuration leaves
    unset go under `data_dir`, the embedding cache under `cache_dir` (default: the user's data and
    cache folders). `force` recomputes windows that are already stored. Returns every window's
    reports and failed tests; a failed test is a result, not an exception.
    """
    settings = config if isinstance(config, MonitoringConfig) else load_config(config)
    changes: dict[str, Any] = {}
    if webhook_url is not None:
        changes["webhook_url"] = webhook_url
    if workspace_dir is not None:
        changes["workspace_dir"] = Path(workspace_dir)
    if reports_dir is not None:
        changes["reports_dir"] = Path(reports_dir)
    settings = settings.replace(**changes) if changes else settings
    if windows < 1:
        raise MonitoringError("must be at least 1", field="windows")
    moment = now or dt.datetime.now(dt.UTC)
    latest = monitoring_window(window, reference, moment)
    # Each earlier window ends exactly on a boundary, which aligns to itself.
    spans = [
        monitoring_window(window, reference, latest.end - latest.length * back)
        for back in reversed(range(windows))
    ]
    engine = (
        engine_or_url
        if isinstance(engine_or_url, Engine)
        else make_engine(database_url(engine_or_url, data_dir))
    )
    result = JobResult()
    try:
        targets = scopes(engine, workspace, settings.project_per)
        if workspace is not None and not targets:
            raise MonitoringError(f"no workspace {workspace!r} in the database", field="workspace")
        with _locked(settings.reports_path(data_dir)):
            runner = _Runner(engine, settings, embedder, http_client, progress, force, data_dir, cache_dir)
            runner.steps_total = len(targets) * len(spans) * len(REPORT_KINDS)
            try:
                for span in spans:
                    # vLLM's counters describe the server as it is now: they go with the latest window.
                    scrape = span is spans[-1]
                    for scope in targets:
                        result.runs.append(runner.run_window(scope, span, scrape))
            finally:
                runner.close()
    except SQLAlchemyError as exc:
        raise MonitoringError(f"could not read the feedback store: {exc}", field="database_url") from exc
    finally:
        if not isinstance(engine_or_url, Engine):
            engine.dispose()
    return result


def result_json(result: JobResult) -> str:
    """The job's result as indented JSON."""
    return json.dumps(
        {"failed": result.failed, "runs": [run.as_dict() for run in result.runs]}, indent=2, default=str
    )
