"""Schema migrations: numbered `.sql` files in `migrations/`, applied in order, noted in schema_migrations."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib.resources import files

from sfumato.errors import CatalogError

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> tuple[Migration, ...]:
    """The packaged migrations, ordered by version."""
    found = []
    for entry in files("sfumato.catalog").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise CatalogError(f"migrations: versions must be unique, got {versions}")
    return tuple(found)


def applied_versions(connection: sqlite3.Connection) -> set[int]:
    return {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}


def migrate(connection: sqlite3.Connection) -> tuple[int, ...]:
    """Apply every migration not yet recorded; returns the versions applied now.

    `connection` must be in autocommit mode (isolation_level=None): each migration runs in its own
    BEGIN IMMEDIATE script, so two processes opening a new library cannot both apply it.
    """
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done: list[int] = []
    for migration in load_migrations():
        if migration.version in applied_versions(connection):
            continue
        # executescript commits any open transaction first (Python 3.11), so BEGIN goes in the script.
        # The name is safe to inline: it matched _MIGRATION_NAME.
        script = (
            f"BEGIN IMMEDIATE;\n{migration.sql}\n"
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
            f"({migration.version}, '{migration.name}', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));\nCOMMIT;"
        )
        try:
            connection.executescript(script)
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.rollback()
            # Another process may have applied it between our check and our BEGIN.
            if migration.version in applied_versions(connection):
                continue
            raise CatalogError(
                f"migration {migration.version:04d}_{migration.name}: could not be applied ({error})"
            ) from error
        done.append(migration.version)
    return tuple(done)
