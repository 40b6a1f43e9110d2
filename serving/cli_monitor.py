"""The `copyloop monitor` commands: the monitoring job, Evidently's UI, and the demo history.

``copyloop monitor run`` exits 0 when every test passed, 1 when a test failed (so cron and Airflow
see a failed task) and 2 when the run itself could not be completed.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from genai.errors import CopyloopError
from serving.cli_errors import fail

__all__ = ["monitor"]


def _moment(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class _Bar:
    """A tqdm bar fed by the job's progress callback."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.bar: Any = None

    def __call__(self, done: int, total: int, label: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit=self.unit, file=sys.stderr, dynamic_ncols=True)
        self.bar.set_description(label[:60])
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@click.group("monitor")
def monitor() -> None:
    """Monitoring: latency, drift and quality reports, dashboards and alerts."""


@monitor.command("run")
@click.option("--window", default="24h", show_default=True, help="Length of the window: 30m, 1h, 24h, 7d...")
@click.option(
    "--reference", default="7d", show_default=True, help="Length of the reference window before it."
)
@click.option("--webhook", "webhook_url", default=None, help="POST failed tests to this URL as JSON.")
@click.option(
    "--database",
    "database",
    default=None,
    help="Database URL; default: $COPYLOOP_DATABASE_URL, else SQLite in the data directory.",
)
@click.option("--workspace", default=None, help="Only this copyloop workspace (id or name).")
@click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML settings and thresholds, merged over the defaults [default: $COPYLOOP_MONITORING_CONFIG].",
)
@click.option(
    "--windows",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Run the last N windows, oldest first.",
)
@click.option("--now", default=None, help="Run as if it were this time (ISO 8601, UTC unless given).")
@click.option("--force", is_flag=True, help="Recompute windows that are already stored.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(
    window: str,
    reference: str,
    webhook_url: str | None,
    database: str | None,
    workspace: str | None,
    config_path: Path | None,
    windows: int,
    now: str | None,
    force: bool,
    quiet: bool,
) -> None:
    """Add the latency, drift and quality reports of the last complete window; exit 1 if a test fails."""
    from monitoring.job import run_monitoring
    from serving.settings import load_settings

    bar = _Bar("report")
    try:
        settings = load_settings(database_url=database, monitoring_config=config_path)
        result = run_monitoring(
            settings.resolved_database_url(),
            window,
            reference,
            _moment(now),
            webhook_url,
            workspace=workspace,
            config=settings.monitoring_config,
            data_dir=settings.data_dir,
            cache_dir=settings.cache_dir,
            windows=windows,
            progress=None if quiet else bar,
            force=force,
        )
    except CopyloopError as exc:
        bar.close()
        fail(exc)
    bar.close()
    for window_run in result.runs:
        state = "already stored" if window_run.reused else "added"
        failed = len(window_run.failures)
        colour = "red" if failed else "green"
        span = window_run.window
        click.secho(
            f"{window_run.project} · {span.start:%Y-%m-%d %H:%M} to {span.end:%Y-%m-%d %H:%M} UTC: "
            f"{state}, {failed} failed test(s)",
            fg=colour,
        )
        for failure in window_run.failures:
            click.echo(f"  [{failure['report']}] {failure['name']}")
        if window_run.webhook is not None and not window_run.webhook.get("delivered"):
            click.secho(f"  webhook not delivered: {window_run.webhook.get('error')}", fg="yellow", err=True)
        click.echo(f"  reports: {window_run.folder}")
    sys.exit(result.exit_code)


@monitor.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML settings file, for the workspace folder [default: $COPYLOOP_MONITORING_CONFIG].",
)
@click.option(
    "--workspace-dir",
    default=None,
    type=click.Path(path_type=Path, file_okay=False),
    help="The Evidently workspace folder; default: the configured one.",
)
def ui(host: str, port: int, config_path: Path | None, workspace_dir: Path | None) -> None:
    """Serve Evidently's UI on the monitoring workspace, with telemetry off (DO_NOT_TRACK=1)."""
    from monitoring.config import load_config
    from monitoring.workspace import run_ui
    from serving.settings import load_settings

    try:
        settings = load_settings(monitoring_config=config_path)
        path = workspace_dir or load_config(settings.monitoring_config).workspace_path(settings.data_dir)
    except CopyloopError as exc:
        fail(exc)
    path.mkdir(parents=True, exist_ok=True)
    click.echo(f"Evidently UI on http://{host}:{port} for {path} (Ctrl+C stops it)")
    sys.exit(run_ui(path, host, port))


@monitor.command("simulate")
@click.option(
    "--database",
    "database",
    default=None,
    help="Database URL; default: $COPYLOOP_DATABASE_URL, else SQLite in the data directory.",
)
@click.option("--days", default=28, show_default=True, type=click.IntRange(8, 3650))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--end", default=None, help="When the history ends (ISO 8601); default: the last midnight UTC.")
@click.option("--workspace-name", default="Wick & Willow demo", show_default=True)
def simulate(database: str | None, days: int, seed: int, end: str | None, workspace_name: str) -> None:
    """Write a demo history for the sample brand: weeks of requests, verdicts and outcomes."""
    from tqdm import tqdm

    from feedback.db import upgrade
    from monitoring.demo_history import SimulationConfig
    from monitoring.demo_history import simulate as run_simulation
    from serving.settings import load_settings

    # The planted changes keep their place in the story whatever the length: a third in, etc.
    config = SimulationConfig(
        days=days,
        end=_moment(end),
        seed=seed,
        workspace_name=workspace_name,
        experiment_day=max(1, days // 6),
        prompt_change_day=days * 5 // 14,
        drift_day=days * 9 // 14,
        latency_regression_day=days * 6 // 7,
    )
    bar = tqdm(total=days, unit="day", file=sys.stderr, dynamic_ncols=True)
    try:
        engine = load_settings(database_url=database).make_engine()
        upgrade(engine)
        result = run_simulation(engine, config, progress=lambda done, _total: bar.update(done - bar.n))
    except CopyloopError as exc:
        bar.close()
        fail(exc)
    bar.close()
    click.echo(
        f"workspace {workspace_name!r} ({result.workspace_id}): {result.requests} requests, "
        f"{result.variants} variants, "
        f"{result.feedback_events} feedback and {result.outcome_events} outcome events, "
        f"{result.start:%Y-%m-%d} to {result.end:%Y-%m-%d}"
    )
    for name, moment in result.markers.items():
        click.echo(f"  {name.replace('_', ' ')} from {moment:%Y-%m-%d}")
