"""The IMAP poller against a real Dovecot: batches, UID state, moves, IDLE, threading."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.core.management import call_command

from okwallet.mail.models import MailboxState, RawMessage
from okwallet.mail.poller import MailboxConfig, mail_poll_forever, mail_poll_once
from tests.mail.helpers import fixture, message


@pytest.fixture
def folder(dovecot):
    name = f"P{uuid.uuid4().hex[:10]}"
    with dovecot.client() as client:
        client.create_folder(name)
    yield name
    with dovecot.client() as client:
        for candidate in (name, f"{name}-done"):
            if client.folder_exists(candidate):
                client.delete_folder(candidate)


def config_for(dovecot, folder, **kwargs) -> MailboxConfig:
    return MailboxConfig(
        host=dovecot.host,
        port=dovecot.port,
        username=dovecot.username,
        password=dovecot.password,
        folder=folder,
        processed_folder=f"{folder}-done",
        **kwargs,
    )


def append(dovecot, folder, raws):
    with dovecot.client() as client:
        for raw in raws:
            client.append(folder, raw)


def count(dovecot, folder) -> int:
    with dovecot.client() as client:
        return client.folder_status(folder, ["MESSAGES"])[b"MESSAGES"]


def poll(dovecot, folder, **kwargs):
    config = config_for(dovecot, folder, **kwargs)
    with config.reader() as reader:
        return mail_poll_once(reader=reader, config=config)


@pytest.mark.django_db
def test_poller_files_threads_and_moves_the_mailbox(dovecot, folder):
    parent = message(message_id="imap-parent@example.com", subject="提现失败")
    reply = message(
        message_id="imap-reply@example.com",
        in_reply_to="imap-parent@example.com",
        body="补充：银行卡尾号 1234",
    )
    raws = [parent, reply, fixture("out_of_office_x_autoreply.eml"), fixture("malformed_mime.eml")]
    append(dovecot, folder, raws)

    result = poll(dovecot, folder)

    assert result.stored == 4
    assert RawMessage.objects.filter(source="imap").count() == 4
    p = RawMessage.objects.get(message_id="imap-parent@example.com")
    r = RawMessage.objects.get(message_id="imap-reply@example.com")
    assert r.ticket_number == p.ticket_number and r.thread_by == "in_reply_to"
    assert RawMessage.objects.get(message_id="ooo.1@corp.example.cn").status == "ignored"
    assert not RawMessage.objects.filter(status="received").exists()
    assert count(dovecot, folder) == 0
    assert count(dovecot, f"{folder}-done") == 4
    state = MailboxState.objects.get()
    assert state.uidvalidity and state.last_uid >= 4 and state.messages_seen == 4


@pytest.mark.django_db
def test_second_pass_reads_only_new_mail(dovecot, folder):
    append(dovecot, folder, [message(), message()])
    assert poll(dovecot, folder, move=False).stored == 2
    assert poll(dovecot, folder, move=False).stored == 0  # UID state remembered
    append(dovecot, folder, [message()])
    assert poll(dovecot, folder, move=False).stored == 1
    assert RawMessage.objects.count() == 3


@pytest.mark.django_db
def test_mail_left_behind_by_a_crash_is_moved_on_the_next_pass(dovecot, folder):
    append(dovecot, folder, [message(), message()])
    poll(dovecot, folder, move=False)  # stored, but not moved (as if we crashed)
    assert count(dovecot, folder) == 2
    result = poll(dovecot, folder)
    assert result.stored == 0
    assert count(dovecot, folder) == 0 and count(dovecot, f"{folder}-done") == 2


@pytest.mark.django_db
def test_uidvalidity_change_rereads_without_duplicates(dovecot, folder):
    raws = [message(), message()]
    append(dovecot, folder, raws)
    poll(dovecot, folder, move=False)
    before = MailboxState.objects.get().uidvalidity
    with dovecot.client() as client:  # the folder is recreated: new UIDVALIDITY, UIDs from 1
        client.delete_folder(folder)
        client.create_folder(folder)
    append(dovecot, folder, [*raws, message()])
    result = poll(dovecot, folder, move=False)
    assert MailboxState.objects.get().uidvalidity != before
    assert result.duplicates == 2 and result.stored == 1
    assert RawMessage.objects.count() == 3


@pytest.mark.django_db
def test_batches_of_200_keep_every_message(dovecot, folder):
    raws = [message(body=f"第 {i} 封", sender=f"user{i % 40}@example.com") for i in range(450)]
    with dovecot.client() as client:
        client.multiappend(folder, raws)
    result = poll(dovecot, folder)
    assert result.stored == 450
    assert RawMessage.objects.filter(status="processed").count() == 450
    assert count(dovecot, f"{folder}-done") == 450


@pytest.mark.django_db
def test_mail_poll_command_once(dovecot, folder, monkeypatch):
    monkeypatch.setenv("TEST_IMAP_PASSWORD", dovecot.password)
    append(dovecot, folder, [message(message_id="cmd-1@example.com")])
    call_command(
        "mail_poll",
        "--once",
        host=dovecot.host,
        port=dovecot.port,
        user=dovecot.username,
        password_env="TEST_IMAP_PASSWORD",
        folder=folder,
        processed_folder=f"{folder}-done",
    )
    assert RawMessage.objects.get(message_id="cmd-1@example.com").status == "processed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("without", [(), ("IDLE",)], ids=["idle", "polling"])
def test_new_mail_is_picked_up_promptly_with_idle_or_polling(dovecot, folder, without):
    stop = threading.Event()
    worker = threading.Thread(
        target=mail_poll_forever,
        kwargs={
            "config": config_for(dovecot, folder, ignore_capabilities=without),
            "idle_timeout": 10,
            "poll_interval": 0.5,
            "stop": stop,
        },
        daemon=True,
    )
    worker.start()
    try:
        time.sleep(1.0)  # the poller is idling now
        append(dovecot, folder, [message(message_id="idle-1@example.com")])
        deadline = time.monotonic() + 15
        while (
            time.monotonic() < deadline
            and not RawMessage.objects.filter(message_id="idle-1@example.com").exists()
        ):
            time.sleep(0.2)
        assert RawMessage.objects.filter(message_id="idle-1@example.com").exists()
    finally:
        stop.set()
        append(dovecot, folder, [message()])  # wakes the IDLE so the thread sees stop
        worker.join(timeout=20)
    assert not worker.is_alive()
