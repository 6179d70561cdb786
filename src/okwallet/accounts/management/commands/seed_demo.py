"""Demo data for the embedded default: customers and staff with printed logins. Idempotent."""

from django.core.management.base import BaseCommand
from django.db import transaction

from okwallet.accounts import roles
from okwallet.accounts.models import User
from okwallet.accounts.services import customer_create, staff_create

DEMO_PASSWORD = "OkDemo#2026"

CUSTOMERS = [
    {"phone": "+8613800138001", "display_name": "王小明", "email": "xiaoming@example.com"},
    {"phone": "+8613800138002", "display_name": "李华", "email": "lihua@example.com"},
    {"phone": "+8613800138003", "display_name": "张秀英", "email": "xiuying@example.com"},
]
STAFF = [
    {"username": "agent1", "role": roles.AGENT, "display_name": "客服 小周"},
    {"username": "agent2", "role": roles.AGENT, "display_name": "客服 小林"},
    {"username": "manager1", "role": roles.SENIOR_MANAGER, "display_name": "高级客服经理 陈经理"},
    {"username": "supervisor1", "role": roles.SUPERVISOR, "display_name": "主管 赵主管"},
    {"username": "admin", "role": roles.ADMIN, "display_name": "系统管理员"},
]


class Command(BaseCommand):
    help = "Create demo customers and staff (idempotent) and print their logins."

    def handle(self, *args, **options):
        rows = []
        with transaction.atomic():
            for spec in CUSTOMERS:
                user = User.objects.filter(phone=spec["phone"]).first()
                if user is None:
                    user = customer_create(
                        phone=spec["phone"],
                        password=DEMO_PASSWORD,
                        email=spec["email"],
                        display_name=spec["display_name"],
                        phone_verified=True,
                    )
                rows.append(("customer", spec["phone"][3:], user.public_id, user.display_name))
            for spec in STAFF:
                user = User.objects.filter(username=spec["username"]).first()
                if user is None:
                    user = staff_create(
                        username=spec["username"],
                        password=DEMO_PASSWORD,
                        role=spec["role"],
                        display_name=spec["display_name"],
                    )
                rows.append((spec["role"], spec["username"], "", user.display_name))
        self.extra_demo_data()
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD})"))
        for role, login, public_id, name in rows:
            extra = f"  user ID {public_id}" if public_id else ""
            self.stdout.write(f"  {role:<15} {login:<14} {name}{extra}")

    def extra_demo_data(self):
        """Each app may ship ``okwallet.<app>.demo.seed(*, stdout)`` (idempotent); run them bottom-up."""
        from importlib import import_module
        from importlib.util import find_spec

        from django.conf import settings

        for app in settings.OKWALLET_APPS:
            name = f"okwallet.{app}.demo"
            if find_spec(name) is None:
                continue
            with transaction.atomic():
                import_module(name).seed(stdout=self.stdout)
