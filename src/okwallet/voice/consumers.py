"""The agent console's CTI socket: ringing / queued / answered / ended events with a screen-pop."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from okwallet.voice.events import AGENTS_GROUP


class CallEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if not await database_sync_to_async(_is_staff)(user):
            await self.close(code=4403)
            return
        self.user = user
        await self.channel_layer.group_add(AGENTS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "user", None) is not None:
            await self.channel_layer.group_discard(AGENTS_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def voice_event(self, message):
        payload = await database_sync_to_async(_render)(message, self.user)
        if payload is not None:
            await self.send_json(payload)


def _is_staff(user) -> bool:
    from okwallet.accounts.roles import is_staff_member

    return user is not None and is_staff_member(user)


def _render(message: dict, viewer) -> dict | None:
    from django.template.loader import render_to_string
    from django.utils import translation

    from okwallet.voice.models import Call
    from okwallet.voice.views import screen_pop_context

    call = Call.objects.select_related("customer", "agent").filter(pk=message["call_id"]).first()
    if call is None:
        return None
    event = message["event"]
    mine = call.agent_id == viewer.pk
    # Once someone answered, only that agent keeps the full pop; the others just clear it.
    if event == "answered" and not mine:
        event = "ended"
    with translation.override(getattr(viewer, "preferred_language", None) or "zh-hans"):
        html = (
            ""
            if event == "ended"
            else render_to_string("voice/_screen_pop.html", screen_pop_context(call, viewer=viewer))
        )
    return {
        "type": "call",
        "event": event,
        "mine": mine,
        "call": {
            "id": call.pk,
            "status": call.status,
            "queue": call.queue,
            "priority": call.priority,
            "customer_public_id": call.customer.public_id if call.customer_id else None,
            "ivr_path": call.ivr_path,
            "digits": [d for d in call.digits if d.get("node") != "freeze_id_last4"],
            "reference": call.reference,
        },
        "html": html,
    }
