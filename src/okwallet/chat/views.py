"""Pages: the embeddable chat page, attachments, and the agent / supervisor console."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.http import FileResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from okwallet.accounts.roles import is_staff_member
from okwallet.chat import assignment, integrations, selectors
from okwallet.chat import services as svc
from okwallet.chat.errors import AttachmentRejected, ChatForbidden, ChatNotFound
from okwallet.chat.models import Attachment, CannedReply, Conversation, Message, Topic
from okwallet.chat.services import SIGNER_SALT
from okwallet.console.access import staff_required
from okwallet.core.errors import OkError, PermissionDenied


def mask_phone(phone: str) -> str:
    if not phone or len(phone) < 7:
        return phone or ""
    return phone[:-8] + "****" + phone[-4:] if len(phone) >= 11 else phone[:3] + "****"


def customer_label(conv: Conversation) -> str:
    if conv.customer_id is None:
        return _("Visitor (not logged in)") + (f" · {conv.visitor_name}" if conv.visitor_name else "")
    c = conv.customer
    return f"{c.display_name or _('Customer')} · {mask_phone(c.phone)}"


# --- customer side --------------------------------------------------------------------


def chat_page(request):
    """The full-screen chat for the mobile app's web view and for links from the help centre."""
    return render(request, "chat/page.html", {})


def _bearer_user(request):
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    from okwallet.api.auth import token_auth

    return token_auth.authenticate(request, header[7:].strip())


