"""SQLite storage of jobs (WAL, one connection behind a lock): the jobs table and each job's saved pictures.

`job_pictures` makes saving idempotent: a row is written (picture_id NULL) just before a picture is added to
the catalog and completed just after, so a retried job skips what is saved and can find what was half-saved.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sfumato.errors import CatalogError
from sfumato.jobs.records import Job, JobState
from sfumato.recipe import Recipe

# Numbered migrations; PRAGMA user_version records how many have run.
MIGRATIONS: Final[tuple[str, ...]] = (
    """--sql
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        recipe TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        collection TEXT NOT NULL,
        save INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        note TEXT,
        skipped INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_by_turn ON jobs (state, priority DESC, seq);
    CREATE TABLE job_pictures (
        job_id TEXT NOT NULL REFERENCES jobs (id),
        position INTEGER NOT NULL,
        picture_id TEXT,
        saving_since TEXT NOT NULL,
        PRIMARY KEY (job_id, position)
    );
    """,
)
_UPDATABLE: Final = frozenset({"state", "started_at", "finished_at", "attempts", "error", "note", "skipped"})


def now() -> datetime:
    return datetime.now(UTC)


class JobStore:
    """Rows of the jobs database; every method is one short transaction."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._connection = connection
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> JobStore:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL survives an app crash
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                connection.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;")
        except (OSError, sqlite3.Error) as error:
            raise CatalogError(f"job queue {str(path)!r}: cannot open ({error})") from error
        return cls(path, connection)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                yield self._connection
                self._connection.execute("COMMIT")
            except BaseException as error:
                if self._connection.in_transaction:
                    self._connection.rollback()
                if isinstance(error, sqlite3.Error):
                    raise CatalogError(f"job queue {str(self.path)!r}: write failed ({error})") from error
                raise

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._connection.execute(sql, parameters))
            except sqlite3.Error as error:
                raise CatalogError(f"job queue {str(self.path)!r}: read failed ({error})") from error

    def insert(self, job: Job) -> None:
        with self._transaction() as connection:
            connection.execute(
                """--sql
                INSERT INTO jobs (id, state, priority, recipe, requested_by, collection, save, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (job.id, job.state.value, job.priority, job.recipe.model_dump_json(), job.requested_by,
                 job.collection, int(job.save), job.created_at.isoformat()),
            )

    def update(self, job_id: str, **changes: Any) -> None:
        unknown = set(changes) - _UPDATABLE
        assert not unknown, f"not updatable: {unknown}"  # a programming error, not a user's
        values = [v.isoformat() if isinstance(v, datetime) else v.value if isinstance(v, JobState) else v
                  for v in changes.values()]
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self._transaction() as connection:
            connection.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values, job_id))

    def claim_next(self) -> Job | None:
        """Mark the next queued job (highest priority, then oldest) running, counting the attempt."""
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            connection.execute(
                "UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ?",
                (now().isoformat(), row["id"]),
            )
        return self.get(row["id"])

    def get(self, job_id: str) -> Job | None:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._job(rows[0]) if rows else None

    def list_jobs(self, states: Sequence[JobState] = (), *, limit: int = 100) -> list[Job]:
        where = f"WHERE state IN ({', '.join('?' * len(states))})" if states else ""
        rows = self._query(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ?", (*states, limit))
        return [self._job(row) for row in rows]

    def queued_ids(self) -> list[str]:
        """Queued jobs in the order they will run."""
        rows = self._query("SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, seq")
        return [row["id"] for row in rows]

    def begin_saving(self, job_id: str, position: int) -> None:
        with self._transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO job_pictures (job_id, position, picture_id, saving_since) VALUES (?, ?, NULL, ?)",
                (job_id, position, now().isoformat()),
            )

    def finish_saving(self, job_id: str, position: int, picture_id: str) -> None:
        with self._transaction() as connection:
            connection.execute(
                "UPDATE job_pictures SET picture_id = ? WHERE job_id = ? AND position = ?",
                (picture_id, job_id, position),
            )

    def saved(self, job_id: str) -> dict[int, str]:
        rows = self._query(
            "SELECT position, picture_id FROM job_pictures WHERE job_id = ? AND picture_id IS NOT NULL", (job_id,)
        )
        return {row["position"]: row["picture_id"] for row in rows}

    def half_saved(self, job_id: str) -> dict[int, datetime]:
        """Positions whose save began but was never recorded as done (the process died in between)."""
        rows = self._query(
            "SELECT position, saving_since FROM job_pictures WHERE job_id = ? AND picture_id IS NULL", (job_id,)
        )
        return {row["position"]: datetime.fromisoformat(row["saving_since"]) for row in rows}

    def is_claimed(self, picture_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM job_pictures WHERE picture_id = ?", (picture_id,)))

    def _job(self, row: sqlite3.Row) -> Job:
        pictures = self.saved(row["id"])
        return Job(
            id=row["id"], state=JobState(row["state"]), recipe=Recipe.model_validate_json(row["recipe"]),
            priority=row["priority"], requested_by=row["requested_by"], collection=row["collection"],
            save=bool(row["save"]), created_at=datetime.fromisoformat(row["created_at"]),
            started_at=_time(row["started_at"]), finished_at=_time(row["finished_at"]), attempts=row["attempts"],
            error=row["error"], note=row["note"], skipped=row["skipped"],
            picture_ids=tuple(pictures[position] for position in sorted(pictures)),
        )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
