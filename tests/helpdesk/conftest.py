import pytest


@pytest.fixture
def queues(db):
    from okwallet.helpdesk.services import queues_ensure

    return queues_ensure()


@pytest.fixture
def online(queues):
    """online(user, *queue_codes) → put the agent online as a member of those queues."""
    from okwallet.helpdesk.services import presence_set

    def make(user, *codes, capacity=30):
        for code in codes:
            queues[code].members.add(user)
        presence_set(user=user, status="online", ticket_capacity=capacity)
        return user

    return make


@pytest.fixture
def alice_ticket(alice, queues):
    from okwallet.helpdesk.services import ticket_create

    return ticket_create(
        channel="web",
        category="deposit",
        subject="充值没到账",
        body="我昨天充值100元还没有到账",
        customer=alice,
    )
