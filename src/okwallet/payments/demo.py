"""Demo wallets with realistic history (idempotent): deposits, transfers, withdrawals, one stuck
deposit (paid? the channel never told us) and one failed withdrawal (money back in the wallet)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction

from okwallet.core.timeutil import now_utc
from okwallet.ledger.services import raise_for_result, transfer_create
from okwallet.payments import cards as cardlib
from okwallet.payments.models import BankCard, Transaction, TransactionEvent

DEMO = [
    ("+8613800138001", "622588000000123"),  # 王小明, 招商银行
    ("+8613800138002", "622202000000567"),  # 李华, 工商银行
    ("+8613800138003", "621700000000890"),  # 张秀英, 建设银行
]


def _backdate(txn: Transaction, when) -> None:
    Transaction.objects.filter(pk=txn.pk).update(
        created_at=when,
        settled_at=when + timedelta(seconds=random.randint(3, 40)) if txn.status != "pending" else None,
    )
    TransactionEvent.objects.filter(transaction=txn).update(created_at=when)


def _deposit(user, card, amount_fen, when, *, settle=True, method="card"):
    from okwallet.payments.services import deposit_settle, new_reference, wallet_ensure

    wallet_ensure(user=user)
    ref = new_reference()
    txn = Transaction.objects.create(
        reference=ref,
        user=user,
        kind="deposit",
        amount_fen=amount_fen,
        method=method,
        channel="sandbox",
        card=card if method == "card" else None,
        ledger_key=f"dep:{ref}",
        channel_ref="42" + when.strftime("%Y%m%d") + ref[-10:],
    )
    TransactionEvent.objects.create(transaction=txn, step="submitted")
    TransactionEvent.objects.create(transaction=txn, step="at_channel", note=txn.channel_ref)
    if settle:
        txn, _ = deposit_settle(reference=ref, amount_fen=amount_fen, source="demo")
    _backdate(txn, when)
    return txn


def _withdraw(user, card, amount_fen, when, *, success=True):
    from okwallet.payments.services import new_reference, system_account, wallet_ensure, withdrawal_settle

    wallet = wallet_ensure(user=user)
    ref = new_reference()
    with transaction.atomic():
        txn = Transaction.objects.create(
            reference=ref,
            user=user,
            kind="withdrawal",
            amount_fen=amount_fen,
            method="card",
            channel="sandbox",
            card=card,
            ledger_key=f"wd:{ref}",
            channel_ref="10" + when.strftime("%Y%m%d") + ref[-10:],
        )
        raise_for_result(
            transfer_create(
                key=txn.ledger_key,
                kind="pending",
                debit_account_id=wallet.account_id,
                credit_account_id=system_account("payout").pk,
                amount_fen=amount_fen,
                code="withdrawal",
            )
        )
        TransactionEvent.objects.create(transaction=txn, step="submitted")
        TransactionEvent.objects.create(transaction=txn, step="at_channel", note=txn.channel_ref)
    txn = withdrawal_settle(
        reference=ref, success=success, error_code="" if success else "ACCOUNT_FROZEN", source="demo"
    )
    _backdate(txn, when)
    return txn


def seed(*, stdout) -> None:
    from okwallet.accounts.models import User
    from okwallet.accounts.selectors import realname_for
    from okwallet.payments.services import p2p_transfer_create, wallet_ensure

    rng = random.Random(4)
    users = []
    for phone, prefix in DEMO:
        user = User.objects.filter(phone=phone).first()
        realname = realname_for(user) if user else None
        if user is None or realname is None:
            continue
        wallet_ensure(user=user)
        number = cardlib.luhn_complete(prefix)
        code, bank = cardlib.bank_for(number)
        card = BankCard.objects.filter(
            user=user, number_hash=cardlib.number_hash(number)
        ).first() or BankCard.objects.create(
            user=user,
            bank_code=code,
            bank_name=bank,
            last4=number[-4:],
            number_hash=cardlib.number_hash(number),
            holder_name=realname.name,
        )
        users.append((user, card))
    if not users or Transaction.objects.filter(user=users[0][0]).exists():
        stdout.write("payments: demo wallets already there")
        return
    now = now_utc()
    for user, card in users:
        for days in (40, 25, 12, 5):
            _deposit(
                user,
                card,
                rng.choice([10_000, 20_000, 50_000, 88_800]),
                now - timedelta(days=days, hours=rng.randint(1, 9)),
                method=rng.choice(["card", "alipay", "wechat"]),
            )
        _withdraw(user, card, 5_000, now - timedelta(days=3, hours=2))
    if len(users) >= 2:
        (a, _ca), (b, _cb) = users[0], users[1]
        p2p_transfer_create(payer=a, payee_id=b.pk, amount_fen=6_600, note="聚餐 AA")
        p2p_transfer_create(payer=b, payee_id=a.pk, amount_fen=2_000, note="还你电影票")
    user, card = users[0]
    _withdraw(user, card, 30_000, now - timedelta(days=1, hours=3), success=False)  # the failed withdrawal
    stuck = _deposit(user, card, 20_000, now - timedelta(hours=3), settle=False)  # the stuck deposit
    stdout.write(
        f"payments: demo wallets with history; stuck deposit {stuck.reference}, one failed withdrawal"
    )
