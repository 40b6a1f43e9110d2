"""The web app's static files: served under /app, and calling only routes of the public API."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from genai.backends.fake import FakeBackend
from genai.embed import HashingEmbedder
from serving.app import create_app
from tests.support.live_server import api_settings
from tests.support.paths import REPO

WEBAPP = REPO / "serving" / "webapp"
MODULES = sorted((WEBAPP / "js").glob("*.js"))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("data")
    settings = api_settings(f"sqlite:///{data / 'copyloop.db'}", data)
    app = create_app(settings, backend=FakeBackend(), embedder=HashingEmbedder())
    with TestClient(app) as test_client:
        yield test_client


def test_the_app_page_and_its_modules_are_served_under_app(client: TestClient) -> None:
    page = client.get("/app/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text
    script = client.get("/app/js/main.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert client.get("/app/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/app/js/no-such-module.js").status_code == 404


def test_every_imported_module_exists() -> None:
    for module in MODULES:
        for name in re.findall(r'from "\./([\w.]+)"', module.read_text("utf-8")):
            assert (module.parent / name).is_file(), f"{module.name} imports a missing {name}"


def _api_paths(source: str) -> set[str]:
    """The /v1 paths a module calls, with `${...}` parts as {param}."""
    found = re.findall(r"[`\"'](/v1/[^`\"'?]*)", source)
    return {re.sub(r"\$\{[^}]*\}", "{param}", path) for path in found}


def test_the_app_calls_only_routes_of_the_public_api(client: TestClient) -> None:
    routes = {re.sub(r"\{[^}]+\}", "{param}", p) for p in client.get("/openapi.json").json()["paths"]}
    called = set().union(*(_api_paths(m.read_text("utf-8")) for m in MODULES))
    assert called, "the app calls the API"
    assert sorted(called - routes) == []
    assert {"/v1/generations", "/v1/feedback", "/v1/experiments", "/v1/brands/from-html"} <= called


def test_the_key_is_kept_for_the_tab_only_and_sent_in_the_authorization_header() -> None:
    sources = {m.name: m.read_text("utf-8") for m in MODULES}
    assert not [name for name, text in sources.items() if "localStorage" in text or "console." in text]
    assert "sessionStorage.setItem" in sources["api.js"]
    assert "Authorization: `Bearer ${key}`" in sources["api.js"]


def test_previews_are_sandboxed_without_scripts() -> None:
    card = (WEBAPP / "js" / "variant_card.js").read_text("utf-8")
    assert 'sandbox: ""' in card and "allow-scripts" not in card and ".srcdoc" in card
