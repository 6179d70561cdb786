"""Twilio webhooks (signed, CSRF-exempt: the signature is the authentication) and console pages."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from okwallet.console.access import staff_required
from okwallet.core.errors import NotFound, OkError
from okwallet.core.paging import CappedPaginator
from okwallet.voice import integrations, selectors, services, services_callbacks, webhooks
from okwallet.voice import twilio as adapter
from okwallet.voice.access import access_call
from okwallet.voice.models import AgentLine, Call, CallbackRequest


def webhook(view):
    """POST only, and never inside a request-wide transaction (even with ATOMIC_REQUESTS): the raw
    row must be committed on its own before processing starts (voice/webhooks.py)."""
    return transaction.non_atomic_requests(require_http_methods(["POST"])(view))


def _sid(params: dict) -> str:
    return params.get("CallSid", "")


@csrf_exempt
@webhook
def twilio_incoming(request):
    return webhooks.handle(
        request,
        kind="incoming",
        dedupe=lambda p: f"{_sid(p)}:incoming",
        process=webhooks.process_incoming,
    )


@csrf_exempt
@webhook
def twilio_gather(request):
    node = request.GET.get("node", "")[:30]
    seq = request.GET.get("seq", "")[:10]
    timeout = "t" if request.GET.get("timeout") else ""
    return webhooks.handle(
        request,
        kind="gather",
        dedupe=lambda p: f"{_sid(p)}:gather:{node}:{seq}{timeout}",
        process=lambda sid, p: webhooks.process_gather(sid, p, node=node, seq=seq),
    )


@csrf_exempt
@webhook
def twilio_wait(request):
    return webhooks.handle(
        request,
        kind="wait",
        dedupe=lambda p: f"{_sid(p)}:wait:{p.get('QueueTime', '')}",
        process=webhooks.process_wait,
    )


@csrf_exempt
@webhook
def twilio_queue_exit(request):
    return webhooks.handle(
        request,
        kind="queue_exit",
        dedupe=lambda p: f"{_sid(p)}:queue_exit:{p.get('QueueResult', '')}",
        process=webhooks.process_queue_exit,
    )


@csrf_exempt
@webhook
def twilio_bridge(request):
    agent = request.GET.get("agent", "")[:12]
    return webhooks.handle(
        request,
        kind="bridge",
        dedupe=lambda p: f"{_sid(p)}:bridge:{p.get('DequeingCallSid', '')}",
        process=lambda sid, p: webhooks.process_bridge(sid, p, agent_id=agent),
    )


@csrf_exempt
@webhook
def twilio_recorded(request):
    return webhooks.handle(
        request,
        kind="recording",
        dedupe=lambda p: f"{_sid(p)}:recording:{p.get('RecordingSid', '')}",
        process=webhooks.process_recorded,
    )


@csrf_exempt
@webhook
def twilio_status(request):
    return webhooks.handle(
        request,
        kind="status",
        dedupe=lambda p: f"{_sid(p)}:status:{p.get('CallStatus', '')}:{p.get('SequenceNumber', '')}",
        process=webhooks.process_status,
    )


@csrf_exempt
@webhook
def twilio_callback_connect(request):
    """The customer answered a callback leg the dialler placed (``?leg=`` is in the signed URL)."""
    leg = request.GET.get("leg", "")[:12]
    return webhooks.handle(
        request,
        kind="cb_connect",
        dedupe=lambda p: f"{_sid(p)}:cb_connect:{leg}",
        process=lambda sid, p: webhooks.process_callback_connect(sid, p, leg=leg),
    )


@csrf_exempt
@webhook
def twilio_callback_result(request):
    leg = request.GET.get("leg", "")[:12]
    return webhooks.handle(
        request,
        kind="cb_result",
        dedupe=lambda p: (
            f"{_sid(p)}:cb_result:{leg}:{p.get('DialCallSid', '')}:{p.get('DialCallStatus', '')}"
        ),
        process=lambda sid, p: webhooks.process_callback_result(sid, p, leg=leg),
    )


@csrf_exempt
@webhook
def twilio_callback_status(request):
    leg = request.GET.get("leg", "")[:12]
    return webhooks.handle(
        request,
        kind="cb_status",
        dedupe=lambda p: f"{_sid(p)}:cb_status:{leg}:{p.get('CallStatus', '')}:{p.get('SequenceNumber', '')}",
        process=lambda sid, p: webhooks.process_callback_status(sid, p, leg=leg),
    )


@csrf_exempt
@webhook
def twilio_agent_dial(request):
    """An agent's softphone asks what to dial: the queue of the longest-waiting (priority first) call."""
    from okwallet.accounts.models import User
    from okwallet.accounts.roles import is_staff_member

    params = webhooks._params(request)
    if not adapter.signature_valid(request, params):
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    username = (params.get("From") or "").removeprefix("client:")
    agent = User.objects.filter(username=username).first()
    if agent is None or not is_staff_member(agent):
        return HttpResponse("unknown agent", status=404, content_type="text/plain")
    nxt = selectors.waiting_calls().first()
    queue = "person" if nxt is None else (f"{nxt.queue}-priority" if nxt.priority else nxt.queue)
    return HttpResponse(adapter.render_agent_dial(queue=queue, agent_id=agent.pk), content_type="text/xml")


