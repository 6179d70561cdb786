from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load or refresh the shipped help-centre articles (idempotent)."

    def handle(self, *args, **options):
        from okwallet.kb.loader import load_articles

        load_articles(stdout=self.stdout)
