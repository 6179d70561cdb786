import sys

from django.core.management.base import BaseCommand

from okwallet.ledger.selectors import ledger_verify


class Command(BaseCommand):
    help = "Check the ledger's invariants; exits 1 with a report on any drift."

    def handle(self, *args, **options):
        report = ledger_verify()
        for line in report.lines():
            self.stdout.write(line)
        if not report.clean:
            self.stderr.write(self.style.ERROR(f"ledger_verify: {len(report.problems)} problem(s)"))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("ledger_verify: clean"))
