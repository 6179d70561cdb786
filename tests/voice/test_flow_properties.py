"""Property test: any sequence of keys, silences, speech, waits and hang-ups keeps the call consistent.

Each example is a whole call made of signed webhooks; whatever the caller does, every answer is
TwiML that tells the provider what to do next, and the call's state obeys its invariants.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okwallet.voice.models import Call
from tests.voice.conftest import Phone

_calls = itertools.count(1)
VERBS = {"Gather", "Enqueue", "Record", "Hangup", "Pause", "Play", "Redirect", "Say"}

step = st.one_of(
    st.tuples(st.just("press"), st.text(alphabet="0123456789*#", min_size=1, max_size=6)),
    st.tuples(st.just("silence"), st.none()),
    st.tuples(st.just("speech"), st.sampled_from(["人工", "我要查充值", "agent please", ""])),
    st.tuples(st.just("wait"), st.none()),
    st.tuples(st.just("hangup"), st.none()),
    st.tuples(st.just("garbage"), st.text(max_size=8)),
)


def _check_invariants(call: Call) -> None:
    if call.status == Call.Status.QUEUED:
        assert call.queue and call.queued_at is not None and call.asked_person_at is not None
    if call.status == Call.Status.CONNECTED:
        assert call.answered_at is not None
    if call.status == Call.Status.ENDED:
        assert call.ended_at is not None and call.outcome
        assert call.ivr_path[-1] == "ended"
    assert call.retries < 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_any_caller_behaviour_gets_twiml_and_keeps_the_call_consistent(
    client, twilio_token, open_hours, alice, steps
):
    phone = Phone(client, sid=f"CAprop{next(_calls):028d}")
    reply = phone.dial()
    ended = False
    for i, (kind, value) in enumerate(steps):
        gather = reply.gather() if reply.root is not None else None
        if kind == "hangup":
            reply = phone.hang_up()
            ended = True
        elif kind == "wait":
            reply = phone.wait(queue_time=10 * i)
        elif gather is None:
            # a webhook for a node the call is not at (fresh seq, so not a redelivery)
            reply = phone.post(f"/voice/twilio/gather?node=main_menu&seq={900 + i}", Digits=value or "1")
        elif kind == "press":
            reply = phone.press(value)
        elif kind == "silence":
            reply = phone.silence()
        elif kind == "speech":
            reply = phone.say(value)
        else:
            reply = phone.post(gather.get("action"), Digits=value)
        assert reply.status == 200, reply.content
        assert reply.root is not None and reply.root.tag == "Response"
        assert all(child.tag in VERBS for child in reply.root)
        call = Call.objects.get(call_sid=phone.sid)
        _check_invariants(call)
        if ended:
            assert call.status == Call.Status.ENDED
            if kind != "hangup":
                assert reply.hangs_up() or len(reply.root) == 0
    alice.refresh_from_db()
    assert alice.status == "active"  # an unknown number can never freeze someone else's account
