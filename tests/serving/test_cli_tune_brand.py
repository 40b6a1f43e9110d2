"""`copyloop tune --brand`: a brand's own adapter from its accepted and edited drafts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedback.catalog import create_brand, save_campaign, variants_of
from feedback.db import make_engine, session_factory, upgrade
from feedback.ingest import ingest_feedback
from feedback.models import utcnow
from feedback.tenancy import create_workspace
from genai.brand import BrandKit
from genai.draft import EmailDraft
from genai.errors import InvalidInputError
from genai.tuning.adapters import find_adapter
from genai.tuning.from_feedback import examples_from_approved
from serving.adapter_scope import check_visible, is_visible, reserve_adapter, write_scope
from serving.cli import cli
from serving.settings import load_settings
from tests.support.feedback import make_campaign
from tests.support.tiny_model import single_torch_thread, tiny_model_dir

BRIEF = {
    "goal": "Spring sale",
    "offer": "15% off",
    "cta_url": "https://example.com/sale",
    "segments": [{"name": "loyal", "description": "order often"}],
}
EDIT = (
    "Spring is here\nFifteen percent off, this week only\nSpring sale\nOur spring teas are in.\nShop the sale"
)


def _store(url: str, requests: int = 3, per_request: int = 3) -> None:
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        ws = create_workspace(session, "acme").id
        brand = create_brand(
            session, ws, "Lumen Tea", {"voice": ["calm"], "website": "https://example.com"}
        ).id
        ids = [
            v.id
            for _ in range(requests)
            for v in variants_of(
                session,
                ws,
                save_campaign(session, ws, BRIEF, make_campaign({"loyal": per_request}), brand).id,
            )
        ]
    at = utcnow() - dt.timedelta(hours=1)
    events = [{"variant_id": v, "kind": "accept", "idempotency_key": v, "event_time": at} for v in ids[1:]]
    events.append(
        {"variant_id": ids[0], "kind": "edit", "edited_text": EDIT, "idempotency_key": "e", "event_time": at}
    )
    assert not ingest_feedback(factory, ws, events).rejected
    engine.dispose()


def test_edits_become_targets_field_by_field_and_requests_stay_in_one_split() -> None:
    class Approved:
        def __init__(self, n: int, request: str, edited: str | None) -> None:
            self.variant_id, self.request_id, self.edited_text = f"v{n}", request, edited
            self.brief, self.segment = BRIEF, "loyal"
            self.draft = EmailDraft(
                "Old subject", "Old preheader", "Old", ["Old body."], "Shop now", BRIEF["cta_url"]
            ).to_dict()

    items = [Approved(n, f"r{n % 4}", EDIT if n == 0 else None) for n in range(12)]
    items.append(Approved(99, "r0", "just one line"))
    corpus = examples_from_approved(BrandKit(name="Lumen Tea"), items)
    assert corpus.skipped.keys() == {"v99"} and "one field a line" in corpus.skipped["v99"]
    edited = next(ex for ex in corpus.train + corpus.held_out if ex.source.endswith("v0"))
    assert edited.draft.subject == "Spring is here" and edited.draft.body == ["Our spring teas are in."]
    assert edited.draft.cta_label == "Shop the sale" and edited.draft.cta_url == BRIEF["cta_url"]
    assert corpus.held_out and corpus.train
    request_of = {f"feedback: variant {i.variant_id}": i.request_id for i in items}
    train_requests = {request_of[ex.source] for ex in corpus.train}
    assert not train_requests & {request_of[ex.source] for ex in corpus.held_out}
    assert all(ex.split == "eval" for ex in corpus.held_out)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def test_tune_brand_trains_an_adapter_that_requests_can_name(tmp_path: Path, tiny: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store(url)
    args = ["tune", "--workspace", "acme", "--brand", "Lumen Tea", "--database", url, "--model", str(tiny)]
    args += ["--max-steps", "2", "--rank", "2", "--grad-accum", "1", "--min-drafts", "4", "--eval-limit", "2"]
    with single_torch_thread():
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["adapter"] == "lumen-tea-v1" and summary["steps"] == 2 and summary["train_pairs"] >= 4
    adapters = load_settings().adapters_dir
    found = find_adapter("lumen-tea-v1", [adapters])
    assert found is not None and found.path == adapters / "lumen-tea-v1"
    trained = json.loads((found.path / "training.json").read_text())
    assert trained["businesses"]["train"] == ["Lumen Tea"]
    scope = json.loads((found.path / "scope.json").read_text())
    assert scope["brand"] == "Lumen Tea" and scope["workspace_id"] and scope["as_of"] is None


def test_tune_brand_with_too_little_feedback_names_the_field(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store(url, requests=1, per_request=2)
    result = CliRunner().invoke(
        cli, ["tune", "--workspace", "acme", "--brand", "Lumen Tea", "--database", url, "--min-drafts", "8"]
    )
    assert result.exit_code != 0
    assert "brand" in result.output and "2 accepted or edited drafts" in result.output


def test_adapter_names_are_claimed_once_and_never_hide_a_shipped_one(tmp_path: Path) -> None:
    assert reserve_adapter(tmp_path, "Email")[0] == "email-v3"  # email-v1 and -v2 are shipped
    assert reserve_adapter(tmp_path, "Email")[0] == "email-v4"
    name, folder = reserve_adapter(tmp_path, "Lumen Tea", "custom")
    assert (name, folder) == ("custom", tmp_path / "custom") and folder.is_dir()
    for taken in ("custom", "email-v1"):
        with pytest.raises(InvalidInputError) as caught:
            reserve_adapter(tmp_path, "Lumen Tea", taken)
        assert caught.value.field == "name"


def test_an_unfinished_adapter_is_not_ready_to_its_workspace_and_absent_to_others(tmp_path: Path) -> None:
    name, folder = reserve_adapter(tmp_path, "Lumen Tea")
    write_scope(folder, {"workspace_id": "w-a", "brand_id": "b", "brand": "Lumen Tea", "as_of": None})
    with pytest.raises(InvalidInputError, match="not ready"):
        check_visible(tmp_path, "w-a", name)
    with pytest.raises(InvalidInputError) as other:
        check_visible(tmp_path, "w-b", name)
    assert other.value.message == f"no adapter named {name!r}" and str(tmp_path) not in other.value.message
    assert is_visible(tmp_path, "w-a", name) and not is_visible(tmp_path, "w-b", name)
    assert is_visible(tmp_path, "w-b", "email-v1") and is_visible(tmp_path, "w-b", "none")


def test_the_held_out_requests_are_about_one_in_five_never_none_and_never_all() -> None:
    import uuid

    from genai.tuning.from_feedback import _held_requests

    for n in (2, 3, 5, 11, 40):
        for _ in range(50):
            requests = [str(uuid.uuid4()) for _ in range(n)]
            held = _held_requests(requests)
            assert 1 <= len(held) <= max(1, n // 5) and held < set(requests)
            assert _held_requests(list(reversed(requests))) == held
    assert _held_requests(["only"]) == set()
