"""The web app in a real browser: headless Chromium, over the DevTools protocol, against uvicorn on
SQLite with the fake backend. A marketer logs in, reads the sample brand, writes a brief, generates,
accepts, rejects and edits variants and starts an A/B test; the database then holds exactly those
verdicts. Screenshots of every step at 1280 and 390 px land in the test's temporary directory."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from feedback.api_keys import create_key
from feedback.db import make_engine, session_factory, upgrade
from feedback.models import Experiment, FeedbackEvent, GenerationRequestRow
from feedback.tenancy import create_workspace
from tests.support.cdp import CHROMIUM, Browser, Page
from tests.support.paths import REPO

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install -y chromium)"
)

SAMPLE = REPO / "genai" / "samples" / "wick-and-willow.html"
AXE = REPO / "tests" / "support" / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": 1280, "mobile": 390}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    database_url: str
    key_a: str
    key_b: str
    log: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """uvicorn in a subprocess on a fresh SQLite database, with a marketer key in workspaces A and B."""
    database_url = f"sqlite:///{tmp_path / 'copyloop.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    with session_factory(engine)() as session, session.begin():
        key_a = create_key(session, create_workspace(session, "acme").id, "marketer").token
        key_b = create_key(session, create_workspace(session, "bravo").id, "marketer").token
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "COPYLOOP_BACKEND": "fake",
        "COPYLOOP_DATABASE_URL": database_url,
        "COPYLOOP_DATA_DIR": str(tmp_path / "data"),
        "COPYLOOP_RATE_LIMIT_PER_S": "0",
    }
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.webapp_server", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the API did not start: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield Server(url, database_url, key_a, key_b, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with Browser(tmp_path / "chromium-profile") as browser:
        tab = browser.page()
        tab.set_width(WIDTHS["desktop"])
        yield tab


class Shots:
    """Screenshots of each step at every width, numbered in order."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0

    def __call__(self, step: str) -> None:
        self.count += 1
        for name, width in WIDTHS.items():
            self.page.screenshot(self.folder / f"{self.count:02d}-{step}-{name}.png", width)
        self.page.set_width(WIDTHS["desktop"])


def js(value: object) -> str:
    """A Python value as a JavaScript literal."""
    return json.dumps(value)


def fill(page: Page, selector: str, value: str) -> None:
    page.evaluate(f"(() => {{ const n = document.querySelector({js(selector)}); n.value = {js(value)}; }})()")


def click(page: Page, selector: str) -> None:
    page.evaluate(f"document.querySelector({js(selector)}).click()")


def text(page: Page, selector: str) -> str:
    value: str = page.evaluate(f"document.querySelector({js(selector)})?.textContent ?? ''")
    return value


def log_in(page: Page, server: Server, key: str) -> None:
    page.goto(f"{server.url}/app/")
    if page.evaluate("!document.querySelector('#logout').hidden"):
        click(page, "#logout")  # forgets the key and reloads
        page.wait_for("document.readyState === 'complete' && !document.querySelector('#login').hidden")
    fill(page, "#api-key", key)
    click(page, "#login-form button[type=submit]")
    page.wait_for("document.querySelector('#status').textContent.startsWith('Logged in')")


