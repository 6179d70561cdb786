import sys

from django.core.management.base import BaseCommand

from okwallet.core.audit import audit_verify
from okwallet.core.models import AuditLogEntry


class Command(BaseCommand):
    help = "Walk the audit log's hash chain; exit 1 with a report if any entry was changed, removed or reordered."

    def handle(self, *args, **options):
        problems = audit_verify()
        count = AuditLogEntry.objects.count()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            self.stderr.write(
                self.style.ERROR(f"audit chain BROKEN: {len(problems)} problem(s) in {count} entries")
            )
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} entries"))
