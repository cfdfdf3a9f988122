"""Demo users, one per role. Every app adds its own demo rows in `<app>/demo.py`."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from voucherhub.core import roles

DEMO_PASSWORD = "VoucherHub-demo-2026"


def demo_user(username: str, role: str, *, staff: bool = False, email: str = ""):
    """Create (or keep) a demo user in `role` with the demo password."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": email or f"{username}@demo.voucherhub.local", "is_staff": staff}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def seed(out) -> None:
    roles.roles_sync()
    demo_user("ops", roles.OPS, staff=True)
    demo_user("finance", roles.FINANCE, staff=True)
    out.write("demo users: ops, finance")
