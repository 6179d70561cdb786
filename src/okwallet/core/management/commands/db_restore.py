from django.core.management.base import BaseCommand

from okwallet.core.backup import backup_restore


class Command(BaseCommand):
    help = "Restore a backup into an empty PostgreSQL database (.dump) or a new SQLite file (.sqlite3)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--database", required=True, help="PostgreSQL database name or SQLite file path")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=5432)
        parser.add_argument("--user", default="")

    def handle(self, *args, path, database, host, port, user, **options):
        backup_restore(path=path, database=database, host=host, port=port, user=user)
        self.stdout.write(self.style.SUCCESS(f"restored {path} into {database}"))
