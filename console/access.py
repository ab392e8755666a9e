"""Who may enter a commune's console: its staff only. Everybody else gets a 404, so that a
console page of another commune cannot even be told apart from a missing page."""

from __future__ import annotations

import functools

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from shared_identity.models import StaffRole
from shared_identity.selectors import get_staff_role


def staff_required(view=None, *, admin_only: bool = False):
    def decorator(func):
        @functools.wraps(func)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            role = get_staff_role(request.user, request.commune)
            if role is None:
                raise Http404
            if admin_only and role.role != StaffRole.Role.ADMIN:
                raise PermissionDenied
            request.staff_role = role
            return func(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view else decorator
