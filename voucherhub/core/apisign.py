"""The signed-request scheme shared by the distributor API and merchant terminals.

A client holds a key id and a secret. Every request carries:

    X-VH-Key:        the key id
    X-VH-Timestamp:  unix seconds; accepted within ±300 s of the server clock
    X-VH-Nonce:      random, unique per key within the window (a replay is refused)
    X-VH-Signature:  hex HMAC-SHA256(secret, METHOD \\n PATH_WITH_QUERY \\n TIMESTAMP \\n NONCE \\n hex SHA-256(body))
                     (PATH_WITH_QUERY: the request target as sent, see signed_path)

Each failure has its own error code (401): missing_signature, unknown_key, revoked_key,
stale_timestamp, bad_signature, replayed_nonce, ip_not_allowed. docs/api-signing.md has a worked example.

Spending the nonce is the one cache write every signed request makes (one round trip).

The cache is the fast path, not the record: the nonce of a state-changing request (any method but GET, HEAD,
OPTIONS) is also inserted into PostgreSQL (core.SpentNonce, unique per key id and nonce), so a replay inside
the timestamp window is refused also after Redis lost its data (a restart without persistence, FLUSHALL, a
failover). `spent_nonces_prune` (scheduled) deletes the rows whose timestamps are stale by now.
"""

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from voucherhub.core.net import client_ip

WINDOW_SECONDS = 300
HEADER_KEY = "X-VH-Key"
HEADER_TIMESTAMP = "X-VH-Timestamp"
HEADER_NONCE = "X-VH-Nonce"
HEADER_SIGNATURE = "X-VH-Signature"
MAX_NONCE_LENGTH = 64


def meta_name(header: str) -> str:
    """The request.META key of an HTTP header (X-VH-Key -> HTTP_X_VH_KEY)."""
    return "HTTP_" + header.upper().replace("-", "_")


META_KEY, META_TIMESTAMP, META_NONCE, META_SIGNATURE = map(meta_name, (HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE))
NONCE_SECONDS = 2 * WINDOW_SECONDS + 60  # a nonce is remembered for longer than a timestamp stays acceptable
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # reads: their nonces live in the cache only


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body or b"").hexdigest()


