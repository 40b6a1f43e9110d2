"""A real uvicorn server on a free port for the API tests, and the requests they share.

`LiveServer` runs the app in a thread (``uvicorn.Server.run`` until ``should_exit``) with a fake
backend whose replies come from the pipeline tests' `Script`, slowed down or failing on demand
through `Responder`. `create_brand` and `create_generation` store a brand from `KIT` and a
generation from `BRIEF` through the API.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine

from feedback.api_keys import ROLES, create_key
from feedback.db import session_factory
from feedback.tenancy import create_workspace
from genai.backends.base import Backend, Candidate, GenerationRequest, GenerationResult
from genai.embed import HashingEmbedder
from serving.app import create_app
from serving.settings import Settings
from tests.support.paths import REPO
from tests.support.scripted import Script, audience

SAMPLE_PAGE = REPO / "genai" / "samples" / "wick-and-willow.html"
SAMPLE_URL = "https://wickandwillow.example/"

# A brand and a brief whose drafts (the Script's) pass every blocking gate.
KIT: dict[str, Any] = {
    "name": "Lumen Candles",
    "tagline": "Hand-poured soy candles",
    "description": "Small-batch candles poured by hand for slow, cosy evenings.",
    "voice": ["warm", "calm"],
    "website": "https://lumencandles.example",
    "allowed_domains": ["lumencandles.example"],
}
BRIEF: dict[str, Any] = {
    "goal": "Holiday sale on hand-poured candles",
    "offer": "20% off all candles",
    "cta_url": "https://lumencandles.example/holiday",
    "segments": [
        {"name": "loyal", "description": "order often"},
        {"name": "new", "description": "first order"},
    ],
    "variants_per_segment": 2,
}


class Responder:
    """The fake backend's replies: the Script's drafts, after `delay` seconds, or `error` raised."""

    def __init__(self) -> None:
        self.script = Script()
        self.delay = 0.0
        self.slow_segment: str | None = None
        self.error: Exception | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Fast, well-behaved replies again."""
        self.delay, self.slow_segment, self.error = 0.0, None, None

    def __call__(self, request: GenerationRequest, index: int) -> str:
        if self.error is not None:
            raise self.error
        if self.delay and (self.slow_segment is None or audience(request) == self.slow_segment):
            time.sleep(self.delay)
        with self._lock:
            return self.script(request, index)


class ScriptBackend(Backend):
    """A fake backend that, like the real ones, serves concurrent callers at once (`FakeBackend`
    holds one lock around every call, which would serialise the segments of a generation)."""

    name = "fake"
    model_id = "fake-model"

    def __init__(self, responder: Responder) -> None:
        self.responder = responder

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Ask the responder for every candidate."""
        results = []
        for request in requests:
            started = time.perf_counter()
            texts = [self.responder(request, i) for i in range(request.n)]
            candidates = [Candidate(text=t, tokens_out=len(t.split()), finish_reason="stop") for t in texts]
            tokens_in = sum(len(m["content"].split()) for m in request.messages)
            elapsed = time.perf_counter() - started
            results.append(
                GenerationResult(candidates, tokens_in=tokens_in, ttft_s=elapsed / 2, total_s=elapsed)
            )
        return results


@dataclass
class Tenant:
    """A workspace with one key per role."""

    workspace_id: str
    name: str
    keys: dict[str, str]

    def headers(self, role: str = "admin") -> dict[str, str]:
        """The Authorization header of this tenant's key for `role`."""
        return {"Authorization": f"Bearer {self.keys[role]}"}


class LiveServer:
    """The API app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(
        self, settings: Settings, *, inject_backend: bool = True, real_network: bool = False
    ) -> None:
        self.settings = settings
        self.responder = Responder()
        # Without an injected backend the app loads the one its settings name, as in production.
        backend = ScriptBackend(self.responder) if inject_backend else None
        # Brand pages come from `page_transport`, unless a test fetches them over the real network.
        transport = None if real_network else page_transport()
        self.app = create_app(
            settings, backend=backend, embedder=HashingEmbedder(), fetch_transport=transport
        )
        # An explicit TCP protocol number, so that asyncio sets TCP_NODELAY on accepted connections
        # (without it, small answers wait ~40 ms on delayed ACKs).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="on",
            loop="asyncio",
            http="h11",
            ws="none",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._engine: Engine | None = None

    def start(self) -> LiveServer:
        """Serve, and wait until the lifespan has finished starting."""
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        self._engine = self.settings.make_engine()
        return self

    def stop(self) -> None:
        """Shut the server down and wait for it."""
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()
        if self._engine is not None:
            self._engine.dispose()

    def client(self, tenant: Tenant | None = None, role: str = "admin", **options: Any) -> httpx.Client:
        """An HTTP client for this server, authenticated as `tenant`'s `role` key when given."""
        headers = tenant.headers(role) if tenant is not None else {}
        options.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.base_url, headers=headers, **options)

    def tenant(self, roles: tuple[str, ...] = ROLES) -> Tenant:
        """A new workspace with a key for each role."""
        assert self._engine is not None
        name = f"ws-{secrets.token_hex(4)}"
        with session_factory(self._engine)() as session, session.begin():
            workspace = create_workspace(session, name)
            keys = {role: create_key(session, workspace.id, role).token for role in roles}
            return Tenant(workspace.id, name, keys)


# A 1x1 PNG, as a logo that loads.
PNG_PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d3f6c50000000049454e44ae426082"
)
LOGO_URL = "https://wickandwillow.example/cdn/logo.png"


def page_transport() -> httpx.MockTransport:
    """The network as brand fetches see it: the sample page and a PNG logo, 404 everywhere else."""
    page = SAMPLE_PAGE.read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == SAMPLE_URL:
            return httpx.Response(200, content=page, headers={"content-type": "text/html; charset=utf-8"})
        if str(request.url) == LOGO_URL:
            return httpx.Response(200, content=PNG_PIXEL, headers={"content-type": "image/png"})
        return httpx.Response(404, text="not found")

    return httpx.MockTransport(handler)


def api_settings(database_url: str, data_dir: Path, **changes: Any) -> Settings:
    """Settings for a test server: the fake backend, no rate limit unless asked."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "backend": "fake",
        "rate_limit_per_s": 0,
        "generation_timeout_s": 30.0,
    }
    values.update(changes)
    return Settings(**values)


def create_brand(client: httpx.Client, kit: dict[str, Any] | None = None) -> str:
    """A brand from `KIT` (or `kit`); returns its id."""
    response = client.post("/v1/brands", json={"kit": kit or KIT})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def create_generation(client: httpx.Client, brand_id: str, **brief_changes: Any) -> dict[str, Any]:
    """A stored generation from `BRIEF` (with changes); returns its JSON."""
    response = client.post(
        "/v1/generations", json={"brand_id": brand_id, "brief": {**BRIEF, **brief_changes}}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def variant_ids(generation: dict[str, Any]) -> list[str]:
    """Every variant id of a generation, segment by segment."""
    return [v["id"] for variants in generation["variants"].values() for v in variants]
