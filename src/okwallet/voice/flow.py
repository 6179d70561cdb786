"""The provider-neutral call flow: one state machine per call.

greeting → hours check → caller identification → menu → queue | voicemail | callback | freeze.

The machine reads and changes a locked ``Call`` and answers with a list of neutral actions
(``Say``, ``Gather``, ``Enqueue``, ...); an adapter (``okwallet.voice.twilio``) turns them into
the provider's language. Rules that hold at every level:

- 0 (or saying 人工 / "agent") reaches the person queue from any menu at any time; menus also
  understand spoken answers in Mandarin and English (``okwallet.voice.speech``);
  outside hours it leads to the closed menu (voicemail, callback, freeze).
- An invalid key or no key repeats the prompt; the second failure routes to a person
  (outside hours: to voicemail).
- Callers aged 60 or over (matched by caller ID) skip the menu to a person, with priority.
- Freezing works 24/7; unfreezing is never offered on the phone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from okwallet.core import ratelimit
from okwallet.core.money import format_fen
from okwallet.core.timeutil import now_utc, to_local
from okwallet.voice import conf, integrations, prompts, services, speech
from okwallet.voice.models import Call

MAX_FAILURES = 2
MAX_VERIFY_FAILURES = 3


# --- actions ---------------------------------------------------------------------------
@dataclass
class Say:
    text: str
    lang: str = "zh"
    url: str = ""  # a configured recording replaces the text-to-speech


@dataclass
class Gather:
    node: str
    prompts: list = field(default_factory=list)
    num_digits: int | None = 1
    finish_on_key: str = ""
    timeout_s: int = 6
    speech: bool = True


@dataclass
class Enqueue:
    queue: str
    priority: bool = False


@dataclass
class Record:
    node: str
    max_seconds: int = 120


@dataclass
class Pause:
    seconds: int


@dataclass
class Hold:
    """Hold music (configured URL) or silence while waiting in the queue."""

    seconds: int = 20


@dataclass
class Hangup:
    pass


@dataclass
class ConnectAgent:
    """Bridge this (outbound callback) leg to the agent's softphone; the result goes to ``leg``'s URL."""

    agent: str
    leg: int
    timeout_s: int = 20


@dataclass
class Context:
    now: datetime
    is_open: bool
    next_open: datetime | None

    @classmethod
    def current(cls, at: datetime | None = None) -> Context:
        at = at or now_utc()
        override = conf.get("OKWALLET_VOICE_HOURS_OVERRIDE")
        if override == "open":
            return cls(now=at, is_open=True, next_open=None)
        status = integrations.hotline_status(at=at)
        if override == "closed":
            return cls(now=at, is_open=False, next_open=status.next_open if not status.is_open else None)
        return cls(now=at, is_open=status.is_open, next_open=status.next_open)


def _say(call: Call, key: str, **values) -> Say:
    lang = call.language
    url = "" if values else prompts.recording(key, lang)
    return Say(prompts.text(key, lang, **values), lang=lang, url=url)


def _reopen_text(call: Call, ctx: Context) -> str:
    if ctx.next_open is None:
        return ""
    local = to_local(ctx.next_open)
    if call.language == "en":
        return local.strftime("at %H:%M on %d %B").replace(" 0", " ")
    return f"{local.month}月{local.day}日{local.hour}点{'' if local.minute == 0 else f'{local.minute}分'}"


# --- menus -------------------------------------------------------------------------------
def _main_menu(call: Call, *, first: bool = False, lead: list | None = None) -> list:
    call.node = "main_menu"
    items = list(lead or [])
    if first and call.identified_by == "caller_id":
        items.append(_say(call, "recognised"))
    elif first and not call.customer_id:
        items.append(_say(call, "identify_hint"))
    if call.language == "zh":
        items.append(
            Say(prompts.text("english_hint", "zh"), lang="en", url=prompts.recording("english_hint", "zh"))
        )
    items.append(_say(call, "main_menu"))
    return [Gather("main_menu", items)]


def _closed_menu(call: Call, ctx: Context, *, lead: list | None = None, announce: bool = True) -> list:
    call.node = "closed_menu"
    items = list(lead or [])
    if announce:
        reopen = _reopen_text(call, ctx)
        items.append(_say(call, "closed", reopen=reopen) if reopen else _say(call, "closed_now"))
    items.append(_say(call, "closed_menu"))
    return [Gather("closed_menu", items)]


def _security_menu(call: Call, *, lead: list | None = None) -> list:
    call.node = "security_menu"
    return [Gather("security_menu", [*(lead or []), _say(call, "security_menu")])]


def _deposit_ref(call: Call, *, lead: list | None = None) -> list:
    call.node = "deposit_ref"
    return [
        Gather(
            "deposit_ref",
            [*(lead or []), _say(call, "deposit_ref")],
            num_digits=None,
            finish_on_key="#",
            timeout_s=10,
        )
    ]


def _person(call: Call, ctx: Context, *, lead: list | None = None, queue: str | None = None) -> list:
    """To a person: the topic's queue when chosen, else the general one; closed → closed menu."""
    if not ctx.is_open:
        return _closed_menu(call, ctx, lead=[*(lead or []), _say(call, "closed_no_person")])
    queue = queue or services.TOPIC_QUEUE.get(call.topic, "person")
    if call.topic == "":
        call.topic = Call.Topic.PERSON
    return _enqueue(call, ctx, queue, lead=[*(lead or []), _say(call, "to_person")])


