"""Login lockout backend: django-axes' check, for every authenticate() that comes with a request."""

from axes.backends import AxesStandaloneBackend


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
