"""Staff and customer roles, as Django groups created by a migration."""

CUSTOMER = "customer"
AGENT = "agent"
SENIOR_MANAGER = "senior_manager"
SUPERVISOR = "supervisor"
ADMIN = "admin"

ALL_ROLES = [CUSTOMER, AGENT, SENIOR_MANAGER, SUPERVISOR, ADMIN]
STAFF_ROLES = [AGENT, SENIOR_MANAGER, SUPERVISOR, ADMIN]


def has_role(user, *roles: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_okw_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._okw_roles = cached
    return bool(cached.intersection(roles))


def is_staff_member(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_staff and has_role(user, *STAFF_ROLES))


def ensure_role_groups() -> None:
    """Create the role groups if missing (the migration does this; flushed test databases need it again)."""
    from django.contrib.auth.models import Group

    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
