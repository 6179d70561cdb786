from django.db import migrations

from okwallet.contact.defaults import ensure_default_contact

def seed(apps, schema_editor):
    ensure_default_contact(apps.get_model("contact", "ContactChannel"), apps.get_model("contact", "OfficialIdentity"))


class Migration(migrations.Migration):
    dependencies = [("contact", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
