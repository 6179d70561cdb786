"""Migration operations that keep a live PostgreSQL database writable.

``AddIndexOnline``: ``CREATE INDEX CONCURRENTLY`` on PostgreSQL (no lock that blocks writes while
a million-row table is indexed; the migration must be ``atomic = False``), a plain ``AddIndex``
elsewhere (SQLite, the embedded default, has no concurrent build and needs none).
"""

from __future__ import annotations

from django.db.migrations.operations import AddIndex


class AddIndexOnline(AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)

    def describe(self):
        return f"Create index {self.index.name} on {self.model_name} (concurrently on PostgreSQL)"
