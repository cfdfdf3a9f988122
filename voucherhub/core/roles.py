"""Roles are Django groups. Each app declares, in its AppConfig.ready(), which permissions a role gets
and (for the role it serves) where that role lands after login. `roles_sync()` makes the groups match."""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

OPS = "ops"
FINANCE = "finance"
DISTRIBUTOR = "distributor"
MERCHANT = "merchant"

ROLE_LABELS = {OPS: _("Operations"), FINANCE: _("Finance"), DISTRIBUTOR: _("Distributor"), MERCHANT: _("Merchant")}
# Order matters: a user in several groups lands on the first role's home.
ROLE_ORDER = [OPS, FINANCE, DISTRIBUTOR, MERCHANT]


@dataclass
class _Registry:
    permissions: dict[str, set[str]] = field(default_factory=lambda: {role: set() for role in ROLE_ORDER})
    homes: dict[str, str] = field(default_factory=dict)


_registry = _Registry()


def grant(role: str, perms: list[str]) -> None:
    """Declare that `role` holds `perms` ("app_label.codename")."""
    _registry.permissions[role].update(perms)


def set_home(role: str, url_name: str) -> None:
    _registry.homes[role] = url_name


def role_permissions(role: str) -> set[str]:
    return set(_registry.permissions[role])


def roles_of(user) -> list[str]:
    if not user.is_authenticated:
        return []
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in ROLE_ORDER if role in names]


def home_url_name(user) -> str:
    for role in roles_of(user):
        if role in _registry.homes:
            return _registry.homes[role]
    if user.is_superuser:
        return _registry.homes.get(OPS, "admin:index")
    return "account"


def roles_sync() -> None:
    """Create the groups and give them exactly the declared permissions (run after every migrate)."""
    from django.contrib.auth.models import Group, Permission

    rows = Permission.objects.values_list("pk", "content_type__app_label", "codename")
    known = {f"{app_label}.{codename}": pk for pk, app_label, codename in rows}
    for role in ROLE_ORDER:
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set(sorted(known[label] for label in _registry.permissions[role] if label in known))


def has_role(user, role: str) -> bool:
    return role in roles_of(user) or (role == OPS and user.is_superuser)
