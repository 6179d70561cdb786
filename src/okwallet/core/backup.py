"""Database backups: pg_dump's custom format on PostgreSQL, SQLite's online backup API on SQLite.

Both produce one file that `db_restore` loads into an empty database. The backup is consistent
(pg_dump runs in one snapshot; SQLite's backup API copies a consistent image while writers wait).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connections


def _pg_env(db: dict) -> tuple[list[str], dict]:
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    args = ["-h", str(db.get("HOST") or "127.0.0.1"), "-p", str(db.get("PORT") or 5432)]
    if db.get("USER"):
        args += ["-U", str(db["USER"])]
    return args, env


def backup_create(*, directory: Path | None = None, alias: str = "default") -> Path:
    """Write a backup of the database ``alias`` and return its path."""
    db = settings.DATABASES[alias]
    directory = Path(directory or settings.VAR_DIR / "backups")
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if connections[alias].vendor == "postgresql":
        path = directory / f"okwallet-{stamp}.dump"
        args, env = _pg_env(db)
        subprocess.run(
            ["pg_dump", *args, "--format=custom", "--no-owner", "--file", str(path), str(db["NAME"])],
            check=True,
            env=env,
        )
        return path
    path = directory / f"okwallet-{stamp}.sqlite3"
    source = sqlite3.connect(str(db["NAME"]))
    target = sqlite3.connect(str(path))
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return path


def backup_restore(
    *, path: Path, database: str, host: str = "127.0.0.1", port: int = 5432, user: str = ""
) -> None:
    """Load a backup into ``database``: a PostgreSQL database name (must exist and be empty) for a
    ``.dump``, or a file path for a ``.sqlite3`` backup (must not exist)."""
    path = Path(path)
    if path.suffix == ".dump":
        args = ["-h", host, "-p", str(port)] + (["-U", user] if user else [])
        subprocess.run(
            ["pg_restore", *args, "--no-owner", "--exit-on-error", "--dbname", database, str(path)],
            check=True,
        )
        return
    target = Path(database)
    if target.exists():
        raise FileExistsError(f"{target} exists; restore into a new file")
    source = sqlite3.connect(str(path))
    dest = sqlite3.connect(str(target))
    try:
        source.backup(dest)
    finally:
        dest.close()
        source.close()
