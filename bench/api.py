"""API benchmark: a real `copyloop serve` (fake backend) on SQLite and PostgreSQL, driven over HTTP.

Run from the repository root: ``python bench/api.py``. It writes ``bench/results/api.json``.

The server runs in its own process, as users run it (the production app, every limit and check on:
authentication, the failed-key limiter, header and body caps; the per-key rate limit off so the
load is not refused), with the fake backend so a generation costs no model time. Per database,
``--clients`` client threads with keep-alive connections send each kind of request for
``--seconds``:

- ``healthz``: ``GET /healthz``, no key, no database: the server's floor, the baseline.
- ``read``: ``GET /v1/brands`` with a reader key: authentication, key cache, a database read.
- ``feedback``: ``POST /v1/feedback``, one verdict per request: validation, scrubbing, one insert.
- ``outcomes``: ``POST /v1/outcomes`` with batches of ``--batch`` events (events/s): contacts
  hashed and created, the suppression list checked, stored exactly once.
- ``generation``: ``POST /v1/generations`` through the fake backend, 2 segments x 2 variants.
- ``erase``: ``POST /v1/contacts/erase`` one contact at a time (on SQLite the log is emptied after each).
- ``failed_keys``: wrong keys from one address: how many are answered 401 before the limiter
  answers 429, and how fast a refusal is.

Each figure is requests (or events) per second and latency percentiles in milliseconds; the ratios
compare each route's throughput with ``healthz`` measured in the same run. Wall clock on a shared
machine: compare ratios, and figures only within one run; the JSON records the load average.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import secrets  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "api.json"
POSTGRES_URL = os.environ.get("COPYLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
KIT = {
    "name": "Lumen Candles",
    "tagline": "Hand-poured soy candles",
    "voice": ["warm", "calm"],
    "website": "https://lumencandles.example",
    "allowed_domains": ["lumencandles.example"],
}
BRIEF = {
    "goal": "Holiday sale on hand-poured candles",
    "offer": "20% off all candles",
    "cta_url": "https://lumencandles.example/holiday",
    "segments": [
        {"name": "loyal", "description": "order often"},
        {"name": "new", "description": "first order"},
    ],
    "variants_per_segment": 2,
}

Send = Callable[[httpx.Client, int], int]  # one request; returns how many items it carried


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _copyloop(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from serving.cli import main; main()", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


class Server:
    """`copyloop serve` in a child process on a free port."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.port = _free_port()
        self.env = {
            **os.environ,
            "COPYLOOP_DATA_DIR": str(data_dir),
            "COPYLOOP_DATABASE_URL": database_url,
            "COPYLOOP_BACKEND": "fake",
            "COPYLOOP_RATE_LIMIT_PER_S": "0",
            "COPYLOOP_MAX_CONCURRENT_GENERATIONS": "8",
        }
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.keys = {
            role: _copyloop(["keys", "create", "--workspace", "bench", "--role", role], self.env)
            for role in ("admin", "marketer", "analyst")
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from serving.cli import main; main()",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=self.env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.close()
        raise RuntimeError("the API server did not become ready in 120 s")

    def client(self, role: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _load(server: Server, role: str | None, send: Send, clients: int, seconds: float) -> dict[str, Any]:
    """`clients` threads sending for `seconds`; throughput and latency percentiles."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    items = [0] * clients
    errors: list[str] = []
    counter = itertools.count()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(slot: int) -> None:
        with server.client(role) as client:
            start.wait()
            while time.perf_counter() < stop_at[0]:
                began = time.perf_counter()
                try:
                    items[slot] += send(client, next(counter))
                except AssertionError as exc:
                    errors.append(str(exc))
                    return
                latencies[slot].append(time.perf_counter() - began)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"a request failed: {errors[0]}")
    flat = np.array([x for per in latencies for x in per]) * 1000
    p50, p95, p99 = np.percentile(flat, [50, 95, 99]) if flat.size else (0, 0, 0)
    return {
        "requests": int(flat.size),
        "items": int(sum(items)),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(flat.size / elapsed, 1),
        "items_per_s": round(sum(items) / elapsed, 1),
        "latency_ms": {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)},
    }


def _expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    assert response.status_code in statuses, (
        f"{response.request.url.path}: {response.status_code} {response.text[:300]}"
    )
    return response


def _setup(server: Server) -> dict[str, Any]:
    with server.client("admin") as admin:
        brand = _expect(admin.post("/v1/brands", json={"kit": KIT}), 201).json()["id"]
        generation = _expect(
            admin.post("/v1/generations", json={"brand_id": brand, "brief": BRIEF}), 201
        ).json()
    variants = [v["id"] for per in generation["variants"].values() for v in per]
    return {"brand": brand, "variants": variants}


def _run_database(name: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    run = secrets.token_hex(3)
    with tempfile.TemporaryDirectory(prefix="copyloop-bench-api-") as folder:
        server = Server(database_url, Path(folder))
        try:
            ids = _setup(server)
            variants, brand = ids["variants"], ids["brand"]

            def healthz(client: httpx.Client, _n: int) -> int:
                _expect(client.get("/healthz"), 200)
                return 1

            def read(client: httpx.Client, _n: int) -> int:
                _expect(client.get("/v1/brands"), 200)
                return 1

            def feedback(client: httpx.Client, n: int) -> int:
                event = {
                    "idempotency_key": f"{run}-f{n}",
                    "variant_id": variants[n % len(variants)],
                    "kind": "comment",
                    "comment": "Lovely subject line",
                    "event_time": now,
                }
                _expect(client.post("/v1/feedback", json=event), 201)
                return 1

            def outcomes(client: httpx.Client, n: int) -> int:
                events = [
                    {
                        "idempotency_key": f"{run}-o{n}-{i}",
                        "variant_id": variants[i % len(variants)],
                        "contact": f"c{(n * args.batch + i) % 50_000}@shop.example",
                        "kind": "send",
                        "event_time": now,
                    }
                    for i in range(args.batch)
                ]
                body = _expect(client.post("/v1/outcomes", json={"events": events}), 200).json()
                assert body["accepted"] == args.batch, body
                return args.batch

            def generation(client: httpx.Client, _n: int) -> int:
                _expect(client.post("/v1/generations", json={"brand_id": brand, "brief": BRIEF}), 201)
                return 1

            def erase(client: httpx.Client, n: int) -> int:
                _expect(client.post("/v1/contacts/erase", json={"contact": f"c{n}@shop.example"}), 200)
                return 1

            figures: dict[str, Any] = {}
            for label, role, send in (
                ("healthz", None, healthz),
                ("read", "analyst", read),
                ("feedback", "marketer", feedback),
                ("outcomes", "marketer", outcomes),
                ("generation", "marketer", generation),
                ("erase", "admin", erase),
            ):
                figures[label] = _load(server, role, send, args.clients, args.seconds)
                print(json.dumps({name: {label: figures[label]}}), flush=True)
            figures["failed_keys"] = _failed_keys(server)
            print(json.dumps({name: {"failed_keys": figures["failed_keys"]}}), flush=True)
        finally:
            server.close()
    base = figures["healthz"]["requests_per_s"]
    figures["ratio_to_healthz"] = {
        label: round(figures[label]["requests_per_s"] / base, 3)
        for label in ("read", "feedback", "outcomes", "generation", "erase")
    }
    return figures


def _failed_keys(server: Server) -> dict[str, Any]:
    """Wrong keys from one address until the limiter answers 429: how many got through to a 401."""
    statuses: list[int] = []
    took: list[float] = []
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for n in range(200):
            began = time.perf_counter()
            response = client.get("/v1/brands", headers={"Authorization": f"Bearer cl_wrong_{n:04d}"})
            took.append(time.perf_counter() - began)
            statuses.append(response.status_code)
    refused = [t for s, t in zip(statuses, took, strict=True) if s == 429]
    return {
        "attempts": len(statuses),
        "answered_401": statuses.count(401),
        "answered_429": statuses.count(429),
        "first_429_at": statuses.index(429) + 1 if 429 in statuses else None,
        "refusal_p50_ms": round(float(np.median(refused)) * 1000, 2) if refused else None,
    }


def _postgres_database() -> tuple[str, Callable[[], None]]:
    """A fresh database on the local server for this run, and how to drop it."""
    import psycopg

    name = f"copyloop_bench_api_{secrets.token_hex(4)}"
    admin = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return admin.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:
    """Run the benchmark on the databases asked for and write the JSON report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of load per route")
    parser.add_argument("--batch", type=int, default=1000, help="outcome events per batch")
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "HTTP API through a real server (fake backend)",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {"clients": args.clients, "seconds_per_route": args.seconds, "outcome_batch": args.batch},
    }
    for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="copyloop-bench-api-db-") as folder:
                report[name] = _run_database(name, f"sqlite:///{Path(folder) / 'copyloop.db'}", args)
        elif name == "postgres":
            url, drop = _postgres_database()
            try:
                report[name] = _run_database(name, url, args)
            finally:
                drop()
        else:
            raise SystemExit(f"unknown database {name!r}: use sqlite or postgres")
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
