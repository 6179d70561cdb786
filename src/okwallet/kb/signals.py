from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from okwallet.kb.models import Article, Category


@receiver(post_save, sender=Article)
@receiver(post_delete, sender=Article)
@receiver(post_save, sender=Category)
def _article_changed(sender, **kwargs):
    from okwallet.kb.services import index_version_bump

    index_version_bump()


@receiver(m2m_changed, sender=Article.related.through)
def _related_changed(sender, **kwargs):
    from okwallet.kb.services import index_version_bump

    index_version_bump()