def _enqueue(call: Call, ctx: Context, queue: str, *, lead: list | None = None) -> list:
    services.call_enqueue(call=call, queue=queue, at=ctx.now)
    call.node = "queue"
    return [*(lead or []), Enqueue(queue, priority=call.priority)]


def _voicemail(call: Call, *, lead: list | None = None) -> list:
    call.node = "voicemail"
    return [*(lead or []), _say(call, "voicemail_prompt"), Record("voicemail")]


def _callback(call: Call, ctx: Context) -> list:
    callback = services.callback_request_create(call=call, at=ctx.now)
    if callback is None:
        return [_say(call, "callback_no_number"), *_voicemail(call)]
    call.node = "done"
    when = _reopen_text(call, ctx) if callback.not_before else ("now" if call.language == "en" else "稍后")
    return [_say(call, "callback_done", when=when), Hangup()]


def _fail(call: Call, ctx: Context, node: str, *, no_input: bool) -> list:
    """Repeat the prompt once, then route to a person (outside hours: voicemail)."""
    call.retries += 1
    lead = [_say(call, "no_input" if no_input else "invalid")]
    if call.retries >= MAX_FAILURES:
        call.retries = 0
        services.call_path_add(call=call, step=f"{node}:fallback")
        if not ctx.is_open and node in ("closed_menu", "freeze_user_id", "freeze_id_last4", "freeze_confirm"):
            return _voicemail(call, lead=lead)
        return _person(call, ctx, lead=[*lead, _say(call, "too_many")])
    return render_node(call, ctx, node, lead=lead)


def render_node(call: Call, ctx: Context, node: str, *, lead: list | None = None) -> list:
    """The prompt for ``node`` again (repeat, stale request, invalid input)."""
    if node == "main_menu":
        return _main_menu(call, lead=lead)
    if node == "claim_user_id":
        return _main_menu(call, lead=lead)
    if node == "closed_menu":
        return _closed_menu(call, ctx, lead=lead, announce=False)
    if node == "security_menu":
        return _security_menu(call, lead=lead)
    if node == "deposit_ref":
        return _deposit_ref(call, lead=lead)
    if node == "freeze_confirm":
        return _freeze_start(call, ctx, lead=lead)
    if node == "freeze_user_id":
        call.node = "freeze_user_id"
        return [
            Gather(
                "freeze_user_id",
                [*(lead or []), _say(call, "ask_user_id")],
                num_digits=None,
                finish_on_key="#",
                timeout_s=10,
                speech=False,  # identity digits are keyed, never said aloud
            )
        ]
    if node == "freeze_id_last4":
        call.node = "freeze_id_last4"
        return [
            Gather(
                "freeze_id_last4",
                [*(lead or []), _say(call, "ask_id_last4")],
                num_digits=4,
                timeout_s=10,
                speech=False,
            )
        ]
    if node == "after_freeze":
        call.node = "after_freeze"
        return [Gather("after_freeze", [*(lead or []), _say(call, "after_freeze_open")])]
    if node == "queue":
        return on_wait(call, ctx)
    if node in ("done", "voicemail"):
        return [*(lead or []), _say(call, "goodbye"), Hangup()]
    return on_start(call, ctx) if not call.ivr_path else _main_menu(call, lead=lead)


