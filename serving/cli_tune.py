"""`copyloop tune`: train a LoRA adapter for the embedded model from a corpus of e-mails, or from
one brand's approved drafts in the feedback store (`--workspace W --brand B`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from genai.errors import CopyloopError, InvalidInputError
from genai.tuning.from_feedback import MIN_APPROVED
from serving.adapter_scope import reserve_adapter, write_scope
from serving.cli_errors import fail
from serving.cli_tune_brand import brand_corpus

__all__ = ["tune"]


@click.command()
@click.option(
    "--corpus",
    "corpus",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Corpus YAML files or folders [default: the shipped corpus].",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(path_type=Path),
    help="Folder for the adapter [required, except with --brand: adapters/NAME in the data directory].",
)
@click.option("--name", default=None, help="The adapter's name [default: the folder's name].")
@click.option("--workspace", default=None, help="With --brand: the workspace whose feedback to learn from.")
@click.option(
    "--brand",
    default=None,
    help="Train on this brand's accepted and edited drafts (name or id) instead of a corpus, "
    "continuing from the shipped adapter.",
)
@click.option("--as-of", default=None, help="With --brand: only feedback known at this ISO 8601 time.")
@click.option("--database", default=None, help="With --brand: database URL [default: the configured one].")
@click.option(
    "--min-drafts",
    default=MIN_APPROVED,
    show_default=True,
    type=int,
    help="With --brand: fewest to train on.",
)
@click.option("--model", default=None, help="Local checkpoint folder [default: the embedded model].")
@click.option("--epochs", default=2.0, show_default=True, type=float)
@click.option("--max-steps", default=None, type=int, help="Stop after this many optimiser steps.")
@click.option("--rank", default=8, show_default=True, type=int, help="LoRA rank.")
@click.option("--learning-rate", default=2e-4, show_default=True, type=float)
@click.option("--grad-accum", default=4, show_default=True, type=int, help="Pairs per optimiser step.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--from",
    "start_from",
    default=None,
    help="Continue from this adapter (a shipped name or a folder) instead of fresh weights.",
)
@click.option("--eval-limit", default=None, type=int, help="Score at most this many held-out pairs.")
def tune(
    corpus: tuple[Path, ...],
    out: Path | None,
    name: str | None,
    workspace: str | None,
    brand: str | None,
    as_of: str | None,
    database: str | None,
    min_drafts: int,
    model: str | None,
    epochs: float,
    max_steps: int | None,
    rank: int,
    learning_rate: float,
    grad_accum: int,
    seed: int,
    eval_limit: int | None,
    start_from: str | None,
) -> None:
    """Fine-tune a LoRA adapter on the corpus's train split; report the held-out loss."""
    from genai.backends.checkpoint import EMBEDDED_MODEL_ID, ensure_checkpoint
    from genai.tuning.adapters import resolve_adapter
    from genai.tuning.corpus import check, load_corpus, split
    from genai.tuning.train import TuneOptions
    from genai.tuning.train import tune as run_tune
    from serving.settings import load_settings

    def say(message: str) -> None:
        click.echo(message, err=True)

    try:
        settings = load_settings(database_url=database)
        if brand is not None:
            if workspace is None or corpus:
                raise InvalidInputError("--brand takes --workspace and no --corpus", field="brand")
            learned = brand_corpus(settings, workspace, brand, as_of, min_drafts, say)
            train, held_out = learned.train, learned.held_out
            if out is None:
                name, out = reserve_adapter(settings.adapters_dir, learned.brand, name)
            out.mkdir(parents=True, exist_ok=True)
            # whose it is, before any weights exist: an unfinished adapter is never anyone else's
            write_scope(out, learned.scope)
            if start_from is None and model is None:
                start_from = "default"  # a brand's adapter continues from the shipped task adapter
        else:
            if out is None:
                raise InvalidInputError("is required without --brand", field="out")
            files = [f for c in corpus for f in (sorted(c.glob("*.yaml")) if c.is_dir() else [c])]
            examples = load_corpus(files or None)
            clean = []
            for ex in examples:
                problems = check(ex)
                if problems:
                    say(f"left out {ex.source}: {problems[0]}")
                else:
                    clean.append(ex)
            train, held_out = split(clean)
        options = TuneOptions(
            rank=rank,
            alpha=2 * rank,
            epochs=epochs,
            learning_rate=learning_rate,
            grad_accum=grad_accum,
            seed=seed,
            max_steps=max_steps,
            eval_limit=eval_limit,
        )
        initial = resolve_adapter(start_from) if start_from else None
        checkpoint = Path(model) if model else ensure_checkpoint(root=settings.cache_dir, progress=say)
        report = run_tune(
            checkpoint,
            train,
            held_out,
            out,
            name=name or out.name,
            options=options,
            progress=say,
            model_id=model or EMBEDDED_MODEL_ID,
            start_from=initial,
        )
    except CopyloopError as exc:
        fail(exc)
    summary = {k: getattr(report, k) for k in ("adapter", "train_pairs", "eval_pairs", "steps", "seconds")}
    summary |= {"eval_loss_before": report.eval_loss_before, "eval_loss_after": report.eval_loss_after}
    click.echo(json.dumps(summary))
