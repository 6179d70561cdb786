"""Fewer indexes on ledger_transfer: each one is paid on every insert (single and batch path).

Before: nine entries per inserted row (heap + eight indexes). The foreign keys' implicit indexes
duplicated the named ``ledger_transfer_debit`` / ``ledger_transfer_credit``; the full index on
``pending_id`` (mostly NULLs) duplicated the partial unique ``ledger_pending_resolved_once``; and
``unique=True`` on ``key`` added a ``varchar_pattern_ops`` index for LIKE that nothing uses.
The named debit/credit indexes go too: no query reads transfers by account (see models.py).
After: heap + pkey + key (the partial indexes only take pending/resolving rows).

The key's unique constraint is replaced in the same (atomic) migration, so there is no moment
without uniqueness on PostgreSQL.

Also re-creates the single-transfer function from sql/transfer_create.sql (now locking FOR NO KEY
UPDATE, like the batch engine).
"""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

SQL_FILE = Path(__file__).resolve().parents[1] / "sql" / "transfer_create.sql"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:  # no params: the body contains %ROWTYPE
        cursor.execute(SQL_FILE.read_text())


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_lean_transfer_table'),
    ]

    operations = [
        migrations.AlterField(
            model_name='transfer',
            name='credit_account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.account'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='debit_account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.account'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='key',
            field=models.CharField(help_text='Client-chosen idempotency key', max_length=64),
        ),
        # Not a plain AlterField: on PostgreSQL Django drops *every* non-Meta.indexes btree on the
        # column when db_index goes False, which would take the partial unique
        # ledger_pending_resolved_once with it. Drop only the implicit index.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='transfer',
                    name='pending',
                    field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.transfer'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "ledger_transfer_pending_id_d4b0cd6d"',
                    'CREATE INDEX "ledger_transfer_pending_id_d4b0cd6d" ON "ledger_transfer" ("pending_id")',
                ),
            ],
        ),
        migrations.AddConstraint(
            model_name='transfer',
            constraint=models.UniqueConstraint(fields=('key',), name='ledger_transfer_key_unique'),
        ),
        migrations.RunPython(create_function, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name='transfer', name='ledger_transfer_debit'),
        migrations.RemoveIndex(model_name='transfer', name='ledger_transfer_credit'),
    ]
