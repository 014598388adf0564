"""Which search process trains a preset, when several share one study (PostgreSQL).

Without this, every `unirank search` on a shared study trains every preset it lists. Before a
preset starts, its process takes a PostgreSQL advisory lock named by the study and the preset
(``pg_try_advisory_lock`` on a connection kept for the whole search; released once the preset's
result is in the study, and by the server when the process dies), then re-reads the study: a
preset another process holds, or has finished, is not trained again. SQLite studies admit one
search process at a time (``unirank.search.lock``), so nothing needs claiming there.
"""
from __future__ import annotations

import hashlib


class PresetClaims:
    def __init__(self, storage_url: str, study_name: str):
        self.study_name = study_name
        self.held: set[str] = set()
        self._connection = None
        if storage_url.startswith("postgresql"):
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            self._engine = sqlalchemy.create_engine(storage_url, poolclass=NullPool)
            self._connection = self._engine.connect()

    @property
    def shared(self) -> bool:
        """Whether other processes may be searching the study (a server storage)."""
        return self._connection is not None

    def _key(self, preset: str) -> int:
        """A signed 64-bit lock id for (study, preset)."""
        digest = hashlib.sha256(f"unirank:{self.study_name}:{preset}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _query(self, sql: str, preset: str) -> bool:
        from sqlalchemy import text

        value = self._connection.execute(text(sql), {"key": self._key(preset)}).scalar()
        self._connection.commit()  # session-level locks outlive it; no transaction left open
        return bool(value)

    def claim(self, preset: str) -> bool:
        """True when this process may train ``preset`` (no other live process holds it)."""
        if self._connection is None or preset in self.held:
            return True
        if self._query("SELECT pg_try_advisory_lock(:key)", preset):
            self.held.add(preset)
            return True
        return False

    def release(self, preset: str) -> None:
        if self._connection is not None and preset in self.held:
            self._query("SELECT pg_advisory_unlock(:key)", preset)
            self.held.discard(preset)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()  # the server releases whatever is still held
            self._engine.dispose()
            self._connection = None
