"""Payments fixtures: a real sandbox channel process, verified customers with bound cards."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
XIAOMING = "110101199003071233"  # 王小明 in the identity sandbox
XIUYING = "310104195806154567"  # 张秀英
CMB_CARD = "6225880000001231"  # 招商银行, Luhn-valid


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory):
    """``manage.py sandbox_channel`` in its own process on a free port, 100x faster clock."""
    directory = tmp_path_factory.mktemp("sandbox")
    env = {**os.environ, "OKWALLET_VAR_DIR": str(directory / "var"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "sandbox_channel",
            "--port",
            "0",
            "--time-scale",
            "0.01",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, f"sandbox did not start: {line}{proc.stdout.read() if proc.poll() is not None else ''}"
    url = f"http://127.0.0.1:{match.group(1)}"
    os.environ["OKWALLET_SANDBOX_URL"] = url
    os.environ["OKWALLET_SANDBOX_DIR"] = str(directory)
    yield {"url": url, "dir": directory, "proc": proc}
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def sandbox(sandbox_process):
    from okwallet.payments.channels import get_channel

    channel = get_channel("sandbox")
    channel.control(
        notify="normal",
        delay_s=0,
        fail_payouts=False,
        card_autopay=True,
        refuse_cards=False,
        payout_delay_s=2.0,
    )
    yield channel
    channel.control(notify="normal", delay_s=0, fail_payouts=False, card_autopay=True, refuse_cards=False)


@pytest.fixture(autouse=True)
def _own_rate_limit_namespace(settings):
    settings.OKWALLET_RATELIMIT_NAMESPACE = f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def verified_alice(alice):
    from okwallet.accounts.services import realname_verify

    realname_verify(user=alice, name="王小明", id_number=XIAOMING)
    return alice


@pytest.fixture
def verified_bob(bob):
    from okwallet.accounts.services import realname_verify

    realname_verify(user=bob, name="张秀英", id_number=XIUYING)
    return bob


@pytest.fixture
def alice_card(verified_alice, sandbox):
    from okwallet.payments.services import card_bind

    return card_bind(user=verified_alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)


@pytest.fixture
def fund():
    """Put money into a wallet the way production does: a deposit the channel confirmed."""
    from okwallet.payments.models import Transaction
    from okwallet.payments.services import deposit_settle, new_reference, wallet_ensure

    def give(user, amount_fen: int):
        wallet_ensure(user=user)
        ref = new_reference()
        Transaction.objects.create(
            reference=ref,
            user=user,
            kind="deposit",
            amount_fen=amount_fen,
            method="alipay",
            channel="sandbox",
            ledger_key=f"dep:{ref}",
        )
        txn, _ = deposit_settle(
            reference=ref, amount_fen=amount_fen, channel_ref=f"42TEST{ref}", source="test"
        )
        return txn

    return give


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")
