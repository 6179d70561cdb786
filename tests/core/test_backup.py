"""A backup restores into a fresh database with the same customers, tickets and a clean ledger."""

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.management import get_commands
from django.db import connection

from okwallet.core.backup import backup_create, backup_restore

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "okwallet.settings"}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_backup_restores_into_a_fresh_database(alice, bob, tmp_path):
    path = backup_create(directory=tmp_path)
    assert path.suffix == ".dump" and path.stat().st_size > 0
    settings_dict = connection.settings_dict
    host, port, user = (
        settings_dict.get("HOST") or "127.0.0.1",
        settings_dict.get("PORT") or 5432,
        settings_dict.get("USER") or "postgres",
    )
    name = f"okw_restore_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        backup_restore(path=path, database=name, host=host, port=int(port), user=user)
        with psycopg.connect(host=host, port=port, user=user, dbname=name) as restored:
            phones = {
                row[0] for row in restored.execute("SELECT phone FROM accounts_user WHERE phone IS NOT NULL")
            }
        assert {alice.phone, bob.phone} <= phones
        if "ledger_verify" in get_commands():
            result = _manage("ledger_verify", database_url=f"postgres://{user}@{host}:{port}/{name}")
            assert result.returncode == 0, result.stdout + result.stderr
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.django_db(transaction=True)
def test_sqlite_backup_restores_into_a_new_file(alice, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite path; PostgreSQL has its own test")
    path = backup_create(directory=tmp_path)
    target = tmp_path / "restored.sqlite3"
    backup_restore(path=path, database=str(target))
    with sqlite3.connect(target) as restored:
        phones = {row[0] for row in restored.execute("SELECT phone FROM accounts_user")}
    assert alice.phone in phones
    with pytest.raises(FileExistsError):
        backup_restore(path=path, database=str(target))
