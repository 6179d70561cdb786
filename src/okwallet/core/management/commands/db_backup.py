from django.core.management.base import BaseCommand

from okwallet.core.backup import backup_create


class Command(BaseCommand):
    help = "Write a consistent backup of the database (pg_dump custom format, or a SQLite copy) under var/backups/."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=None, help="directory for the backup file")

    def handle(self, *args, dir=None, **options):
        path = backup_create(directory=dir)
        self.stdout.write(self.style.SUCCESS(f"backup written: {path} ({path.stat().st_size:,} bytes)"))
