"""The 360 search's "last 4 + name" also matches the verified real name (what callers give)."""

from django.db import migrations, models


def fill_real_names(apps, schema_editor):
    RealName = apps.get_model("accounts", "RealName")
    CustomerSearchKey = apps.get_model("helpdesk", "CustomerSearchKey")
    rows = RealName.objects.order_by("user_id").values_list("user_id", "name")
    batch = {}
    for user_id, name in rows.iterator(chunk_size=2000):
        batch[user_id] = (name or "")[:60]
        if len(batch) >= 2000:
            _write(CustomerSearchKey, batch)
            batch = {}
    _write(CustomerSearchKey, batch)


def _write(CustomerSearchKey, names: dict) -> None:
    keys = list(CustomerSearchKey.objects.filter(user_id__in=names))
    for key in keys:
        key.real_name = names[key.user_id]
    CustomerSearchKey.objects.bulk_update(keys, ["real_name"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_user_email_upper_idx"),
        ("helpdesk", "0003_dashboard_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="customersearchkey",
            name="real_name",
            field=models.CharField(blank=True, max_length=60),
        ),
        migrations.RunPython(fill_real_names, migrations.RunPython.noop),
    ]