# --- entry points ------------------------------------------------------------------------
def on_start(call: Call, ctx: Context) -> list:
    """The call arrives: greeting, anti-fraud warning, hours check, priority for 60+."""
    if call.is_ended:
        return [_say(call, "call_over"), Hangup()]
    if call.ivr_path:  # the provider asked again for a call we already greeted
        return render_node(call, ctx, call.node)
    services.call_path_add(call=call, step="greeting")
    lead = [_say(call, "greeting"), _say(call, "fraud_warning")]
    if integrations.is_security_line(call.to_number):
        # The 24/7 security line: straight to freezing, whatever the hotline's hours.
        services.call_path_add(call=call, step="security_line")
        call.topic = Call.Topic.SECURITY
        return _security_menu(call, lead=lead) if ctx.is_open else _freeze_start(call, ctx, lead=lead)
    if not ctx.is_open:
        services.call_path_add(call=call, step="closed")
        return _closed_menu(call, ctx, lead=lead)
    if call.priority:
        services.call_path_add(call=call, step="priority")
        call.topic = Call.Topic.PERSON
        return _enqueue(call, ctx, "person", lead=[*lead, _say(call, "priority_person")])
    return _main_menu(call, first=True, lead=lead)


def _wants_person(digits: str) -> bool:
    return digits == "0"


def _spoken(call: Call, node: str, said: str) -> str:
    """The key a spoken answer stands for; unrecognised speech is an invalid key ('?'), except
    where the menu asks for a number (then it is no number at all)."""
    key = speech.key_for(node, said)
    if key is not None:
        services.call_path_add(call=call, step=f"{node}:said:{key}"[:60])
        return key
    return "" if node in speech.SPOKEN_NUMBER_NODES or node not in speech.LISTENS else "?"


def on_input(call: Call, ctx: Context, node: str, *, digits: str = "", speech: str = "") -> list:
    """What the caller keyed (or said) at ``node``; empty digits and speech mean no input."""
    if call.is_ended:
        return [_say(call, "call_over"), Hangup()]
    digits = "".join(ch for ch in (digits or "") if ch in "0123456789*#")[:40]
    said = (speech or "").strip()[:200]
    services.call_note_input(call=call, node=node, digits=digits, speech=said, at=ctx.now)
    if not digits and said:
        digits = _spoken(call, node, said)
    if node == "queue_wait":
        if digits == "1":
            return _callback(call, ctx)
        return on_wait(call, ctx, offer=False)
    if node != "deposit_ref" and _wants_person(digits.rstrip("#")):
        call.retries = 0
        services.call_path_add(call=call, step=f"{node}:0")
        return _person(call, ctx)
    handler = _HANDLERS.get(node)
    if handler is None:
        return render_node(call, ctx, call.node, lead=[_say(call, "sorry_restart")])
    return handler(call, ctx, digits)


def _main_menu_input(call: Call, ctx: Context, digits: str) -> list:
    if not digits:
        return _fail(call, ctx, "main_menu", no_input=True)
    key = digits[0]
    if key == "*":
        return _main_menu(call)
    if key == "9":
        call.language = "en"
        services.call_path_add(call=call, step="english")
        return _main_menu(call)
    if key == "8" and not call.customer_id:
        call.retries = 0
        call.node = "claim_user_id"
        return [
            Gather(
                "claim_user_id",
                [_say(call, "ask_claim_user_id")],
                num_digits=None,
                finish_on_key="#",
                timeout_s=10,
            )
        ]
    choice = {
        "1": Call.Topic.DEPOSIT,
        "2": Call.Topic.SECURITY,
        "3": Call.Topic.COMPLAINT,
        "4": Call.Topic.CLOSURE,
    }
    if key not in choice:
        return _fail(call, ctx, "main_menu", no_input=False)
    call.retries = 0
    call.topic = choice[key]
    services.call_path_add(call=call, step=f"menu:{key}")
    if key == "1":
        return _deposit_ref(call)
    if key == "2":
        return _security_menu(call)
    if key == "3":
        return _enqueue(call, ctx, "complaints", lead=[_say(call, "complaint_info")])
    return _enqueue(call, ctx, "account", lead=[_say(call, "closure_info")])


def _deposit_ref_input(call: Call, ctx: Context, digits: str) -> list:
    ref = digits.rstrip("#").replace("*", "")
    if ref == "0":
        return _person(call, ctx, queue="deposits")
    lead = []
    if ref:
        call.reference = ref[:64]
        services.call_path_add(call=call, step="reference")
        tx = integrations.transaction_by_reference(ref)
        owner_id = getattr(tx, "user_id", None) if tx is not None else None
        if tx is not None and call.customer_id is not None and owner_id == call.customer_id:
            kind = prompts.TX_KIND.get(getattr(tx, "kind", ""), {}).get(call.language, "")
            status = prompts.TX_STATUS.get(getattr(tx, "status", ""), {}).get(call.language, "")
            amount = format_fen(int(getattr(tx, "amount_fen", 0)), symbol="")
            lead.append(_say(call, "tx_found", kind=kind, amount=amount, status=status))
            call.data = {**call.data, "transaction": {"reference": ref, "status": getattr(tx, "status", "")}}
        else:
            lead.append(_say(call, "tx_noted"))
    return _person(call, ctx, lead=lead, queue="deposits")


