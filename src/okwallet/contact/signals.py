from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from okwallet.contact.models import ContactChannel
from okwallet.contact.selectors import contact_cache_clear


@receiver([post_save, post_delete], sender=ContactChannel)
def _clear_contact_cache(**kwargs):
    contact_cache_clear()
