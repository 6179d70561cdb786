from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _register_caller_ids(sender, **kwargs):
    from okwallet.voice.services import outbound_caller_ids_register

    outbound_caller_ids_register()


class VoiceConfig(AppConfig):
    name = "okwallet.voice"
    label = "voice"
    verbose_name = "Hotline"

    def ready(self):
        # The official-number verifier (antifraud) reads contact.OfficialIdentity: the numbers our
        # callbacks come from are registered there after every migrate.
        post_migrate.connect(_register_caller_ids, sender=self, dispatch_uid="voice-caller-ids")
