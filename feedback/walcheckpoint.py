"""SQLite WAL checkpoints on a background thread, off the writers' commits.

In WAL mode a commit appends the changed pages to the ``-wal`` file, and by default the commit that
takes that file past 1000 pages also copies every page back into the database file (a checkpoint)
while the writer waits and holds the write lock. Under bulk ingestion that was about a sixth of the
write time. Here the writers' own automatic checkpoint is moved far out as a safety net, and once
the WAL passes `threshold_bytes` a background thread with its own connection runs a PASSIVE
checkpoint, which neither waits for nor blocks readers and writers; the sqlite3 module releases the
GIL while it runs, so it proceeds on another core.
"""

from __future__ import annotations

import os
import sqlite3
import threading

__all__ = ["WalCheckpointer"]


class WalCheckpointer:
    """Checkpoints one database file's WAL from a background thread once it has grown enough."""

    def __init__(self, path: str, threshold_bytes: int) -> None:
        self.path = path
        self.wal_path = f"{path}-wal"
        self.threshold_bytes = threshold_bytes
        self.checkpoints = 0
        self._wake = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def after_commit(self) -> None:
        """Called on every commit: wakes the thread when the WAL has passed the threshold."""
        try:
            size = os.path.getsize(self.wal_path)
        except OSError:
            return
        if size < self.threshold_bytes or self._closed:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoint", daemon=True)
                self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (after the checkpoint it may be running)."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closed:
                    return
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue  # the writers' own checkpoint is the safety net
                self.checkpoints += 1
        finally:
            connection.close()
