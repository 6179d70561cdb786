from django.db import models
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    """The last time a background process proved it was alive (the job worker's periodic beat,
    or any process that calls ``okwallet.ops.services.heartbeat_record``)."""

    name = models.CharField(max_length=60, unique=True)
    at = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} @ {self.at:%Y-%m-%d %H:%M:%S}"
