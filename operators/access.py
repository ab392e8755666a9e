import functools

from django.contrib.auth.views import redirect_to_login
from django.http import Http404

from shared_identity.access import second_factor_redirect


def operator_required(view):
    """Platform operators only; for everybody else the operator console does not exist."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_platform_operator:
            raise Http404
        # Operators must use two-factor authentication: one without an authenticator app sets
        # one up first (on the first sign-in), one with it gives its code in this session.
        gate = second_factor_redirect(request, operator=True)
        if gate is not None:
            return gate
        return view(request, *args, **kwargs)

    wrapper.operator_access = True
    return wrapper
