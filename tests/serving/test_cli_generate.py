"""`copyloop generate`: a campaign written to disk, and clean errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

import genai.pipeline
import serving.cli_generate
from genai.backends.fake import FakeBackend
from genai.embed import HashingEmbedder
from serving.cli import cli, main
from serving.cli_generate import run_generate
from serving.settings import Settings
from tests.support.paths import REPO
from tests.support.scripted import Script

SAMPLES = REPO / "genai" / "samples"
BRAND = SAMPLES / "wick-and-willow.html"
BRIEF = SAMPLES / "holiday-brief.yaml"


def sample_brief(tmp_path: Path, **changes: Any) -> Path:
    data = yaml.safe_load(BRIEF.read_text("utf-8"))
    data.update(changes)
    path = tmp_path / "brief.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


@pytest.fixture(autouse=True)
def _hashing_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline's default embedder is the MiniLM model; these tests need only a stand-in."""
    monkeypatch.setattr(genai.pipeline, "default_embedder", HashingEmbedder)


@pytest.fixture
def no_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the command builds a backend (and so could load a model)."""

    def refuse(name: str, **options: Any) -> Any:
        raise AssertionError(f"a {name} backend was built")

    monkeypatch.setattr(serving.cli_generate, "get_backend", refuse)


def generate(brief: Path, out: Path) -> Result:
    """Run `copyloop generate` on the sample brand."""
    args = ["generate", "--brand", str(BRAND), "--brief", str(brief), "--out", str(out)]
    return CliRunner().invoke(cli, args)


def test_run_generate_writes_the_preview_manifest_and_every_variant(tmp_path: Path) -> None:
    out = tmp_path / "out"
    backend = FakeBackend(responder=Script())
    index = run_generate(Settings(), BRAND, BRIEF, out, seed=3, backend=backend)
    assert index == out / "index.html"
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["brand"] == "Wick & Willow"
    assert set(manifest["variants"]) == {"high-spenders", "medium-spenders", "low-spenders"}
    page = index.read_text("utf-8")
    for segment, variants in manifest["variants"].items():
        assert len(variants) == 2
        assert [v["rank"] for v in variants] == [1, 2]
        for v in variants:
            assert v["segment"] == segment
            assert v["lineage"]["backend"] == "fake" and v["lineage"]["prompt_name"] == "email_variant"
            assert v["lineage"]["seed"] in {r.sampling.seed for r in backend.requests}
            assert v["draft"]["cta_url"] == "https://wickandwillow.example/collections/holiday"
            html, text = out / v["files"]["html"], out / v["files"]["text"]
            assert html.is_file() and text.is_file()
            assert v["draft"]["headline"] in html.read_text("utf-8")
            assert v["draft"]["cta_label"] in text.read_text("utf-8")
            assert v["files"]["preview"] in page  # the page links to what a subscriber sees
            preview = (out / v["files"]["preview"]).read_text("utf-8")
            assert "*|FNAME|*" in html.read_text("utf-8") and "*|" not in preview
    assert json.loads((out / "brand.json").read_text("utf-8"))["name"] == "Wick & Willow"


def test_segments_whose_names_make_the_same_folder_keep_all_their_files(tmp_path: Path) -> None:
    brief = sample_brief(
        tmp_path,
        variants_per_segment=1,
        segments=[
            {"name": "vip club", "description": "members"},
            {"name": "vip-club", "description": "others"},
        ],
    )
    out = tmp_path / "out"
    run_generate(Settings(), BRAND, brief, out, seed=1, backend=FakeBackend(responder=Script()))
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    files = [
        out / v["files"][kind]
        for vs in manifest["variants"].values()
        for v in vs
        for kind in ("html", "text")
    ]
    assert len(files) == 4
    assert all(f.is_file() for f in files), [f.name for f in files if not f.is_file()]


def test_a_rerun_into_the_same_folder_leaves_no_stale_variants(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_generate(Settings(), BRAND, BRIEF, out, seed=1, backend=FakeBackend(responder=Script()))
    stale = out / "high-spenders" / "var_stale.html"
    stale.write_text("old", "utf-8")
    run_generate(Settings(), BRAND, BRIEF, out, seed=2, backend=FakeBackend(responder=Script()))
    assert not stale.exists()


@pytest.mark.parametrize("count", [0, 50])
def test_a_brief_asking_for_an_impossible_variant_count_exits_2_naming_the_field(
    tmp_path: Path, no_backend: None, count: int
) -> None:
    brief = sample_brief(tmp_path, variants_per_segment=count)
    result = generate(brief, tmp_path)
    assert result.exit_code == 2
    assert "brief.variants_per_segment" in result.stderr
    assert not (tmp_path / "index.html").exists()


def test_a_missing_brief_file_exits_2_naming_the_brief(tmp_path: Path, no_backend: None) -> None:
    missing = tmp_path / "nope.yaml"
    result = generate(missing, tmp_path)
    assert result.exit_code == 2
    assert "error: brief: file not found" in result.stderr


def test_a_brief_that_is_not_utf8_exits_2_naming_the_brief(tmp_path: Path, no_backend: None) -> None:
    brief = tmp_path / "latin1.yaml"
    brief.write_bytes("goal: Soldes d'été\n".encode("latin-1"))
    result = generate(brief, tmp_path)
    assert result.exit_code == 2
    assert "brief: file is not UTF-8 text" in result.stderr


def test_the_console_entry_point_exits_2_on_bad_input(tmp_path: Path, no_backend: None) -> None:
    with pytest.raises(SystemExit) as info:
        main(
            ["generate", "--brand", str(BRAND), "--brief", str(tmp_path / "no.yaml"), "--out", str(tmp_path)]
        )
    assert info.value.code == 2


def test_a_backend_error_exits_2_with_its_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake backend told not to write drafts has nothing to replay, so generation fails cleanly.
    monkeypatch.setattr(serving.cli_generate, "get_backend", lambda name, **options: FakeBackend(write=False))
    result = generate(BRIEF, tmp_path)
    assert result.exit_code == 2
    assert "no output queued" in result.stderr


def test_the_fake_backend_from_settings_writes_a_whole_campaign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPYLOOP_BACKEND", "fake")
    result = generate(BRIEF, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8"))
    assert {seg: len(vs) for seg, vs in manifest["variants"].items()} == {
        "high-spenders": 2,
        "medium-spenders": 2,
        "low-spenders": 2,
    }