# --- console -------------------------------------------------------------------------------
@staff_required
def console_calls(request):
    q = request.GET.get("q", "")[:60]
    status = request.GET.get("status", "")
    if status not in Call.Status.values:
        status = ""
    mine = request.GET.get("mine") == "1"
    calls = selectors.call_search(q=q, status=status, agent=request.user if mine else None)
    page = CappedPaginator(calls, 25).get_page(request.GET.get("page"))
    line = AgentLine.objects.filter(agent=request.user).first()
    context = {
        "page": page,
        "q": q,
        "status": status,
        "mine": mine,
        "statuses": Call.Status.choices,
        "line": line,
        "waiting": _waiting_rows(),
        "callbacks": selectors.callbacks_open()[:10],
        "current": line.current_call if line and line.current_call_id else None,
    }
    return render(request, "voice/calls.html", context)


def _waiting_rows() -> list[dict]:
    rows = []
    for call in selectors.waiting_calls().select_related("customer")[:50]:
        rows.append({"call": call, "label": services.QUEUE_LABELS.get(call.queue, call.queue)})
    return rows


@staff_required
def console_waiting(request):
    """htmx fragment: calls waiting, refreshed every few seconds."""
    return render(request, "voice/_waiting.html", {"waiting": _waiting_rows()})


@staff_required
def console_call(request, call_id: int):
    call = access_call(request.user, call_id)
    context = {
        "call": call,
        "events": call.events.all()[:200],
        "c360": integrations.customer_360_html(call.customer, viewer=request.user, request=request),
        "history": [h for h in selectors.calls_for_customer(call.customer, limit=11) if h.pk != call.pk][:10]
        if call.customer_id
        else [],
        "voicemails": call.voicemails.all(),
        "queue_label": services.QUEUE_LABELS.get(call.queue, ""),
    }
    return render(request, "voice/call.html", context)


@staff_required
def console_screen_pop(request, call_id: int):
    call = access_call(request.user, call_id)
    return render(request, "voice/_screen_pop.html", screen_pop_context(call, viewer=request.user))


def screen_pop_context(call: Call, *, viewer) -> dict:
    return {
        "call": call,
        "c360": integrations.customer_360_html(call.customer, viewer=viewer),
        "queue_label": services.QUEUE_LABELS.get(call.queue, ""),
    }


def _ok_or_message(request, func, success: str):
    try:
        func()
    except OkError as exc:
        messages.error(request, str(exc.message))
        return False
    messages.success(request, success)
    return True


@staff_required
@require_POST
def console_call_take(request, call_id: int):
    call = access_call(request.user, call_id)
    _ok_or_message(
        request,
        lambda: services.call_take(call_id=call.pk, agent=request.user, request=request),
        _("Call answered."),
    )
    return redirect("voice:call", call_id=call.pk)


@staff_required
@require_POST
def console_call_hangup(request, call_id: int):
    call = access_call(request.user, call_id)
    _ok_or_message(
        request,
        lambda: services.call_hangup(call_id=call.pk, agent=request.user, request=request),
        _("Call ended."),
    )
    return redirect("voice:call", call_id=call.pk)


@staff_required
@require_POST
def console_call_wrapup(request, call_id: int):
    call = access_call(request.user, call_id)
    ok = _ok_or_message(
        request,
        lambda: services.call_wrapup(
            call_id=call.pk,
            actor=request.user,
            notes=request.POST.get("notes", ""),
            agreed=request.POST.get("agreed", ""),
            next_step=request.POST.get("next_step", ""),
            summary_channel=request.POST.get("summary", "sms"),
            request=request,
        ),
        _("Wrap-up saved."),
    )
    if not ok:
        return redirect("voice:call", call_id=call.pk)
    return redirect("voice:call", call_id=call.pk)


@staff_required
@require_POST
def console_ready(request):
    ready = request.POST.get("ready") == "1"
    services.agent_line_set(agent=request.user, ready=ready, request=request)
    messages.success(request, _("You are ready for calls.") if ready else _("You are paused."))
    return redirect("voice:calls")


@staff_required
def console_callbacks(request):
    show = request.GET.get("show", "open")
    qs = (
        selectors.callbacks_open()
        if show == "open"
        else CallbackRequest.objects.select_related("customer", "assigned_to")
    )
    page = CappedPaginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request, "voice/callbacks.html", {"page": page, "show": show, "statuses": CallbackRequest.Status}
    )


def _callback_or_404(request, callback_id: int):
    try:
        return services_callbacks.access_callback(request.user, callback_id)
    except NotFound:
        raise Http404 from None


@staff_required
@require_POST
def console_callback_outcome(request, callback_id: int):
    """The agent records how a callback went: done (with a note → ticket), no answer, not reached."""
    callback = _callback_or_404(request, callback_id)
    _ok_or_message(
        request,
        lambda: services_callbacks.callback_outcome_record(
            callback_id=callback.pk,
            actor=request.user,
            outcome=request.POST.get("outcome", ""),
            note=request.POST.get("note", "")[:2000],
            request=request,
        ),
        _("Callback outcome saved."),
    )
    return redirect("voice:callbacks")


@staff_required
@require_POST
def console_callback_update(request, callback_id: int):
    """Staff put a callback back in the queue (dial now) or cancel it."""
    _callback_or_404(request, callback_id)
    _ok_or_message(
        request,
        lambda: services_callbacks.callback_update(
            callback_id=callback_id,
            actor=request.user,
            status=request.POST.get("status", ""),
            note=request.POST.get("note", "")[:1000],
            request=request,
        ),
        _("Callback updated."),
    )
    return redirect("voice:callbacks")


@staff_required
def console_voicemails(request):
    page = Paginator(selectors.voicemails_recent(500), 25).get_page(request.GET.get("page"))
    return render(request, "voice/voicemails.html", {"page": page})
