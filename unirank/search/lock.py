"""One search process at a time on a SQLite study: an exclusive lock beside the database file.

SQLite serialises writers with file locks and returns "database is locked" under contention, and a
second process could not tell a live trial from one a killed process left RUNNING. So `unirank
search` holds ``<study.db>.lock`` (``fcntl.flock``, released by the kernel when the process dies,
even by SIGKILL) and a second search on the same file fails at once with one line naming the
holder. Several workers on one study: use PostgreSQL (``--storage postgresql://…``), where
trials are kept alive by Optuna heartbeats instead. Readers (report, dashboard) take no lock.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from unirank.errors import UnirankError


def sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith(prefix + "file:") or url.endswith(":memory:"):
        return None
    return Path(url[len(prefix):])


@contextlib.contextmanager
def search_lock(url: str) -> Iterator[None]:
    """Hold the study's lock for the duration (no-op for server storages)."""
    db = sqlite_path(url)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    path = db.with_name(db.name + ".lock")
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UnirankError(
                f"{db}: another `unirank search` ({holder}) is running on this SQLite study; SQLite takes "
                "one search process at a time — wait for it, or use --storage postgresql://… for several "
                "workers") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
