"""The key that pseudonymises contacts, kept out of the database.

Contacts are stored as an HMAC of their external id (see `feedback.contacts`). The HMAC key of a
workspace is derived from one master key, ``HMAC-SHA256(master, "copyloop-contact:" + workspace id)``,
so a copy of the database alone (a backup, a dump, a dataset export, a row read through some other
hole) cannot be used to test a list of known addresses against the stored hashes.

The master key lives in a key file (JSON, created with mode 0600 on first use) or is given directly
(``COPYLOOP_CONTACT_KEY``, e.g. from a secrets manager). Workspaces created before the key moved out
of the database keep the secret they were created with: the migration moves it into the key file's
``workspaces`` table, as does a workspace created with a secret of its own (to match hashes made
elsewhere). Each workspace row keeps only a short check value of its key, so opening the store with
the wrong key file fails loudly instead of hashing everyone into new, unrelated contacts.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from feedback.errors import ConfigurationError

__all__ = [
    "ContactKeyring",
    "bind_keyring",
    "ephemeral_keyring",
    "keyring_for",
    "keyring_from_hex",
    "open_keyring",
]

KEY_FILE_VERSION = 1
_KEYRINGS: weakref.WeakKeyDictionary[Engine, ContactKeyring] = weakref.WeakKeyDictionary()


@dataclass
class ContactKeyring:
    """The master key, the secrets adopted per workspace, and where they are kept.

    `path` None: a key given directly, or (`ephemeral`) one that lives as long as the process.
    """

    master: bytes
    adopted: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    ephemeral: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def secret_for(self, workspace_id: str) -> str:
        """The HMAC key of one workspace's contacts."""
        adopted = self.adopted.get(workspace_id)
        if adopted is not None:
            return adopted
        derived = hmac.digest(self.master, f"copyloop-contact:{workspace_id}".encode(), hashlib.sha256)
        return derived.hex()

    def check_for(self, workspace_id: str) -> str:
        """A short value that tells whether a key is the one a workspace was created with."""
        secret = self.secret_for(workspace_id).encode("utf-8")
        return hmac.digest(secret, b"copyloop-contact-key-check", hashlib.sha256).hex()[:16]

    def adopt(self, workspace_id: str, secret: str) -> None:
        """Keep `secret` as this workspace's key (written to the key file at once, merged with what
        other processes adopted there meanwhile)."""
        if self.path is None and not self.ephemeral:
            raise ConfigurationError(
                "a workspace's own contact secret needs a key file to live in; set "
                "COPYLOOP_CONTACT_KEY_FILE instead of COPYLOOP_CONTACT_KEY",
                field="contact_secret",
            )
        with self._lock:
            if self.path is None:
                self.adopted[workspace_id] = secret
                return
            with _file_lock(self.path):
                current = open_keyring(self.path)
                if current.master != self.master:
                    raise ConfigurationError(
                        f"{self.path} now holds another master key than this process read",
                        field="contact_key_file",
                    )
                merged = {**current.adopted, **self.adopted, workspace_id: secret}
                _write_key_file(self.path, self.master, merged)
                self.adopted = merged

    def reload(self) -> None:
        """Read the key file again: the secrets another process adopted since (e.g. a migration)."""
        if self.path is None:
            return
        with self._lock:
            current = open_keyring(self.path)
            if current.master == self.master:
                self.adopted = {**self.adopted, **current.adopted}


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes that rewrite the key file (a lock file beside it)."""
    lock = path.with_name(f".{path.name}.lock")
    descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _write_key_file(path: Path, master: bytes, adopted: dict[str, str]) -> None:
    payload = {
        "version": KEY_FILE_VERSION,
        "master": master.hex(),
        "workspaces": dict(sorted(adopted.items())),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _parse_master(value: Any, where: str) -> bytes:
    try:
        master = bytes.fromhex(str(value))
    except ValueError:
        master = b""
    if len(master) < 16:
        raise ConfigurationError(
            f"{where}: the master key must be at least 32 hex digits", field="contact_key"
        )
    return master


def open_keyring(path: Path) -> ContactKeyring:
    """The keyring in `path`, created there with a fresh random master key when the file is absent."""
    path = path.expanduser()
    if not path.exists():
        _create_key_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read the contact key file {path}: {exc}", field="contact_key_file"
        ) from exc
    if not isinstance(data, dict) or data.get("version") != KEY_FILE_VERSION:
        raise ConfigurationError(f"{path} is not a copyloop contact key file", field="contact_key_file")
    adopted = data.get("workspaces") or {}
    if not isinstance(adopted, dict) or not all(isinstance(v, str) for v in adopted.values()):
        raise ConfigurationError(f"{path}: 'workspaces' must map ids to secrets", field="contact_key_file")
    return ContactKeyring(
        master=_parse_master(data.get("master"), str(path)), adopted=dict(adopted), path=path
    )


def _create_key_file(path: Path) -> None:
    """Write a fresh master key to `path` unless another process got there first (then theirs wins,
    and every process reads the same one)."""
    payload = {"version": KEY_FILE_VERSION, "master": secrets.token_bytes(32).hex(), "workspaces": {}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # fails if the file exists: never replaces another's key
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the contact key file {path}: {exc}", field="contact_key_file"
        ) from exc


def keyring_from_hex(key: str) -> ContactKeyring:
    """A keyring from a master key given directly (hex); it cannot adopt workspaces' own secrets."""
    return ContactKeyring(master=_parse_master(key.strip(), "COPYLOOP_CONTACT_KEY"))


def ephemeral_keyring() -> ContactKeyring:
    """A random keyring that lives as long as the process: for in-memory and throwaway databases."""
    return ContactKeyring(master=secrets.token_bytes(32), ephemeral=True)


def bind_keyring(engine: Engine, keyring: ContactKeyring) -> None:
    """Make `keyring` the one every session on `engine` hashes contacts with."""
    _KEYRINGS[engine] = keyring


def keyring_for(bind: Engine | Connection) -> ContactKeyring:
    """The keyring bound to the engine behind `bind`."""
    engine = bind.engine if isinstance(bind, Connection) else bind
    keyring = _KEYRINGS.get(engine)
    if keyring is None:
        raise ConfigurationError(
            "this database engine has no contact key; create it with feedback.db.make_engine",
            field="contact_key",
        )
    return keyring
