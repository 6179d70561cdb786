import io

from okwallet.helpdesk.models import Ticket


def test_demo_seed_fills_every_queue_and_is_idempotent(make_customer, make_staff):
    from okwallet.helpdesk import demo

    make_customer("+8613800138001", name="王小明")
    make_customer("+8613800138002", name="李华")
    for name, role in (("agent1", "agent"), ("agent2", "agent"), ("manager1", "senior_manager")):
        make_staff(name, role)
    demo.seed(stdout=io.StringIO())
    count = Ticket.objects.count()
    demo.seed(stdout=io.StringIO())
    assert Ticket.objects.count() == count
    open_queues = set(
        Ticket.objects.filter(status__in=["new", "open", "pending"]).values_list("queue__code", flat=True)
    )
    assert open_queues == {"payments", "security", "account", "complaints", "general"}
    assert Ticket.objects.filter(category="complaint", complaint_first_contact_at__isnull=True).exists()