@require_POST
def attachment_upload(request, public_id: str):
    """A customer's or the chat agent's file (same limits and storage for both). The widget and
    the console post it with fetch and get JSON; the console's plain form (no JavaScript) is
    sent back to the chat page."""
    user = request.user if request.user.is_authenticated else _bearer_user(request)
    page = user is not None and is_staff_member(user) and "text/html" in request.headers.get("Accept", "")
    try:
        conv = selectors.access_conversation(
            public_id=public_id, user=user, visitor_key=request.headers.get("X-Chat-Visitor", "")
        )
        upload = request.FILES.get("file")
        if upload is None:
            raise OkError("attachment_missing", _("Choose a file to send."), http_status=422)
        max_bytes = int(selectors.conf("OKWALLET_CHAT_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024))
        if upload.size > max_bytes:
            raise AttachmentRejected(details={"max_bytes": max_bytes, "size": upload.size})
        content = upload.read()
        staff = user is not None and is_staff_member(user)
        msg = svc.attachment_add(
            conversation_id=conv.pk,
            sender="agent" if staff else "customer",
            author=user,
            name=upload.name,
            content=content,
            caption=request.POST.get("caption", ""),
        )
    except OkError as exc:
        if page:
            messages.error(request, exc.message)
            return redirect(reverse("chat:console_chat", args=[public_id]))
        return JsonResponse(exc.as_dict(), status=exc.http_status)
    if page:
        return redirect(reverse("chat:console_chat", args=[public_id]))
    return JsonResponse({"seq": msg.seq}, status=201)


def attachment_download(request, pk: int):
    """Signed links (valid a week): the widget cannot add headers to a plain link. An account's
    attachment also needs that account's session (or staff)."""
    try:
        value = signing.TimestampSigner(salt=SIGNER_SALT).unsign(request.GET.get("t", ""), max_age=7 * 86400)
    except signing.BadSignature as exc:
        raise ChatNotFound() from exc
    if value != str(pk):
        raise ChatNotFound()
    att = Attachment.objects.select_related("conversation").filter(pk=pk).first()
    if att is None:
        raise ChatNotFound()
    owner = att.conversation.customer_id
    if owner is not None and not (
        request.user.is_authenticated and (request.user.pk == owner or is_staff_member(request.user))
    ):
        raise ChatNotFound()
    response = FileResponse(att.file.open("rb"), content_type=att.content_type)
    # RFC 6266 ``filename*=`` for Chinese names (a raw header would be MIME-encoded whole, which
    # browsers do not read as a disposition)
    response["Content-Disposition"] = content_disposition_header(
        not att.content_type.startswith("image/"), att.name
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- console --------------------------------------------------------------------------


def _back(request, conv=None):
    if conv is not None:
        return redirect(reverse("chat:console_chat", args=[conv.public_id]))
    return redirect(reverse("chat:console"))


@staff_required
def console_index(request):
    overview = selectors.live_overview()
    mine = (
        Conversation.objects.filter(status=Conversation.Status.ACTIVE, agent=request.user)
        .select_related("customer")
        .order_by("accepted_at")
    )
    context = {
        "overview": overview,
        "mine": mine,
        "load": selectors.agent_load(request.user),
        "capacity": selectors.agent_capacity(request.user),
        "is_supervisor": selectors.is_supervisor(request.user),
        "label": customer_label,
        **_availability(request.user),
    }
    return render(request, "chat/console/index.html", context)


def _availability(user) -> dict:
    auto = selectors.agent_auto_accept(user)
    statuses = integrations.presence_statuses([user.pk])
    presence = "online" if statuses is None else statuses.get(user.pk, "offline")
    return {"auto_accept": auto, "presence_paused": auto and presence != "online"}


@require_POST
@staff_required
def console_availability(request):
    """The agent's "take chats automatically" switch (Zendesk/Zammad-style available / away)."""
    on = request.POST.get("auto_accept", "") == "1"
    try:
        assignment.agent_availability_set(agent=request.user, auto_accept=on, request=request)
    except OkError as exc:
        messages.error(request, exc.message)
        return _back(request)
    if on:
        messages.info(
            request, _("You are available: waiting chats of your queues come to you automatically.")
        )
    else:
        messages.info(request, _("Automatic chats are off. You can still accept chats yourself."))
    return _back(request)


@staff_required
def console_queue_partial(request):
    return render(
        request,
        "chat/console/_queue.html",
        {"overview": selectors.live_overview(), "label": customer_label},
    )


@staff_required
def console_chat(request, public_id: str):
    conv = selectors.access_conversation(public_id=public_id, user=request.user)
    msgs = selectors.messages_after(conv, 0, for_staff=True, limit=1000)
    for m in msgs:
        att = getattr(m, "attachment", None) if m.data.get("kind") == "attachment" else None
        m.attachment_link = svc.attachment_url(att) if att is not None else ""
    c360 = integrations.customer_360_context(conv.customer, viewer=request.user) if conv.customer_id else None
    if not CannedReply.objects.exists():
        svc.canned_replies_ensure()
    canned = CannedReply.objects.filter(lang=conv.lang) | CannedReply.objects.filter(topic=conv.topic)
    from django.contrib.auth import get_user_model

    colleagues = (
        get_user_model()
        .objects.filter(
            is_staff=True, is_active=True, groups__name__in=["agent", "supervisor", "senior_manager"]
        )
        .exclude(pk=request.user.pk)
        .distinct()
        .order_by("display_name")[:100]
    )
    context = {
        "conv": conv,
        "msgs": msgs,
        "c360": c360,
        "canned": canned.distinct()[:50],
        "topics": Topic.choices,
        "colleagues": colleagues,
        "label": customer_label(conv),
        "strings": {
            "customer_typing": _("The customer is typing…"),
            "read": _("Read by the customer"),
            "internal": _("Internal note"),
            "reconnecting": _("Reconnecting…"),
            "upload_failed": _("The file could not be sent."),
            "assigned": _("A new chat has been given to you: open it"),
            # live messages are labelled and timed like the server-rendered ones
            "senders": {value: str(label) for value, label in Message.Sender.choices},
            "time_zone": settings.TIME_ZONE,
        },
        "mine": conv.agent_id == request.user.pk,
        "accept_types": ",".join(sorted(set(svc.ALLOWED_TYPES.values()) | {"image/webp"})),
        "max_upload_mb": int(selectors.conf("OKWALLET_CHAT_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024))
        // (1024 * 1024),
        "is_supervisor": selectors.is_supervisor(request.user),
        "waiting_s": int((conv.accepted_at or svc.now_utc()).timestamp() - conv.queued_at.timestamp())
        if conv.queued_at
        else None,
        "past": Conversation.objects.filter(customer=conv.customer).exclude(pk=conv.pk).order_by("-id")[:5]
        if conv.customer_id
        else [],
    }
    return render(request, "chat/console/chat.html", context)


def _act(request, public_id: str, action):
    conv = selectors.access_conversation(public_id=public_id, user=request.user)
    try:
        action(conv)
    except OkError as exc:
        messages.error(request, exc.message)
    return _back(request, conv)


@require_POST
@staff_required
def console_accept(request, public_id: str):
    def act(conv):
        svc.conversation_accept(conversation_id=conv.pk, agent=request.user, request=request)
        messages.info(request, _("You have accepted the chat."))

    return _act(request, public_id, act)


@require_POST
@staff_required
def console_accept_next(request):
    """Take the longest-waiting (highest priority first) chat."""
    conv = selectors.waiting().first()
    if conv is None:
        messages.info(request, _("Nobody is waiting."))
        return _back(request)
    return console_accept(request, conv.public_id)


@require_POST
@staff_required
def console_transfer(request, public_id: str):
    from django.contrib.auth import get_user_model

    def act(conv):
        to_agent = None
        agent_id = request.POST.get("to_agent", "")
        if agent_id.isdigit():
            to_agent = (
                get_user_model().objects.filter(pk=int(agent_id), is_staff=True, is_active=True).first()
            )
            if to_agent is None or not is_staff_member(to_agent):
                raise ChatForbidden(message=_("Choose an agent from the list."))
        svc.conversation_transfer(
            conversation_id=conv.pk,
            actor=request.user,
            to_agent=to_agent,
            to_topic=request.POST.get("to_topic", "") if to_agent is None else "",
            note=request.POST.get("note", ""),
            request=request,
        )
        messages.info(request, _("The chat was transferred."))

    conv = selectors.access_conversation(public_id=public_id, user=request.user)
    try:
        act(conv)
    except OkError as exc:
        messages.error(request, exc.message)
        return _back(request, conv)
    return _back(request)


@require_POST
@staff_required
def console_end(request, public_id: str):
    def act(conv):
        done = svc.conversation_end(
            conversation_id=conv.pk,
            by="agent",
            actor=request.user,
            category=request.POST.get("category", ""),
            ticket_number=request.POST.get("ticket_number", ""),
            request=request,
        )
        if done.ticket_number:
            messages.info(
                request, _("Chat ended; the transcript is on ticket %(n)s.") % {"n": done.ticket_number}
            )
        else:
            messages.info(request, _("Chat ended."))

    return _act(request, public_id, act)


@require_POST
@staff_required
def console_join(request, public_id: str):
    def act(conv):
        svc.supervisor_join(
            conversation_id=conv.pk,
            supervisor=request.user,
            silent=request.POST.get("silent", "1") == "1",
            request=request,
        )
        messages.info(request, _("You joined the chat."))

    return _act(request, public_id, act)


@staff_required
def console_supervise(request):
    if not selectors.is_supervisor(request.user):
        raise PermissionDenied(message=_("Only supervisors can see this page."))
    overview = selectors.live_overview()
    loads = overview["loads"]
    chart = {
        "labels": [row["name"] for row in loads],
        "active": [row["active"] for row in loads],
        "capacity": [row["capacity"] for row in loads],
    }
    return render(
        request,
        "chat/console/supervise.html",
        {"overview": overview, "chart": chart, "label": customer_label, "join": selectors.join_estimate()},
    )
