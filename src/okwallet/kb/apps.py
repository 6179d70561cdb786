from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _refresh_articles(sender, using="default", **kwargs):
    """After every ``migrate`` (and test-database flush) the shipped articles are current: new or
    changed files are loaded, untouched rows are left alone (idempotent, a few milliseconds)."""
    from django.db import connections

    from okwallet.kb.loader import load_articles
    from okwallet.kb.models import Article

    tables = connections[using].introspection.table_names()
    if Article._meta.db_table in tables:
        load_articles()


class KbConfig(AppConfig):
    name = "okwallet.kb"
    label = "kb"
    verbose_name = "Help centre"

    def ready(self):
        from okwallet.kb import signals  # noqa: F401

        post_migrate.connect(_refresh_articles, sender=self, dispatch_uid="kb-refresh-articles")
        _warm_up_in_servers()


def _warm_up_in_servers() -> None:
    """In a web server process, load jieba's dictionary, OpenCC and pypinyin and build the help
    centre's search indexes in the background at start, so the first customer's search (or the chat
    bot's first answer) does not wait for them; ``/readyz`` says ``warming`` until it is done."""
    import os
    import sys

    if os.environ.get("OKWALLET_KB_WARMUP", "1") != "1":
        return
    argv = " ".join(sys.argv[:2])
    if not any(name in argv for name in ("uvicorn", "daphne", "gunicorn", "runserver")):
        return

    def warm():
        from django.conf import settings
        from django.db import close_old_connections, connection

        from okwallet.helpdesk.search import warm as warm_ticket_search
        from okwallet.kb.search.text import warm_up
        from okwallet.kb.selectors import search_index

        warm_up()
        warm_ticket_search()
        close_old_connections()
        try:
            for code, _name in settings.LANGUAGES:
                search_index(code)
        finally:
            connection.close()  # this thread's own connection (back to the pool on PostgreSQL)

    from okwallet.core import readiness

    readiness.in_background("kb-search", warm)
