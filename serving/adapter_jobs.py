"""Training a brand's adapter from the API: `copyloop tune --brand` in a child process.

Training takes minutes to hours on a CPU and its tensor work would compete with the API's own
model on the same threads, so each job is the command line's own training in a process of its
own, writing into the adapter's folder: `scope.json` (whose feedback, written before it starts, so
the unfinished adapter is never another workspace's to name), `job.json` (status, times, exit code)
and `tune.log`. One job runs at a time; the folder is the record, so a job's outcome survives a
restart of the API (a job whose server stopped while it ran reads as interrupted).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback.errors import NotFoundError, StateError
from genai.tuning.adapters import ADAPTER_NAME
from serving.adapter_scope import SCOPE_FILE, read_json, reserve_adapter, write_scope
from serving.settings import Settings

__all__ = ["JOB_FILE", "LOG_FILE", "AdapterJob", "AdapterJobs"]

JOB_FILE = "job.json"
LOG_FILE = "tune.log"


@dataclass(frozen=True)
class AdapterJob:
    """A training job: its adapter's name and where it stands."""

    name: str
    status: str  # training, ready, failed or interrupted
    brand_id: str | None
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    log_tail: str  # the last lines of its log, when it failed


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


class AdapterJobs:
    """The adapter trainings this API runs, one at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._done: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(
        self,
        *,
        workspace_id: str,
        workspace_name: str,
        brand_id: str,
        brand_name: str,
        as_of: dt.datetime | None,
        max_steps: int | None,
    ) -> AdapterJob:
        """Start training the brand's next adapter; StateError while another job runs."""
        with self._lock:
            if any(proc.poll() is None for proc in self._running.values()):
                raise StateError(
                    "an adapter is training on this server; one job runs at a time", field="brand_id"
                )
            name, folder = reserve_adapter(self.settings.adapters_dir, brand_name)
            moment = as_of.isoformat() if as_of else None
            write_scope(
                folder,
                {"workspace_id": workspace_id, "brand_id": brand_id, "brand": brand_name, "as_of": moment},
            )
            _write(folder / JOB_FILE, {"status": "training", "brand_id": brand_id, "started_at": _now()})
            args = [
                "tune",
                "--workspace",
                workspace_name,
                "--brand",
                brand_id,
                "--out",
                str(folder),
                "--name",
                name,
            ]
            if moment:
                args += ["--as-of", moment]
            if max_steps is not None:
                args += ["--max-steps", str(max_steps)]
            if self.settings.model:
                args += ["--model", self.settings.model]
            env = {
                **os.environ,
                "COPYLOOP_DATA_DIR": str(self.settings.data_dir),
                "COPYLOOP_CACHE_DIR": str(self.settings.cache_dir),
                "COPYLOOP_DATABASE_URL": self.settings.resolved_database_url(),
            }
            log = (folder / LOG_FILE).open("wb")
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-c", "from serving.cli import main; main()", *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            finally:
                log.close()
            self._running[name] = proc
            self._done[name] = threading.Event()
        threading.Thread(
            target=self._finish, args=(name, proc), name=f"adapter-job-{name}", daemon=True
        ).start()
        return self.status(workspace_id, name)

    def _finish(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        folder = self.settings.adapters_dir / name
        record = read_json(folder / JOB_FILE)
        record.update(status="ready" if code == 0 else "failed", finished_at=_now(), exit_code=code)
        _write(folder / JOB_FILE, record)
        self._done[name].set()

    def wait(self, name: str, timeout: float | None = None) -> bool:
        """Block until the job of `name` (started here) has finished and been recorded; False on timeout."""
        done = self._done.get(name)
        return True if done is None else done.wait(timeout)

    def close(self) -> None:
        """Stop the jobs still training (a stopped job reads as failed)."""
        with self._lock:
            running = [proc for proc in self._running.values() if proc.poll() is None]
        for proc in running:
            proc.terminate()

    def status(self, workspace_id: str, name: str) -> AdapterJob:
        """The job of adapter `name`, as the workspace that started it sees it (others: not found)."""
        folder = self.settings.adapters_dir / name
        record = read_json(folder / JOB_FILE) if ADAPTER_NAME.fullmatch(name) else {}
        owner = read_json(folder / SCOPE_FILE).get("workspace_id")
        if not record or owner != workspace_id:
            raise NotFoundError(f"no adapter job {name!r} in this workspace", field="name")
        status = str(record.get("status", "failed"))
        proc = self._running.get(name)
        if status == "training" and proc is None:
            status = "interrupted"  # started by a server that is gone
        tail = ""
        if status in ("failed", "interrupted"):
            try:
                lines = (folder / LOG_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                lines = []
            tail = "\n".join(lines[-20:])
        code = record.get("exit_code")
        return AdapterJob(
            name=name,
            status=status,
            brand_id=record.get("brand_id"),
            started_at=record.get("started_at"),
            finished_at=record.get("finished_at"),
            exit_code=code if isinstance(code, int) else None,
            log_tail=tail,
        )
