import pytest


@pytest.fixture
def make_txn():
    """A transaction row as the wallet records it (the payments services are tested in tests/payments)."""
    from django.utils import timezone

    from okwallet.payments.models import Transaction

    counter = iter(range(1, 10_000))

    def make(user, *, kind="deposit", status="succeeded", amount_fen=20_000, method="card"):
        n = next(counter)
        return Transaction.objects.create(
            reference=f"T2612010000{n:04d}",
            user=user,
            kind=kind,
            status=status,
            amount_fen=amount_fen,
            method=method,
            channel="sandbox",
            ledger_key=f"kbtest:{n}",
            settled_at=timezone.now() if status == "succeeded" else None,
        )

    return make


@pytest.fixture(autouse=True)
def _fresh_search_index():
    """Each test's database is rolled back afterwards, so its version row can repeat a number an
    earlier test's index was built from: start every test without a cached index."""
    from okwallet.kb.search.engine import CACHE

    CACHE._indexes = {}
    CACHE._version = None
    yield
