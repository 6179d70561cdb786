from django import template
from django.utils.translation import gettext_lazy as _

from okwallet.accounts.phone import mask_phone

register = template.Library()

SECRET_NODES = {"freeze_id_last4"}


@register.filter
def mask_number(number: str | None) -> str:
    """Caller numbers in the console are masked (138****0001); PBX extensions are shown as they are."""
    if not number:
        return "—"
    if number.startswith("client:") or len(number) < 7:
        return number
    return mask_phone(number)


@register.filter
def mask_digits(digits: str, node: str = "") -> str:
    """Identity digits keyed for verification are never shown back to staff."""
    if node in SECRET_NODES:
        return "•" * len(digits or "")
    return digits


NODE_LABELS = {
    "main_menu": _("Main menu"),
    "claim_user_id": _("User ID (not verified)"),
    "deposit_ref": _("Transaction reference"),
    "security_menu": _("Security menu"),
    "freeze_confirm": _("Freeze confirmation"),
    "freeze_user_id": _("User ID"),
    "freeze_id_last4": _("ID number, last 4"),
    "after_freeze": _("After freezing"),
    "closed_menu": _("After-hours menu"),
    "queue_wait": _("While waiting"),
    "pbx": _("PBX menu"),
}
STEP_LABELS = {
    "greeting": _("Greeting"),
    "closed": _("Outside hours"),
    "priority": _("Priority (60+)"),
    "english": _("English"),
    "menu:1": _("1 Deposits and withdrawals"),
    "menu:2": _("2 Password and security"),
    "menu:3": _("3 Complaints"),
    "menu:4": _("4 Account closure"),
    "reference": _("Keyed a reference"),
    "claimed_user_id": _("Keyed a user ID"),
    "security:freeze": _("Freeze account"),
    "security:person": _("Security agent"),
    "verified": _("Identity verified"),
    "verify_failed": _("Verification failed"),
    "frozen": _("Account frozen"),
    "closed:voicemail": _("Voicemail"),
    "closed:callback": _("Callback"),
    "closed:freeze": _("Freeze account"),
    "voicemail": _("Voicemail left"),
    "callback": _("Callback booked"),
    "callback_leg": _("Callback we are making"),
    "answered": _("Answered"),
    "ended": _("Ended"),
}


@register.filter
def node_label(node: str) -> str:
    return str(NODE_LABELS.get(node, node))


@register.filter
def ivr_step(step: str) -> str:
    """A readable label for one step of the IVR path (the raw code stays in the data)."""
    if step in STEP_LABELS:
        return str(STEP_LABELS[step])
    if step.startswith("queue:"):
        from okwallet.voice.services import QUEUE_LABELS

        return str(_("Queue: %(queue)s") % {"queue": QUEUE_LABELS.get(step[6:], step[6:])})
    if step.endswith(":0"):
        return str(_("0 for a person (%(where)s)") % {"where": node_label(step[:-2])})
    if ":said:" in step:
        where, _sep, key = step.partition(":said:")
        return str(_("Said %(key)s (%(where)s)") % {"key": key, "where": node_label(where)})
    if step.endswith(":fallback"):
        return str(_("No valid key twice (%(where)s)") % {"where": node_label(step[: -len(":fallback")])})
    return step


@register.filter
def ivr_path(steps) -> str:
    return " › ".join(ivr_step(step) for step in steps or [])


EVENT_LABELS = {
    "ringing": _("Call came in"),
    "queued": _("Joined the queue"),
    "answered": _("Answered"),
    "ended": _("Ended"),
    "frozen": _("Account frozen"),
    "callback_requested": _("Callback requested"),
    "callback_dialling": _("Dialling the callback"),
    "voicemail": _("Voicemail left"),
    "stale_input": _("Late input ignored"),
    "ignored": _("Out-of-order event ignored"),
}


@register.filter
def event_label(kind: str) -> str:
    if kind.startswith("status:"):
        return str(_("Provider status: %(status)s") % {"status": kind[7:]})
    return str(EVENT_LABELS.get(kind, kind))


@register.filter
def queue_label(code: str) -> str:
    from okwallet.voice.services import QUEUE_LABELS

    return str(QUEUE_LABELS.get(code, code))
