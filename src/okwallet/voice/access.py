"""Permission checks for hotline objects, in one place."""

from __future__ import annotations

from okwallet.accounts.roles import is_staff_member
from okwallet.core.errors import NotFound, PermissionDenied
from okwallet.voice.models import Call


def access_call(actor, call_id: int, *, for_update: bool = False) -> Call:
    """Staff with a console role may open any call; nobody else may open one."""
    if not is_staff_member(actor):
        raise PermissionDenied()
    qs = Call.objects.select_related("customer", "agent")
    if for_update:
        qs = qs.select_for_update(of=("self",))  # customer and agent are outer joins: lock the call only
    call = qs.filter(pk=call_id).first()
    if call is None:
        raise NotFound("call_not_found")
    return call
