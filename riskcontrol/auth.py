"""Login lockout: django-axes' check for every authenticate() that comes with a request, and its handler."""

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt


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
