"""The hotline numbers and the official outbound caller IDs are what the verifier treats as ours."""

from __future__ import annotations

import importlib.util

import pytest

from okwallet.contact.models import OfficialIdentity
from okwallet.voice.selectors import outbound_caller_ids
from okwallet.voice.services import outbound_caller_ids_register


def test_default_outbound_caller_id_comes_from_the_contact_source(db):
    from okwallet.contact.defaults import ensure_default_contact

    ensure_default_contact()
    assert outbound_caller_ids() == ["021-6088-6655"]


def test_configured_outbound_caller_ids_are_registered_as_official_numbers(db, settings):
    settings.OKWALLET_VOICE_OUTBOUND_CALLER_IDS = "021-6088-6699, 021-6088-6600"
    assert outbound_caller_ids_register() == ["021-6088-6699", "021-6088-6600"]
    outbound_caller_ids_register()  # idempotent
    assert OfficialIdentity.objects.filter(kind="phone", value="021-6088-6699").count() == 1
    assert outbound_caller_ids() == ["021-6088-6699", "021-6088-6600"]


@pytest.mark.skipif(
    importlib.util.find_spec("okwallet.antifraud.verifier") is None,
    reason="antifraud verifier not in the tree yet",
)
def test_the_verifier_says_a_callback_number_is_ours(db, settings):
    from okwallet.antifraud.verifier import verify

    settings.OKWALLET_VOICE_OUTBOUND_CALLER_IDS = "021-6088-6699"
    outbound_caller_ids_register()
    verdict = verify("021 6088 6699")
    assert getattr(verdict, "official", None) or getattr(verdict, "is_official", None)
