"""Full-text search over Ticket.search_tokens (jieba tokens): GIN tsvector on PostgreSQL,
FTS5 + triggers on SQLite."""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS helpdesk_ticket_fts USING fts5(tokens, tokenize='unicode61')",
    """CREATE TRIGGER IF NOT EXISTS helpdesk_ticket_fts_ai AFTER INSERT ON helpdesk_ticket BEGIN
         INSERT INTO helpdesk_ticket_fts(rowid, tokens) VALUES (new.id, new.search_tokens); END""",
    """CREATE TRIGGER IF NOT EXISTS helpdesk_ticket_fts_au AFTER UPDATE OF search_tokens ON helpdesk_ticket BEGIN
         DELETE FROM helpdesk_ticket_fts WHERE rowid = old.id;
         INSERT INTO helpdesk_ticket_fts(rowid, tokens) VALUES (new.id, new.search_tokens); END""",
    """CREATE TRIGGER IF NOT EXISTS helpdesk_ticket_fts_ad AFTER DELETE ON helpdesk_ticket BEGIN
         DELETE FROM helpdesk_ticket_fts WHERE rowid = old.id; END""",
    "INSERT INTO helpdesk_ticket_fts(rowid, tokens) SELECT id, search_tokens FROM helpdesk_ticket",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS helpdesk_ticket_fts_ai",
    "DROP TRIGGER IF EXISTS helpdesk_ticket_fts_au",
    "DROP TRIGGER IF EXISTS helpdesk_ticket_fts_ad",
    "DROP TABLE IF EXISTS helpdesk_ticket_fts",
]
PG_FORWARD = [
    "CREATE INDEX IF NOT EXISTS hd_ticket_fts ON helpdesk_ticket "
    "USING gin (to_tsvector('simple'::regconfig, search_tokens))",
]
PG_BACKWARD = ["DROP INDEX IF EXISTS hd_ticket_fts"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("helpdesk", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": PG_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": PG_BACKWARD}),
        )
    ]
