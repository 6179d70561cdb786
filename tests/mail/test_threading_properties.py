"""Property: whatever order of new mails, replies and redeliveries arrives (in one batch or
many), each Message-ID is stored once and every reply lands on its thread root's ticket."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okwallet.mail.ingest import InboundItem, mail_ingest
from okwallet.mail.models import RawMessage
from tests.mail.helpers import message

# A plan: each step is ("new",), ("reply", parent index) or ("again", earlier index).
steps = st.lists(
    st.one_of(
        st.just(("new", 0)),
        st.tuples(st.just("reply"), st.integers(0, 30)),
        st.tuples(st.just("again"), st.integers(0, 30)),
    ),
    min_size=1,
    max_size=14,
)


@pytest.mark.django_db
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps, batch_size=st.integers(1, 6))
def test_threads_and_duplicates_in_any_order(plan, batch_size):
    run = uuid.uuid4().hex[:8]
    raws: list[bytes] = []
    root_of: list[int] = []
    mid_of: list[str] = []  # a redelivery carries the Message-ID of the message it repeats
    for kind, ref in plan:
        n = len(raws)
        if kind == "new" or not raws:
            raws.append(message(message_id=f"{run}.{n}@example.com", sender=f"u{run}@example.com"))
            root_of.append(n)
            mid_of.append(f"{run}.{n}@example.com")
        elif kind == "reply":
            parent = ref % len(raws)
            raws.append(
                message(
                    message_id=f"{run}.{n}@example.com",
                    sender=f"u{run}@example.com",
                    in_reply_to=mid_of[parent],
                )
            )
            root_of.append(root_of[parent])
            mid_of.append(f"{run}.{n}@example.com")
        else:
            earlier = ref % len(raws)
            raws.append(raws[earlier])
            root_of.append(root_of[earlier])
            mid_of.append(mid_of[earlier])
    for start in range(0, len(raws), batch_size):
        mail_ingest(items=[InboundItem(raw=r) for r in raws[start : start + batch_size]], source="imap")

    rows = {r.message_id: r for r in RawMessage.objects.filter(message_id__startswith=f"{run}.")}
    distinct = {raw for raw in raws}
    assert len(rows) == len(distinct)
    for i in range(len(raws)):
        root = rows[mid_of[root_of[i]]]
        assert rows[mid_of[i]].ticket_number == root.ticket_number
    assert len({r.ticket_number for r in rows.values()}) == len({root_of[i] for i in range(len(raws))})
