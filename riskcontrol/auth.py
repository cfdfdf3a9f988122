"""Login backends and handler of risk control: django-axes' lockout and its reset, and the risk rules for logins
(wired in settings)."""

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.core.exceptions import PermissionDenied


class AxesLoginBackend(AxesStandaloneBackend):
    """AxesStandaloneBackend that stands aside when there is no request.

    Every login form, the admin login and API authentication pass the request, so they are all
    guarded. Code that authenticates without one (Django's test client `login()`, management
    commands) is not a login attempt from the network and is not counted.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class RiskLoginBackend:
    """Risk control's rules for logins (a blocklisted address, device, account or e-mail; a velocity per IP ...).

    Listed in AUTHENTICATION_BACKENDS after axes and before the backends that check passwords, so every
    authenticate() that comes with a request (the login page, the admin login) is evaluated before any
    password is: a blocked request never learns whether its password was right. It authenticates nobody
    (returns None, the next backend checks the password). On block it raises PermissionDenied, which stops
    authenticate() (django sends user_login_failed, so axes counts it as a failure too), and leaves the
    decision on the request, where RiskLoginRefusedMiddleware turns the login page into a 403 page with
    the reasons. Challenge and review outcomes are recorded and the login goes on: the login page has no
    picture to show and a login cannot wait for a reviewer.

    It has no get_user() on purpose: a session never names this backend (it logs nobody in), and Django's
    test client `force_login()` takes the first backend that has one.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        from riskcontrol.services import login_screen

        decision = login_screen(request=request, username=username)
        if decision.blocked:
            request.risk_login_refused = decision
            raise PermissionDenied(decision.messages())
        return None


class LoginAttemptsHandler(AxesDatabaseHandler):
    """django-axes' database handler whose reset on a successful login forgets only that user's failures.

    Axes resets "the attempts that match the request": with ["username", "ip_address"] as lockout
    parameters that is every failure from the address too, so an attacker who logs in to their own
    account after every few failures could guess other accounts from one address without end. Here a
    success deletes the failures recorded against the user name that logged in (the user's own counter),
    and the address keeps every failure on any other name: it is locked after AXES_FAILURE_LIMIT of them.
    The user's own mistyped passwords leave the address's count too (a success proves they were no guesses
    at someone else), so a shared office address is not locked by its own staff's typos.
    """

    def reset_user_attempts(self, request, credentials=None) -> int:
        username = get_client_username(request, credentials)
        if not username:
            return 0
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count
