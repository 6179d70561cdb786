"""The assertion a sealed batch (one round trip from BEGIN to COMMIT) ends with: see
sql/batch_require.sql and engine.run_batch_sealed. PostgreSQL only."""

from pathlib import Path

from django.db import migrations

SQL_FILE = Path(__file__).resolve().parents[1] / "sql" / "batch_require.sql"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL_FILE.read_text())


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION IF EXISTS ledger_batch_require(boolean)")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_lean_transfer_indexes"),
    ]

    operations = [migrations.RunPython(create_function, drop_function)]
