from django.db import migrations


def load(apps, schema_editor):
    from okwallet.kb.loader import load_articles

    load_articles(
        article_model=apps.get_model("kb", "Article"),
        category_model=apps.get_model("kb", "Category"),
        index_model=apps.get_model("kb", "IndexVersion"),
    )


class Migration(migrations.Migration):
    dependencies = [("kb", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
