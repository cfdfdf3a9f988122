"""Signed-request authentication for the distributor API (the scheme lives in voucherhub.core.apisign)."""

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from channels.models import ApiKey, Distributor, DistributorLevel
from voucherhub.core import prepared
from voucherhub.core.apisign import Credential, SignatureError, SignedRequestAuthentication, verify
from voucherhub.core.sealing import SealError

TOUCH_EVERY = timedelta(seconds=60)  # api_key_touch's own interval


@dataclass(frozen=True)
class ApiPrincipal:
    """request.user for a signed API request: the distributor the key belongs to."""

    distributor: Distributor
    key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> str:
        """Who the caller is to per-user limits (risk control's hourly reveal limit keys on it): the distributor's
        API use as a whole, so issuing more keys gives no more allowance. Not a number, so never a user's id."""
        return f"api-distributor:{self.distributor.pk}"

    def get_username(self) -> str:
        return f"api:{self.key.key_id}"

    def audit_names(self) -> list[str]:
        """The actor names the audit log gives this caller's rows (one per key of the distributor): a principal
        that is no user has no actor id there, so risk control counts its past reveals by these."""
        return [f"api:{key_id}" for key_id in self.distributor.api_keys.values_list("key_id", flat=True)]

    def __str__(self) -> str:
        return self.get_username()


class DistributorKeyAuthentication(SignedRequestAuthentication):
    """A distributor's API key. A key of a distributor that is not active counts as revoked."""

    def authenticate(self, request):
        # The API has no other way in: an unsigned request is told which headers are missing.
        credential = verify(request._request, lookup=self.lookup)
        return self.user_for(credential), credential

    def lookup(self, key_id: str) -> Credential | None:
        from channels.services import api_key_secret

        key = _key_with_distributor(key_id)
        if key is None:
            return None
        try:
            secret = api_key_secret(key)
        except SealError:
            raise SignatureError("unknown_key", _("This API key can no longer be opened; issue a new one."))
        active = key.usable and key.distributor.status == Distributor.Status.ACTIVE
        return Credential(key_id=key.key_id, secret=secret, active=active, ip_allowlist=tuple(key.ip_allowlist or ()), principal=key)

    def user_for(self, credential: Credential):
        from channels.services import api_key_touch

        key = credential.principal
        # The key row was read just now: when it was touched within the minute api_key_touch's UPDATE
        # would change nothing, so skip that round trip (most requests of a busy client).
        if key.last_used_at is None or timezone.now() - key.last_used_at >= TOUCH_EVERY:
            api_key_touch(key=key)
        return ApiPrincipal(distributor=key.distributor, key=key)


def _key_with_distributor(key_id: str) -> ApiKey | None:
    """The key with its distributor and level, read fresh on every request (a revoked key or a suspended
    distributor stops at once). On PostgreSQL one prepared statement, the same objects as
    `select_related("distributor__level")` without compiling the query each time."""
    if not prepared.available():
        return ApiKey.objects.select_related("distributor__level").filter(key_id=key_id).first()
    rows = prepared.run(_key_sql(), [key_id])
    if not rows:
        return None
    (load_key, n_key), (load_distributor, n_distributor), (load_level, _n) = (
        prepared.loader(ApiKey),
        prepared.loader(Distributor),
        prepared.loader(DistributorLevel),
    )
    row = rows[0]
    key = load_key(row[:n_key])
    distributor = load_distributor(row[n_key : n_key + n_distributor])
    distributor.level = load_level(row[n_key + n_distributor :])
    key.distributor = distributor
    return key


@cache
def _key_sql() -> str:  # noqa: N802 - a constant built once the models are ready
    return (
        f"SELECT {prepared.select_list(ApiKey, 'k')}, {prepared.select_list(Distributor, 'd')}, "
        f"{prepared.select_list(DistributorLevel, 'l')} "
        f"FROM {ApiKey._meta.db_table} k JOIN {Distributor._meta.db_table} d ON d.id = k.distributor_id "
        f"JOIN {DistributorLevel._meta.db_table} l ON l.id = d.level_id WHERE k.key_id = %s"
    )


class DistributorKeyScheme(OpenApiAuthenticationExtension):
    target_class = "channels.api_auth.DistributorKeyAuthentication"
    name = "VHSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-VH-Key",
            "description": (
                "Signed requests. Send X-VH-Key (key id), X-VH-Timestamp (unix seconds, ±300 s), X-VH-Nonce "
                "(unique per key within the window) and X-VH-Signature = hex HMAC-SHA256(secret, METHOD \\n "
                "PATH_WITH_QUERY \\n TIMESTAMP \\n NONCE \\n hex SHA-256(body)). Failures answer 401 with codes "
                "missing_signature, unknown_key, revoked_key, stale_timestamp, bad_signature, replayed_nonce, "
                "ip_not_allowed. See docs/api-signing.md."
            ),
        }