def string_to_sign(*, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join([method.upper(), path, timestamp, nonce, body_digest(body)])


def _wire_text(raw: str) -> str:
    """A WSGI "native string" (the bytes as the server received them, decoded as latin-1) as the UTF-8 text the
    client signed; bytes that are not UTF-8 stay as they came (they cannot match a signature then anyway)."""
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _origin_form(target: str) -> str:
    """A request target in absolute form (`https://host/path?q`, which a client may send) as its path and query."""
    if target.startswith("/") or "://" not in target:
        return target
    start = target.find("/", target.index("://") + 3)
    return target[start:] if start >= 0 else "/"


def signed_path(request) -> str:
    """PATH_WITH_QUERY of the string to sign: the path and query exactly as the client sent them.

    The raw request target as the server received it: RAW_URI (gunicorn), REQUEST_URI (uWSGI, mod_wsgi) or an
    ASGI server's raw_path and query_string. These come from the server, never from a request header, so a
    client cannot set them. A server that keeps none of them (runserver) only has the decoded path: it is
    percent-encoded again in the canonical form docs/api-signing.md gives (every byte of its UTF-8 except
    A-Z a-z 0-9 - . _ ~ and "/", upper-case hex), followed by the query string as received."""
    meta = request.META
    raw = meta.get("RAW_URI") or meta.get("REQUEST_URI")
    if raw:
        return _origin_form(_wire_text(raw))
    scope = getattr(request, "scope", None)
    if scope and scope.get("raw_path"):
        query = scope.get("query_string") or b""
        return _origin_form(_wire_text((scope["raw_path"] + (b"?" + query if query else b"")).decode("latin-1")))
    query = meta.get("QUERY_STRING", "")
    return quote(request.path, safe="/") + ("?" + _wire_text(query) if query else "")


def signature(*, secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method=method, path=path, timestamp=timestamp, nonce=nonce, body=body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_headers(*, key_id: str, secret: str, method: str, path: str, body: bytes = b"", timestamp=None, nonce=None) -> dict:
    """Headers for a signed request (used by tests, benchmarks, the docs and client examples)."""
    import secrets as _secrets

    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    nonce = nonce or _secrets.token_hex(16)
    return {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(secret=secret, method=method, path=path, timestamp=timestamp, nonce=nonce, body=body),
    }


@dataclass(frozen=True)
class Credential:
    """What the scheme needs to know about a key: its secret, whether it is usable, where it may be used from."""

    key_id: str
    secret: str
    active: bool
    ip_allowlist: tuple[str, ...] = ()
    principal: object = None  # the app's own object (a distributor's key, a terminal)


class SignatureError(exceptions.AuthenticationFailed):
    def __init__(self, code: str, message):
        super().__init__(detail=message, code=code)


def ip_allowed(ip: str, allowlist: Iterable[str]) -> bool:
    allowlist = [entry for entry in allowlist if entry]
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in allowlist:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def nonce_spend(*, key_id: str, nonce: str) -> bool:
    """Remember the nonce of `key_id` in the cache; False when it was already used. One round trip (Redis:
    `SET NX EX`)."""
    return cache.add(f"vh:apinonce:{key_id}:{nonce}", 1, timeout=NONCE_SECONDS)


def nonce_record(*, key_id: str, nonce: str) -> bool:
    """Keep the nonce of a state-changing request in the database; False when it was kept before (a replay).

    One INSERT ... ON CONFLICT DO NOTHING (PostgreSQL and SQLite alike): no exception, so no savepoint is
    needed inside a caller's transaction, and in autocommit it is one round trip that commits at once,
    whatever the request does next. The ORM's create() would cost a savepoint and its release around it.
    """
    from voucherhub.core.models import SpentNonce  # this module is imported before Django is set up (benchmarks, clients)

    table = connection.ops.quote_name(SpentNonce._meta.db_table)
    created_at = SpentNonce._meta.get_field("created_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key_id, nonce, created_at) VALUES (%s, %s, %s) ON CONFLICT (key_id, nonce) DO NOTHING",
            [key_id, nonce, created_at],
        )
        return cursor.rowcount == 1


def spent_nonces_prune() -> int:
    """Forget the nonces spent more than NONCE_SECONDS ago: a request carrying one is refused as stale by
    then (its timestamp was at most WINDOW_SECONDS before it was spent). Returns the rows deleted."""
    from voucherhub.core.models import SpentNonce

    cutoff = timezone.now() - timedelta(seconds=NONCE_SECONDS)
    deleted, _by_model = SpentNonce.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def verify(request, *, lookup, now: float | None = None) -> Credential:
    """Check a Django/DRF request's signature; `lookup(key_id) -> Credential | None`. Raises SignatureError."""
    meta = request.META  # what request.headers reads, without building the whole mapping of every header
    key_id = meta.get(META_KEY, "")
    timestamp = meta.get(META_TIMESTAMP, "")
    nonce = meta.get(META_NONCE, "")
    given = meta.get(META_SIGNATURE, "")
    if not (key_id and timestamp and nonce and given):
        raise SignatureError("missing_signature", _("Signed headers X-VH-Key, X-VH-Timestamp, X-VH-Nonce and X-VH-Signature are required."))
    if len(nonce) > MAX_NONCE_LENGTH:
        raise SignatureError("bad_nonce", _("X-VH-Nonce is longer than 64 characters."))

    credential = lookup(key_id)
    if credential is None:
        raise SignatureError("unknown_key", _("Unknown API key."))
    if not credential.active:
        raise SignatureError("revoked_key", _("This API key has been revoked."))

    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("stale_timestamp", _("X-VH-Timestamp must be unix seconds."))
    if abs((now if now is not None else time.time()) - sent_at) > WINDOW_SECONDS:
        raise SignatureError("stale_timestamp", _("X-VH-Timestamp is more than 300 seconds away from the server clock."))

    body = request.body if hasattr(request, "body") else b""
    expected = signature(
        secret=credential.secret, method=request.method, path=signed_path(request), timestamp=timestamp, nonce=nonce, body=body
    )
    if not hmac.compare_digest(expected, given.lower()):
        raise SignatureError("bad_signature", _("The signature does not match the request."))

    if not ip_allowed(client_ip(request), credential.ip_allowlist):
        raise SignatureError("ip_not_allowed", _("This API key may not be used from your IP address."))

    # Only a correctly signed request spends its nonce, so nobody can burn a client's nonces.
    if not nonce_spend(key_id=key_id, nonce=nonce) or (request.method not in SAFE_METHODS and not nonce_record(key_id=key_id, nonce=nonce)):
        raise SignatureError("replayed_nonce", _("This nonce was already used: the request is a replay."))
    return credential


class SignedRequestAuthentication(authentication.BaseAuthentication):
    """DRF authentication for signed requests. Subclasses say how to find a credential and its user."""

    def lookup(self, key_id: str) -> Credential | None:  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def user_for(self, credential: Credential):  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def authenticate(self, request):
        if not request.headers.get(HEADER_KEY):
            return None
        credential = verify(request._request, lookup=self.lookup)
        return self.user_for(credential), credential

    def authenticate_header(self, request) -> str:
        return 'VH-HMAC-SHA256 realm="api"'
