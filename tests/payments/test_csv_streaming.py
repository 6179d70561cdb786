"""The CSV export streams under ASGI (what production runs), chunk by chunk, without Django
reading it all into memory first."""

from __future__ import annotations

import warnings

import pytest
from channels.testing import HttpCommunicator

from tests.chat.conftest import run_async, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def test_csv_export_streams_under_asgi_in_chunks(verified_alice, fund, monkeypatch):
    from okwallet.asgi import application
    from okwallet.payments import views

    for amount in (100, 200, 300):
        fund(verified_alice, amount)
    cookie = session_cookie(verified_alice)

    async def fetch():
        communicator = HttpCommunicator(
            application,
            "GET",
            "/wallet/records.csv",
            headers=[(b"cookie", f"sessionid={cookie}".encode()), (b"host", b"localhost")],
        )
        communicator.scope["server"] = ("localhost", 80)
        await communicator.send_input({"type": "http.request", "body": b""})
        try:
            start = await communicator.receive_output(20)
            bodies = []
            while True:
                part = await communicator.receive_output(20)
                assert part["type"] == "http.response.body", (start, part)
                bodies.append(part.get("body", b""))
                if not part.get("more_body"):
                    return start, bodies
        finally:
            await communicator.wait(20)  # the app has finished (and closed its cursor)

    monkeypatch.setitem(views.streamed_for.__kwdefaults__, "chunk", 2)  # BOM, header, 3 rows: several parts
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start, bodies = run_async(fetch)
    assert start["status"] == 200
    assert not [w for w in caught if "consume synchronous iterators" in str(w.message)]
    text = b"".join(bodies).decode("utf-8")
    assert text.startswith("\ufeff") and text.count("\r\n") == 4  # header + three deposits
    assert len([b for b in bodies if b]) >= 3  # sent as it was read, not in one piece
