"""The one place mail talks to tickets.

Uses ``okwallet.helpdesk.services.ticket_create`` / ``ticket_add_message`` and
``okwallet.helpdesk.selectors.ticket_by_number`` (docs/interfaces.md) when the helpdesk app
provides them; until then a ``MailThread`` row stands in for the ticket, with the same number
format (``OK`` + yymmdd + daily sequence), so threading works the same either way.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.db import IntegrityError, transaction

from okwallet.core.timeutil import now_utc, to_local
from okwallet.mail.models import MailThread


def _helpdesk() -> tuple[Any, Any] | None:
    """(services, selectors) modules of the helpdesk app, or None while they are missing.

    ``OKWALLET_MAIL_USE_HELPDESK=0`` forces the stand-in (the benchmark uses it to measure the
    mail layer on its own)."""
    from okwallet.mail.conf import setting

    if not setting("OKWALLET_MAIL_USE_HELPDESK", True):
        return None
    return _helpdesk_modules()


@cache
def _helpdesk_modules() -> tuple[Any, Any] | None:
    try:
        if (
            find_spec("okwallet.helpdesk.services") is None
            or find_spec("okwallet.helpdesk.selectors") is None
        ):
            return None
    except (ImportError, ValueError):
        return None
    services = import_module("okwallet.helpdesk.services")
    selectors = import_module("okwallet.helpdesk.selectors")
    if not all(hasattr(services, n) for n in ("ticket_create", "ticket_add_message")):
        return None
    if not hasattr(selectors, "ticket_by_number"):
        return None
    return services, selectors


def helpdesk_available() -> bool:
    return _helpdesk() is not None


@dataclass
class TicketRef:
    number: str
    obj: Any  # helpdesk Ticket or MailThread

    @property
    def requester_addresses(self) -> set[str]:
        found = set()
        email = getattr(self.obj, "requester_email", "") or ""
        if email:
            found.add(email.lower())
        customer = getattr(self.obj, "customer", None)
        if customer is not None and getattr(customer, "email", ""):
            found.add(customer.email.lower())
        return found


# Keywords of the categories in docs/interfaces.md, most specific first.
_CATEGORY_WORDS = [
    ("security", r"盗|被骗|诈骗|冒充|异常登录|不是我本人|hack|fraud|scam|stolen|phishing"),
    ("account_closure", r"注销|销户|close (?:my )?account|account closure"),
    ("password", r"密码|password|支付密码|解锁|locked"),
    ("withdrawal", r"提现|withdraw"),
    ("deposit", r"充值|到账|deposit|top[- ]?up"),
    ("transfer", r"转账|transfer|汇款"),
    ("complaint", r"投诉|complain"),
    ("suggestion", r"建议|suggest|feedback"),
]


def guess_category(subject: str, body: str) -> str:
    text = f"{subject}\n{body[:2000]}"
    for code, pattern in _CATEGORY_WORDS:
        if re.search(pattern, text, re.IGNORECASE):
            return code
    return "other"


def helpdesk_attachments(attachments) -> tuple[list[dict], list[str]]:
    """The parsed attachments the helpdesk accepts (its types, sizes and count), as dicts; and
    the names of those left out (they stay with the raw message in the mail app)."""
    hd = _helpdesk()
    if hd is None:
        return [], []
    services = hd[0]
    allowed = getattr(services, "ALLOWED_TYPES", {})
    max_bytes = getattr(services, "MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
    max_count = getattr(services, "MAX_ATTACHMENTS", 5)
    kept, left_out = [], []
    for att in attachments:
        content = getattr(att, "content", None)
        name = getattr(att, "filename", "") or "attachment"
        ctype = (getattr(att, "content_type", "") or "").split(";")[0].strip().lower()
        guessed = mimetypes.guess_type(name)[0] or ""
        ctype = ctype if ctype in allowed else guessed
        magics = allowed.get(ctype)
        ok = (
            content is not None
            and len(content) <= max_bytes
            and magics is not None
            and (not guessed or guessed in allowed)
            and (not magics or any(bytes(content).startswith(m) for m in magics))
            and len(kept) < max_count
        )
        if ok:
            kept.append({"filename": name[:200], "content": bytes(content), "content_type": ctype})
        else:
            left_out.append(name)
    return kept, left_out


class TicketGateway:
    """Per-batch access to tickets: caches lookups and, for the stand-in, the number sequence."""

    def __init__(self, *, batched: bool = False, expected: int = 1) -> None:
        self._by_number: dict[str, TicketRef | None] = {}
        self._seq: dict[str, int] = {}
        # batched: new tickets go into a helpdesk TicketBatch and are written together at
        # ``flush`` (the ingest path); otherwise each ``create`` writes at once. ``expected``:
        # at most how many tickets the batch opens (its ticket numbers are taken in one block).
        self.batched = batched
        self.expected = expected
        self._batch = None

    def _ticket_batch(self):
        if self._batch is None:
            from okwallet.helpdesk.batch import TicketBatch

            self._batch = TicketBatch(expected=self.expected)
        return self._batch

    def flush(self) -> None:
        """Write the tickets created in this batch (call inside the batch's transaction)."""
        if self._batch is not None:
            self._batch.flush()

    def get(self, number: str) -> TicketRef | None:
        if number in self._by_number:
            return self._by_number[number]
        hd = _helpdesk()
        if hd is not None:
            obj = hd[1].ticket_by_number(number)
        else:
            obj = MailThread.objects.filter(number=number).first()
        ref = TicketRef(number, obj) if obj is not None else None
        self._by_number[number] = ref
        return ref

    def prefetch(self, numbers: set[str]) -> None:
        missing = [n for n in numbers if n not in self._by_number]
        if not missing:
            return
        model = MailThread
        if _helpdesk() is not None:
            try:
                from okwallet.helpdesk.models import Ticket as model
            except ImportError:
                for number in missing:
                    self.get(number)
                return
        qs = model.objects.filter(number__in=missing)
        if model is not MailThread:
            # The search tokens (up to 20 KB a ticket) are only rewritten under the row lock
            # that TicketBatch takes at flush, which reads the row again.
            qs = qs.select_related("customer").defer("search_tokens")
        found = {t.number: t for t in qs}
        for number in missing:
            obj = found.get(number)
            self._by_number[number] = TicketRef(number, obj) if obj is not None else None

    def create(
        self,
        *,
        subject: str,
        body: str,
        body_html: str,
        customer,
        requester_email: str,
        requester_name: str,
        source_ref: str,
        facts: dict,
        attachments=(),
    ) -> TicketRef:
        hd = _helpdesk()
        category = guess_category(subject, body)
        if hd is not None:
            ticket = (self._ticket_batch().create if self.batched else hd[0].ticket_create)(
                channel="email",
                category=category,
                subject=subject,
                body=body,
                customer=customer,
                requester_email=requester_email,
                requester_name=requester_name,
                source_ref=source_ref,
                facts=facts,
                attachments=attachments,
                body_html=body_html,
            )
            ref = TicketRef(ticket.number, ticket)
        else:
            ref = self._create_standin(
                subject=subject, customer=customer, email=requester_email, name=requester_name
            )
        self._by_number[ref.number] = ref
        return ref

    def _create_standin(self, *, subject: str, customer, email: str, name: str) -> TicketRef:
        prefix = "OK" + to_local(now_utc()).strftime("%y%m%d")
        for _attempt in range(5):
            if prefix not in self._seq:
                last = (
                    MailThread.objects.filter(number__startswith=prefix)
                    .order_by("-number")
                    .values_list("number", flat=True)
                    .first()
                )
                self._seq[prefix] = int(last[len(prefix) :]) if last else 0
            self._seq[prefix] += 1
            number = f"{prefix}{self._seq[prefix]:06d}"
            try:
                with transaction.atomic():
                    thread = MailThread.objects.create(
                        number=number,
                        subject=subject[:998],
                        customer=customer,
                        requester_email=email,
                        requester_name=name[:200],
                    )
                return TicketRef(number, thread)
            except IntegrityError:  # another poller took the number: read the sequence again
                self._seq.pop(prefix, None)
        raise RuntimeError("could not allocate a ticket number")

    def add_message(
        self,
        ref: TicketRef,
        *,
        body: str,
        body_html: str,
        author,
        source_ref: str,
        public: bool = True,
        attachments=(),
        follow_up: dict | None = None,
    ) -> tuple[TicketRef, Any]:
        """Add a customer message (or an internal note); returns (the ticket it went to, a
        reference to the message: its id, or the unsaved message when the ticket was opened in
        this batch and is written at ``flush``). A merged ticket's mail goes to the ticket it was merged
        into; mail for a closed ticket opens a follow-up ticket (``follow_up`` holds the
        arguments for ``create``)."""
        hd = _helpdesk()
        if hd is None:
            if isinstance(ref.obj, MailThread) and ref.obj.status != "open" and public:
                MailThread.objects.filter(pk=ref.obj.pk).update(status="open")
            return ref, ""
        from okwallet.helpdesk.errors import TicketClosed

        pending = self._batch is not None and self._batch.is_pending(ref.obj)
        if pending or (self.batched and _open_and_unmerged(ref.obj)):
            # Written with the batch (its rules are ticket_add_message's); closed or merged
            # tickets take the path below, which follows merges and opens follow-ups.
            message = self._ticket_batch().add_message(
                ref.obj,
                body=body,
                body_html=body_html,
                author=author,
                channel="email",
                source_ref=source_ref,
                attachments=attachments,
                public=public,
            )
            return ref, message
        for _hop in range(5):
            try:
                message = hd[0].ticket_add_message(
                    ticket=ref.obj,
                    body=body,
                    author=author,
                    public=public,
                    channel="email",
                    source_ref=source_ref,
                    attachments=attachments,
                    body_html=body_html,
                    from_customer=bool(public),
                )
                return ref, str(getattr(message, "pk", "") or "")
            except TicketClosed as exc:
                merged = (exc.details or {}).get("merged_into")
                target = self.get(merged) if merged else None
                if target is None:
                    break
                ref = target
        if follow_up is None or not public:
            return ref, ""
        facts = {**follow_up.get("facts", {}), "follow_up_of": ref.number}
        new = self.create(**{**follow_up, "facts": facts})
        return new, "follow_up"


def _open_and_unmerged(ticket) -> bool:
    from okwallet.helpdesk.models import Status

    return (
        getattr(ticket, "pk", None) is not None
        and ticket.status != Status.CLOSED
        and not ticket.merged_into_id
    )
