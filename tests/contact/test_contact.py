from datetime import datetime

from okwallet.contact.models import ContactChannel
from okwallet.core.timeutil import SHANGHAI


def test_contact_api_lists_channels_with_open_state(client, db):
    body = client.get("/api/v1/contact").json()
    kinds = [c["kind"] for c in body["channels"]]
    assert kinds == ["hotline", "chat", "email", "security"]
    hotline = body["channels"][0]
    assert hotline["value"] == "400-820-6655" and hotline["label"] == "客服热线"
    assert isinstance(hotline["is_open"], bool)
    assert hotline["is_open"] or hotline["next_open"]
    security = body["channels"][3]
    assert security["always_open"] and security["is_open"]
    email = body["channels"][2]
    assert email["reply_promise_working_days"] == 2


def test_contact_api_filters_by_kind_and_rejects_unknown_kinds(client, db):
    assert [c["kind"] for c in client.get("/api/v1/contact?kind=email").json()["channels"]] == ["email"]
    response = client.get("/api/v1/contact?kind=fax")
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_contact_api_speaks_english_on_request(client, db):
    body = client.get("/api/v1/contact", HTTP_ACCEPT_LANGUAGE="en").json()
    assert body["channels"][0]["label"] == "Customer hotline"


def test_footer_and_contact_page_read_the_one_source_of_truth(client, db):
    ContactChannel.objects.filter(kind="hotline").update(value="400-000-1111")
    from okwallet.contact.selectors import contact_cache_clear

    contact_cache_clear()
    home = client.get("/").content.decode()
    contact = client.get("/contact").content.decode()
    assert "400-000-1111" in home and "400-000-1111" in contact
    assert "400-820-6655" not in home


def test_editing_a_channel_in_admin_clears_the_cache(client, db):
    assert "400-820-6655" in client.get("/").content.decode()
    channel = ContactChannel.objects.get(kind="hotline")
    channel.value = "400-999-8888"
    channel.save()
    assert "400-999-8888" in client.get("/").content.decode()


def test_closed_channel_says_when_it_reopens():
    from okwallet.hours.selectors import channel_status

    saturday_night = datetime(2026, 11, 28, 22, 0, tzinfo=SHANGHAI)
    status = channel_status("hotline", at=saturday_night)
    assert not status.is_open
    assert status.next_open.astimezone(SHANGHAI) == datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)