def _claim_user_id_input(call: Call, ctx: Context, digits: str) -> list:
    """An unknown number keys a user ID: it travels with the call, marked as not verified.

    It is only a hint for the agent (who still verifies); the phone freeze asks for the ID
    digits whatever was claimed here.
    """
    public_id = digits.rstrip("#")
    if public_id.isdigit():
        user = integrations.customer_by_public_id(public_id)
        if user is not None:
            call.customer = user
            call.identified_by = "claimed_user_id"
        call.data = {**call.data, "claimed_user_id": public_id[:12]}
        services.call_path_add(call=call, step="claimed_user_id")
        return _main_menu(call, lead=[_say(call, "claim_noted")])
    return _main_menu(call)


def _security_menu_input(call: Call, ctx: Context, digits: str) -> list:
    if not digits:
        return _fail(call, ctx, "security_menu", no_input=True)
    key = digits[0]
    if key == "*":
        return _security_menu(call)
    if key == "1":
        call.retries = 0
        services.call_path_add(call=call, step="security:freeze")
        return _freeze_start(call, ctx)
    if key == "2":
        call.retries = 0
        services.call_path_add(call=call, step="security:person")
        return _person(call, ctx, queue="security")
    return _fail(call, ctx, "security_menu", no_input=False)


def _freeze_start(call: Call, ctx: Context, *, lead: list | None = None) -> list:
    call.topic = Call.Topic.SECURITY
    if call.customer_id and call.identified_by == "caller_id":
        call.node = "freeze_confirm"
        last4 = (call.customer.phone or "")[-4:]
        return [
            Gather("freeze_confirm", [*(lead or []), _say(call, "freeze_confirm", last4=" ".join(last4))])
        ]
    return render_node(call, ctx, "freeze_user_id", lead=lead)


def _freeze_confirm_input(call: Call, ctx: Context, digits: str) -> list:
    if digits[:1] == "1":
        return _do_freeze(call, ctx, call.customer)
    if digits[:1] == "*":
        return _closed_menu(call, ctx, announce=False) if not ctx.is_open else _security_menu(call)
    return _fail(call, ctx, "freeze_confirm", no_input=not digits)


def _freeze_user_id_input(call: Call, ctx: Context, digits: str) -> list:
    user_id = digits.rstrip("#")
    if not user_id or not user_id.isdigit():
        return _fail(call, ctx, "freeze_user_id", no_input=not digits)
    call.retries = 0
    # Never reveal whether the user ID exists: always ask for the ID digits next.
    call.data = {**call.data, "verify_user_id": user_id[:12]}
    return render_node(call, ctx, "freeze_id_last4")


def _verify_blocked(call: Call, user_id: str) -> bool:
    limit = conf.get("OKWALLET_VOICE_VERIFY_LIMIT")
    ok_user, _ = ratelimit.hit(f"voice:verify:user:{user_id}", limit=limit, window_seconds=3600)
    ok_line, _ = ratelimit.hit(
        f"voice:verify:line:{call.from_number or call.call_sid}", limit=limit, window_seconds=3600
    )
    return not (ok_user and ok_line)


def _freeze_id_last4_input(call: Call, ctx: Context, digits: str) -> list:
    if not digits:
        return _fail(call, ctx, "freeze_id_last4", no_input=True)
    entered = digits.replace("*", "X").rstrip("#")
    user_id = call.data.get("verify_user_id", "")
    if not user_id:
        return render_node(call, ctx, "freeze_user_id")
    blocked = _verify_blocked(call, user_id)
    user = (
        None
        if blocked or len(entered) != 4
        else integrations.caller_verify(public_id=user_id, id_last4=entered)
    )
    if user is not None:
        call.identified_by = "user_id"
        services.call_path_add(call=call, step="verified")
        return _do_freeze(call, ctx, user)
    failures = int(call.data.get("verify_failures", 0)) + 1
    call.data = {**call.data, "verify_failures": failures}
    services.call_path_add(call=call, step="verify_failed")
    if blocked or failures >= MAX_VERIFY_FAILURES:
        lead = [_say(call, "verify_locked")]
        if ctx.is_open:
            return _person(call, ctx, lead=lead, queue="security")
        return _closed_menu(call, ctx, lead=lead, announce=False)
    return render_node(call, ctx, "freeze_user_id", lead=[_say(call, "verify_failed")])


