"""Terminals sign their requests with the distributor API's scheme (voucherhub/core/apisign.py)."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import permissions

from redemption.models import Terminal
from redemption.services import terminal_credential
from voucherhub.core import apisign

LAST_USED_EVERY = timedelta(minutes=5)


class TerminalPrincipal:
    """`request.user` for a signed terminal request: authenticated, not a Django user."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __init__(self, terminal: Terminal):
        self.terminal = terminal

    def __str__(self) -> str:
        return f"terminal {self.terminal.key_id}"

    def get_username(self) -> str:
        return f"terminal:{self.terminal.key_id}"


class TerminalSignatureAuthentication(apisign.SignedRequestAuthentication):
    def authenticate(self, request):
        if not request.headers.get(apisign.HEADER_KEY):
            return None
        credential = apisign.verify(request._request, lookup=self.lookup)
        return self.user_for(credential), credential

    def lookup(self, key_id: str) -> apisign.Credential | None:
        found = terminal_credential(key_id)
        if found is None:
            return None
        terminal, secret = found
        return apisign.Credential(
            key_id=terminal.key_id,
            secret=secret,
            active=terminal.active and terminal.store.active and terminal.store.merchant.active,
            ip_allowlist=tuple(terminal.ip_allowlist or ()),
            principal=terminal,
        )

    def user_for(self, credential: apisign.Credential):
        terminal = credential.principal
        now = timezone.now()
        if terminal.last_used_at is None or now - terminal.last_used_at > LAST_USED_EVERY:
            Terminal.objects.filter(pk=terminal.pk).update(last_used_at=now)
            terminal.last_used_at = now
        return TerminalPrincipal(terminal)


class IsTerminal(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, TerminalPrincipal)


def terminal_of(request) -> Terminal:
    return request.user.terminal
