"""The single-transfer function on PostgreSQL (one round trip per transfer).

The SQL lives in okwallet/ledger/sql/transfer_create.sql (CREATE OR REPLACE, so re-running is
harmless); SQLite uses the portable Python engine instead and this migration does nothing there.
"""

from pathlib import Path

from django.db import migrations

SQL_FILE = Path(__file__).resolve().parents[1] / "sql" / "transfer_create.sql"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:  # no params: the body contains %ROWTYPE
        cursor.execute(SQL_FILE.read_text())


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "DROP FUNCTION IF EXISTS ledger_transfer_create(text, bigint, bigint, bigint, integer, text, text, text, integer, text)"
    )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(create_function, drop_function)]