def serious_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's serious and critical findings on the page (the e-mail frames are the renderer's)."""
    page.evaluate(AXE.read_text("utf-8") + "\n;true")
    found: list[dict[str, object]] = page.evaluate(
        "axe.run(document, {iframes: false, resultTypes: ['violations']}).then(r => r.violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))})))"
    )
    return found


def send_outcomes(server: Server, clicks: dict[str, int], contacts: int) -> None:
    """Assign `contacts` to the running experiment, send each its arm's e-mail and record clicks."""
    headers = {"Authorization": f"Bearer {server.key_a}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
        (experiment,) = api.get("/v1/experiments").json()
        now = dt.datetime.now(dt.UTC).isoformat()
        events = []
        clicked: dict[str, int] = dict.fromkeys(clicks, 0)
        for i in range(contacts):
            contact = f"reader{i}@example.com"
            arm = api.post(f"/v1/experiments/{experiment['id']}/assignments", json={"contact": contact})
            variant = arm.json()["variant_id"]
            event = {"variant_id": variant, "contact": contact, "event_time": now}
            events.append({**event, "idempotency_key": f"send-{i}", "kind": "send"})
            if clicked[variant] < clicks[variant]:
                clicked[variant] += 1
                events.append({**event, "idempotency_key": f"click-{i}", "kind": "click"})
        stored = api.post("/v1/outcomes", json={"events": events, "atomic": True})
        assert stored.status_code == 200, stored.text


CARDS = "[...document.querySelectorAll('.variant[data-id]')]"


def card(i: int) -> str:
    return f"{CARDS}[{i}]"


def test_a_marketer_goes_from_brand_to_experiment_in_the_browser(
    server: Server, page: Page, tmp_path: Path
) -> None:
    shots = Shots(page, tmp_path / "screenshots")
    segment = {"name": "high-spenders", "description": "loyal customers who order often"}
    stored = httpx.post(
        f"{server.url}/v1/segments",
        headers={"Authorization": f"Bearer {server.key_a}"},
        json={**segment, "traits": {"spend_tier": "high"}},
        timeout=30,
    )
    assert stored.status_code == 201, stored.text
    page.goto(f"{server.url}/app/")
    shots("login")
    assert serious_violations(page) == []

    # A wrong key is refused at the field; the right one opens the workspace.
    fill(page, "#api-key", "cl_not_a_key")
    click(page, "#login-form button[type=submit]")
    page.wait_for("document.querySelector('#api-key-error').textContent.includes('not valid')")
    fill(page, "#api-key", server.key_a)
    click(page, "#login-form button[type=submit]")
    page.wait_for("document.querySelector('#status').textContent.startsWith('Logged in')")
    assert "acme" in text(page, "#who")
    assert page.evaluate("sessionStorage.getItem('copyloop.apiKey')") == server.key_a
    shots("logged-in")

    # The sample brand from its saved page: the kit with each field's source and completeness.
    page.set_files("#brand-file", SAMPLE)
    fill(page, "#brand-page-url", "https://wickandwillow.example/")
    click(page, "#brand-upload button[type=submit]")
    page.wait_for("!document.querySelector('#brand-kit').hidden")
    assert page.evaluate("document.querySelector('#kit-name').value") == "Wick & Willow"
    assert text(page, "#kit-name-source") not in ("", "not found")
    assert "Complete:" in text(page, "#completeness") and "null" not in text(page, "#completeness")
    shots("brand-read")
    fill(page, "#kit-voice", "warm, calm, cosy")
    click(page, "#brand-kit button[type=submit]")
    page.wait_for("document.querySelector('#kit-voice-source').textContent.startsWith('user')")
    shots("brand-saved")

    # A brief the API refuses names its field, and the error sits next to it.
    fill(page, "#goal", "Holiday sale on hand-poured candles")
    fill(page, "#offer", "20% off all candles")
    fill(page, "#cta-url", "https://wickandwillow.example/collections/holiday")
    fill(page, "#send-date", "2026-12-10")
    # One stored segment ticked, one typed.
    page.wait_for("document.querySelector('#stored-segments input').value === 'high-spenders'")
    click(page, "#stored-segments input")
    fill(page, "#typed-segments", "new-customers: people who placed a first order")
    fill(page, "#variants-per-segment", "9")
    fill(page, "#constraints", "Mention that every candle is hand-poured in small batches.")
    click(page, "#brief-form button[type=submit]")
    error = page.wait_for("document.querySelector('#variants-per-segment-error').textContent")
    assert "brief.variants_per_segment" in error
    assert page.evaluate("document.activeElement.id") == "variants-per-segment"
    shots("brief-error")

    fill(page, "#variants-per-segment", "2")
    click(page, "#brief-form button[type=submit]")
    page.wait_for(f"{CARDS}.length === 4", timeout_s=60)
    page.wait_for(f"{CARDS}.every(c => c.querySelector('iframe').srcdoc.includes('Wick'))")
    # As the subscriber sees it: merge tags filled for the sample subscriber.
    srcdoc = page.evaluate(f"{card(0)}.querySelector('iframe').srcdoc")
    assert "Hi Alex," in srcdoc and "*|" not in srcdoc
    frames = page.evaluate(
        "[...document.querySelectorAll('.variant iframe')].map(f => [f.getAttribute('sandbox'), f.width])"
    )
    assert frames and all(sandbox == "" for sandbox, _ in frames)
    assert {width for _, width in frames} == {"640", "375"}
    assert "high-spenders" in text(page, "#segments") and "new-customers" in text(page, "#segments")
    first = page.evaluate(f"{card(0)}.textContent")
    assert "score" in first and "Quality gates" in first
    shots("variants")
    ids: list[str] = page.evaluate(f"{CARDS}.map(c => c.dataset.id)")

    # Accept with the keyboard, reject with a reason, edit in place, then accept the edited one.
    page.evaluate(f"{card(0)}.focus()")
    page.press("a")
    page.wait_for(f"{card(0)}.querySelector('.state').textContent === 'Accepted'")
    page.evaluate(f"{card(1)}.focus()")
    page.press("r")
    page.wait_for(f"!{card(1)}.querySelector('form.reject').hidden")
    page.evaluate(f"{card(1)}.querySelector('form.reject select').value = 'off_brand'")
    page.evaluate(f"{card(1)}.querySelector('form.reject input').value = 'Too formal for us'")
    page.evaluate(f"{card(1)}.querySelector('form.reject button[type=submit]').click()")
    page.wait_for(f"{card(1)}.querySelector('.state').textContent.startsWith('Rejected')")
    shots("accepted-rejected")
    page.evaluate(f"{card(2)}.focus()")
    page.press("e")
    page.wait_for(f"!{card(2)}.querySelector('form.edit').hidden")
    page.evaluate(f"{card(2)}.querySelector('form.edit [name=subject]').value = 'Candlelight, 20% off'")
    page.evaluate(f"{card(2)}.querySelector('form.edit button[type=submit]').click()")
    page.wait_for(f"{card(2)}.querySelector('.state').textContent.startsWith('Edited')")
    edited = page.evaluate(f"{card(2)}.querySelector('.subject').textContent")
    assert edited == "Candlelight, 20% off"
    shots("edited")
    page.evaluate(f"{card(2)}.querySelector('[data-action=accept]').click()")
    page.wait_for(f"{card(2)}.querySelector('.state').textContent === 'Accepted'")

    # The A/B test from the two accepted variants: live statistics, SRM and the decision, plotted.
    page.wait_for("document.querySelectorAll('#accepted input:checked').length === 2")
    fill(page, "#experiment-name", "holiday subject test")
    click(page, "#experiment-form button[type=submit]")
    page.wait_for("!!document.querySelector('#results [data-decision]')")
    assert "Sample-ratio check" in text(page, "#results")
    assert page.evaluate("document.querySelector('#results svg.plot title').textContent").startswith("Lift")
    assert page.evaluate("document.querySelector('#results [data-decision]').dataset.decision") in (
        "keep_running",
        "inconclusive",
    )
    assert page.evaluate("document.querySelectorAll('#results svg.plot circle').length") == 0

    # Outcomes arrive through the API meanwhile; the page's statistics and plot follow them.
    send_outcomes(server, clicks={ids[0]: 6, ids[2]: 12}, contacts=60)
    page.wait_for("document.querySelectorAll('#results svg.plot circle').length === 1", timeout_s=20)
    recipients = page.evaluate(
        "[...document.querySelectorAll('#results table.arms td:nth-of-type(1)')]"
        ".map(td => Number(td.textContent))"
    )
    assert sum(recipients) == 60 and all(n > 0 for n in recipients)
    shots("experiment")
    assert serious_violations(page) == []
    page.set_width(WIDTHS["mobile"])
    assert serious_violations(page) == []
    page.set_width(WIDTHS["desktop"])

    # One segment written again: its variants are replaced, the other segment's stay.
    box = "document.querySelector('#segment-new-customers')"
    before = page.evaluate(f"[...{box}.querySelectorAll('.variant')].map(c => c.dataset.id)")
    page.evaluate(f"{box}.querySelector('button').click()")
    page.wait_for(
        f"(ids => ids.length === 2 && ids.every(id => id && !{js(before)}.includes(id)))"
        f"([...{box}.querySelectorAll('.variant')].map(c => c.dataset.id))",
        timeout_s=60,
    )
    assert page.evaluate(f"{CARDS}.slice(0, 2).map(c => c.dataset.id)") == ids[:2]
    shots("regenerated")

    # The key never left the Authorization header: not in a URL, the server's log or the console.
    assert server.key_a not in page.evaluate("location.href")
    assert server.key_a not in server.log.read_text(errors="replace")
    assert not [line for line in page.console() if server.key_a in line]

    # The database holds exactly the verdicts given in the page.
    engine = make_engine(server.database_url)
    try:
        with session_factory(engine)() as session:
            events = session.scalars(select(FeedbackEvent).order_by(FeedbackEvent.id)).all()
            got = [(e.variant_id, e.kind, list(e.reason_codes), e.comment) for e in events]
            edit = next(e.edited_text for e in events if e.kind == "edit")
            experiments = session.scalars(select(Experiment)).all()
            generations = session.scalars(
                select(GenerationRequestRow).order_by(GenerationRequestRow.created_at)
            ).all()
    finally:
        engine.dispose()
    assert got == [
        (ids[0], "accept", [], None),
        (ids[1], "reject", ["off_brand"], "Too formal for us"),
        (ids[2], "edit", [], None),
        (ids[2], "accept", [], None),
    ]
    assert edit is not None and edit.splitlines()[0] == "Candlelight, 20% off"
    assert [e.name for e in experiments] == ["holiday subject test"]
    segments = sorted([s["name"] for s in g.brief["segments"]] for g in generations)
    assert segments == [["high-spenders", "new-customers"], ["new-customers"]]
    assert generations[0].brief["segments"][0]["traits"]["spend_tier"] == "high"


def test_a_key_of_another_workspace_sees_none_of_its_brands_or_variants(
    server: Server, page: Page, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {server.key_a}"}
    with SAMPLE.open("rb") as handle:
        answer = httpx.post(
            f"{server.url}/v1/brands/from-html", headers=headers, files={"file": handle}, timeout=30
        )
    assert answer.status_code == 201
    brand = answer.json()
    body = {
        "brand_id": brand["id"],
        "brief": {
            "goal": "Holiday sale on hand-poured candles",
            "cta_url": "https://wickandwillow.example/holiday",
            "variants_per_segment": 1,
            "segments": [{"name": "everyone"}],
        },
    }
    generation = httpx.post(f"{server.url}/v1/generations", headers=headers, json=body, timeout=60)
    assert generation.status_code == 201
    variant_id = generation.json()["variants"]["everyone"][0]["id"]

    log_in(page, server, server.key_b)
    assert "bravo" in text(page, "#who")
    options = page.evaluate("[...document.querySelectorAll('#brand-select option')].map(o => o.textContent)")
    assert options == ["No brands yet"]
    status = page.evaluate(
        f"import('/app/js/api.js').then(api => api.get('/v1/variants/{variant_id}'))"
        ".then(() => 200, e => e.status)"
    )
    assert status == 404
    Shots(page, tmp_path / "screenshots")("other-workspace")

    log_in(page, server, server.key_a)
    # the workspace's brands load after the login: wait for the list to change (a timeout fails the test)
    page.wait_for("document.querySelector('#brand-select option')?.textContent !== 'No brands yet'")
    options = page.evaluate("[...document.querySelectorAll('#brand-select option')].map(o => o.textContent)")
    assert options == ["Wick & Willow"]
