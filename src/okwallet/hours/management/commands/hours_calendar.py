from django.core.management.base import BaseCommand

from okwallet.hours.businesstime import missing_calendar_years
from okwallet.hours.defaults import import_package_calendar, package_years


class Command(BaseCommand):
    help = "Import China's holiday calendar from the chinese-calendar package for the years not yet entered, and report missing years."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="only report; exit 1 when a coming year is missing"
        )

    def handle(self, *args, check=False, **options):
        if not check:
            years = import_package_calendar()
            known = package_years()
            self.stdout.write(f"package knows {known[0]}–{known[-1]}; imported: {years or 'nothing new'}")
        missing = missing_calendar_years()
        if missing:
            self.stderr.write(
                f"holiday calendar missing for {missing}: enter it in admin (Service hours → Calendar days)"
            )
            if check:
                raise SystemExit(1)
        else:
            self.stdout.write("holiday calendar complete for the coming 60 days")
