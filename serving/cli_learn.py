"""`copyloop learn`: train what generation learns from marketers' feedback (a reward model)."""

from __future__ import annotations

import datetime as dt
import json

import click

from genai.errors import CopyloopError
from serving.cli_errors import fail

__all__ = ["learn"]


@click.group()
def learn() -> None:
    """Learn from a workspace's feedback: train a reward model that ranks its drafts."""


@learn.command("reward")
@click.option("--workspace", required=True, help="Workspace name.")
@click.option(
    "--as-of",
    default=None,
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Learn only from feedback that happened and arrived by then (UTC if no offset) [default: now].",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed of the held-out split and the training."
)
@click.option(
    "--kind",
    type=click.Choice(["auto", "logistic", "cross-encoder"]),
    default="auto",
    show_default=True,
    help="logistic (embedding and named features), cross-encoder (fine-tuned on brief and draft, "
    "minutes on a CPU), or auto: the cross-encoder from 5,000 labelled drafts on.",
)
@click.option("--database", default=None, help="Database URL [default: the configured one].")
def reward(workspace: str, as_of: dt.datetime | None, seed: int, kind: str, database: str | None) -> None:
    """Train the workspace's next reward model and print its version, kind and held-out figures as JSON."""
    from feedback.db import session_factory, upgrade
    from feedback.rewards import train_reward_model
    from feedback.tenancy import get_workspace_by_name
    from genai.embed import default_embedder
    from serving.settings import load_settings

    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    try:
        settings = load_settings(database_url=database)
        engine = settings.make_engine()
        try:
            upgrade(engine)
            embedder = default_embedder()
            with session_factory(engine)() as session, session.begin():
                found = get_workspace_by_name(session, workspace)
                stored = train_reward_model(
                    session,
                    found.id,
                    embedder,
                    as_of=as_of,
                    seed=seed,
                    kind=kind,
                    cross=settings.cross_encoder_training(),
                )
                out = {
                    "id": stored.id,
                    "version": stored.version,
                    "label": stored.label,
                    "kind": stored.kind,
                    "trained_until": stored.trained_until.isoformat(),
                    "metrics": stored.metrics,
                    "named_weights": stored.model.named_weights(),
                }
        finally:
            engine.dispose()
    except CopyloopError as exc:
        fail(exc)
    click.echo(json.dumps(out, indent=2))
