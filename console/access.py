"""Who may enter a commune's console: its staff only. Everybody else gets a 404, so that a
console page of another commune cannot even be told apart from a missing page."""

from __future__ import annotations

import functools

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from audit.scope import staff_scope
from shared_identity.access import second_factor_redirect
from shared_identity.models import StaffRole
from shared_identity.two_factor import get_staff_role_with_two_factor


def staff_required(view=None, *, admin_only: bool = False):
    def decorator(func):
        @functools.wraps(func)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            role = get_staff_role_with_two_factor(request.user, request.commune)
            if role is None:
                raise Http404
            # Two-factor authentication: a code in this session, and an app where the commune requires it.
            gate = second_factor_redirect(
                request,
                has_device=role.account_has_two_factor,
                required_by=request.commune if request.commune.require_staff_2fa else None,
            )
            if gate is not None:
                return gate
            if admin_only and role.role != StaffRole.Role.ADMIN:
                raise PermissionDenied
            request.staff_role = role
            with staff_scope(request):  # what a writing request changes goes to the audit log
                return func(request, *args, **kwargs)

        # Read by the access tests, which walk every console URL.
        wrapper.console_access = "admin" if admin_only else "staff"
        return wrapper

    return decorator(view) if view else decorator
