from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from okwallet.accounts.models import User
from okwallet.accounts.phone import normalise_phone_or_none


class IdentifierBackend(ModelBackend):
    """Sign in with a username, mobile number, email address or user ID."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        identifier = (username or kwargs.get("identifier") or "").strip()
        if not identifier or password is None:
            return None
        query = Q(username=identifier) | Q(public_id=identifier)
        if "@" in identifier:
            query |= Q(email__iexact=identifier)
        phone = normalise_phone_or_none(identifier)
        if phone:
            query |= Q(phone=phone)
        user = User.objects.filter(query).order_by("id").first()
        if user is None:
            User().set_password(password)  # same work for unknown accounts: no timing oracle
            return None
        if (
            user.check_password(password)
            and self.user_can_authenticate(user)
            and user.status != User.Status.CLOSED
        ):
            return user
        return None