def _do_freeze(call: Call, ctx: Context, user) -> list:
    if user is None:
        return render_node(call, ctx, "freeze_user_id")
    frozen_now = services.call_freeze(call=call, user=user, at=ctx.now)
    lead = [_say(call, "frozen_done" if frozen_now else "frozen_already")]
    if ctx.is_open:
        return render_node(call, ctx, "after_freeze", lead=lead)
    call.node = "done"
    return [*lead, _say(call, "goodbye"), Hangup()]


def _after_freeze_input(call: Call, ctx: Context, digits: str) -> list:
    call.node = "done"
    return [_say(call, "goodbye"), Hangup()]


def _closed_menu_input(call: Call, ctx: Context, digits: str) -> list:
    if not digits:
        return _fail(call, ctx, "closed_menu", no_input=True)
    key = digits[0]
    if key == "*":
        return _closed_menu(call, ctx, announce=True)
    if key == "1":
        call.retries = 0
        services.call_path_add(call=call, step="closed:voicemail")
        return _voicemail(call)
    if key == "2":
        call.retries = 0
        services.call_path_add(call=call, step="closed:callback")
        return _callback(call, ctx)
    if key == "3":
        call.retries = 0
        services.call_path_add(call=call, step="closed:freeze")
        return _freeze_start(call, ctx)
    return _fail(call, ctx, "closed_menu", no_input=False)


_HANDLERS = {
    "main_menu": _main_menu_input,
    "claim_user_id": _claim_user_id_input,
    "deposit_ref": _deposit_ref_input,
    "security_menu": _security_menu_input,
    "freeze_confirm": _freeze_confirm_input,
    "freeze_user_id": _freeze_user_id_input,
    "freeze_id_last4": _freeze_id_last4_input,
    "after_freeze": _after_freeze_input,
    "closed_menu": _closed_menu_input,
}


def on_wait(call: Call, ctx: Context, *, offer: bool = True) -> list:
    """While queued: position and estimated wait; above the threshold, offer a callback."""
    if call.is_ended:
        return [Hangup()]
    if call.status != Call.Status.QUEUED:
        return [Hold(5)]
    from okwallet.voice.selectors import queue_estimate

    estimate = queue_estimate(call, now=ctx.now)
    items = []
    if not math.isfinite(estimate.wait_s):
        items.append(_say(call, "position_unknown"))
    elif estimate.ahead == 0:
        items.append(_say(call, "position_next"))
    else:
        items.append(_say(call, "position", ahead=estimate.ahead, minutes=estimate.wait_minutes))
    call.data = {
        **call.data,
        "last_estimate_s": None if not math.isfinite(estimate.wait_s) else round(estimate.wait_s),
    }
    threshold = conf.get("OKWALLET_VOICE_CALLBACK_OFFER_SECONDS")
    if offer and call.from_number and estimate.wait_s > threshold:
        return [Gather("queue_wait", [*items, _say(call, "offer_callback")], timeout_s=5)]
    return [*items, _say(call, "hold"), Hold(20)]


def on_queue_exit(call: Call, ctx: Context, result: str) -> list:
    """The provider reports the caller left the queue (bridged, hung up, left, error)."""
    if result in ("hangup", "bridged") or call.is_ended:
        return [Hangup()]
    if result == "leave":
        return [_say(call, "goodbye"), Hangup()]
    services.call_path_add(call=call, step=f"queue_error:{result}")
    return _voicemail(call, lead=[_say(call, "sorry_restart")])


def on_recorded(call: Call, ctx: Context, *, recording_sid: str, recording_url: str, duration_s: int) -> list:
    if not recording_sid or not recording_url or duration_s <= 0:
        call.node = "done"
        return [_say(call, "voicemail_empty"), _say(call, "goodbye"), Hangup()]
    voicemail = services.voicemail_store(
        call=call, recording_sid=recording_sid, recording_url=recording_url, duration_s=duration_s, at=ctx.now
    )
    call.node = "done"
    if voicemail.ticket_number:
        return [_say(call, "voicemail_thanks", ticket=" ".join(voicemail.ticket_number)), Hangup()]
    return [_say(call, "voicemail_thanks_noticket"), Hangup()]


# --- callbacks (outbound legs) ---------------------------------------------------------------
def callback_connect(call: Call, *, agent: str, leg: int, timeout_s: int = 20) -> list:
    """The customer answered our callback: who we are, the usual warning, then the agent."""
    return [_say(call, "callback_intro"), _say(call, "fraud_warning"), ConnectAgent(agent, leg, timeout_s)]


def callback_over(call: Call) -> list:
    return [_say(call, "callback_over"), Hangup()]


def callback_agent_missed(call: Call) -> list:
    return [_say(call, "callback_agent_missed"), Hangup()]
