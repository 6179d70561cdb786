from django.db import migrations

from okwallet.hours.defaults import ensure_default_schedules, import_package_calendar


def seed(apps, schema_editor):
    ensure_default_schedules(apps.get_model("hours", "Schedule"), apps.get_model("hours", "SchedulePeriod"))
    import_package_calendar(apps.get_model("hours", "CalendarDay"), apps.get_model("hours", "CalendarYear"))


class Migration(migrations.Migration):
    dependencies = [("hours", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
