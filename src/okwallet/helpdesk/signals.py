"""Keep helpdesk's 360 lookup key (last 4 phone digits + display name + verified real name) in
step with the customer and real-name rows."""

from django.conf import settings
from django.db.models.signals import post_delete, post_save


def _sync_search_key(sender, instance, raw=False, **kwargs):
    if raw or instance.is_staff:
        return
    from okwallet.helpdesk.models import CustomerSearchKey

    phone = instance.phone or ""
    CustomerSearchKey.objects.update_or_create(
        user=instance, defaults={"phone_last4": phone[-4:], "name": (instance.display_name or "")[:100]}
    )


def _sync_real_name(sender, instance, raw=False, **kwargs):
    if raw:
        return
    from okwallet.helpdesk.models import CustomerSearchKey

    CustomerSearchKey.objects.filter(user_id=instance.user_id).update(real_name=(instance.name or "")[:60])


def _clear_real_name(sender, instance, **kwargs):
    from okwallet.helpdesk.models import CustomerSearchKey

    CustomerSearchKey.objects.filter(user_id=instance.user_id).update(real_name="")


def connect() -> None:
    from okwallet.accounts.models import RealName

    post_save.connect(_sync_search_key, sender=settings.AUTH_USER_MODEL, dispatch_uid="helpdesk_search_key")
    post_save.connect(_sync_real_name, sender=RealName, dispatch_uid="helpdesk_search_key_real_name")
    post_delete.connect(_clear_real_name, sender=RealName, dispatch_uid="helpdesk_search_key_real_name_gone")
