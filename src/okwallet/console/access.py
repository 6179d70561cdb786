from functools import wraps

from django.contrib.auth.views import redirect_to_login

from okwallet.accounts.roles import is_staff_member
from okwallet.core.errors import PermissionDenied


def staff_required(view):
    """Console pages: staff with a role only. Anonymous → login; customers → 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_staff_member(request.user):
            raise PermissionDenied()
        return view(request, *args, **kwargs)

    return wrapper
