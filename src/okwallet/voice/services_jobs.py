"""Background repairs, each a thin loop over a service."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from okwallet.core.timeutil import now_utc
from okwallet.voice import services
from okwallet.voice.models import Call, Voicemail


def voicemail_tickets_retry(*, limit: int = 200) -> int:
    """Voicemails left while helpdesk could not take tickets get their ticket now."""
    done = 0
    for voicemail in Voicemail.objects.filter(ticket_number="").select_related("call")[:limit]:
        with transaction.atomic():
            if services.voicemail_ticket_ensure(voicemail=voicemail):
                done += 1
    return done


def calls_close_stale(*, older_than: timedelta = timedelta(hours=4)) -> int:
    """A call still 'live' hours later lost its hang-up webhook: end it so the figures stay true."""
    cutoff = now_utc() - older_than
    closed = 0
    for pk in (
        Call.objects.exclude(status=Call.Status.ENDED)
        .filter(started_at__lt=cutoff)
        .values_list("pk", flat=True)[:500]
    ):
        with transaction.atomic():
            call = Call.objects.select_for_update().get(pk=pk)
            if services.call_mark_ended(call=call):
                call.save()
                closed += 1
    return closed
