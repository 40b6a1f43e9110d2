"""`copyloop vllm-command`: the vLLM server copyloop talks to, with the adapters requests may name."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from genai.tuning.adapters import ADAPTERS_DIR
from serving.cli import cli
from serving.settings import load_settings


@pytest.fixture
def checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the converted checkpoint (the command only prints its path)."""
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    monkeypatch.setattr("genai.backends.checkpoint.ensure_checkpoint", lambda **_: folder)
    return folder


def _lora_modules(output: str) -> dict[str, str]:
    args = shlex.split(output.strip().splitlines()[0])
    start = args.index("--lora-modules") + 1
    modules = []
    for arg in args[start:]:
        if arg.startswith("--"):
            break
        modules.append(arg)
    return dict(m.split("=", 1) for m in modules)


def test_several_adapters_and_those_trained_here_are_served_at_once(checkpoint: Path) -> None:
    trained = load_settings().adapters_dir / "lumen-tea-v1"
    shutil.copytree(ADAPTERS_DIR / "email-v1", trained)
    (load_settings().adapters_dir / "unfinished-v1").mkdir()  # no weights yet: not served
    result = CliRunner().invoke(
        cli, ["vllm-command", "--cpu", "--adapter", "default", "--adapter", "email-v2", "--with-trained"]
    )
    assert result.exit_code == 0, result.output
    modules = _lora_modules(result.stdout)
    assert list(modules) == ["email-v1", "email-v2", "lumen-tea-v1"]
    assert modules["lumen-tea-v1"] == str(trained.resolve())
    args = shlex.split(result.stdout.splitlines()[0])
    assert args[args.index("--max-loras") + 1] == "3" and str(checkpoint) in args


def test_no_adapter_serves_the_base_model_alone(checkpoint: Path) -> None:
    result = CliRunner().invoke(cli, ["vllm-command", "--adapter", "none"])
    assert result.exit_code == 0, result.output
    assert "--enable-lora" not in result.stdout
