"""Terminals sign their requests with the distributor API's scheme (voucherhub/core/apisign.py)."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import permissions

from redemption import integrations
from redemption.models import Terminal
from redemption.services import terminal_credential
from voucherhub.core import apisign
from voucherhub.core.net import client_ip

LAST_USED_EVERY = timedelta(minutes=5)


class TerminalPrincipal:
    """`request.user` for a signed terminal request: authenticated, not a Django user."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __init__(self, terminal: Terminal, cache_snapshot: apisign.CacheSnapshot | None = None):
        self.terminal = terminal
        # The terminal's lockout and failure marks, read with the nonce (Caller.risk_read).
        self.cache_snapshot = cache_snapshot or apisign.CacheSnapshot()

    def __str__(self) -> str:
        return f"terminal {self.terminal.key_id}"

    def get_username(self) -> str:
        return f"terminal:{self.terminal.key_id}"


class TerminalSignatureAuthentication(apisign.SignedRequestAuthentication):
    def authenticate(self, request):
        if not request.headers.get(apisign.HEADER_KEY):
            return None
        principal, credential = terminal_authenticate(request._request, authentication=self)
        return principal, credential

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

    def user_for(self, credential: apisign.Credential, cache_snapshot: apisign.CacheSnapshot | None = None):
        terminal = credential.principal
        now = timezone.now()
        if terminal.last_used_at is None or now - terminal.last_used_at > LAST_USED_EVERY:
            Terminal.objects.filter(pk=terminal.pk).update(last_used_at=now)
            terminal.last_used_at = now
        return TerminalPrincipal(terminal, cache_snapshot)


def terminal_authenticate(request, *, authentication: TerminalSignatureAuthentication | None = None):
    """(TerminalPrincipal, credential) for a signed Django request, or SignatureError.

    The cache round trip that spends the nonce also reads the terminal's lockouts and failure marks
    (integrations.risk_keys), which the redemption services then take from the principal's snapshot."""
    authentication = authentication or TerminalSignatureAuthentication()
    ip = client_ip(request) or None

    def risk_keys(credential: apisign.Credential) -> list[str]:
        terminal = credential.principal
        return integrations.risk_keys(terminal=terminal.key_id, ip=ip, store=terminal.store)

    credential, snapshot = apisign.verify_reading(request, lookup=authentication.lookup, read=risk_keys)
    return authentication.user_for(credential, snapshot), credential


class IsTerminal(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, TerminalPrincipal)


def terminal_of(request) -> Terminal:
    return request.user.terminal
