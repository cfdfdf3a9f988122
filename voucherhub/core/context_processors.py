from voucherhub.core.roles import ROLE_LABELS, roles_of


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    roles = roles_of(user) if user is not None else []
    return {"vh_roles": roles, "vh_role_labels": [ROLE_LABELS[r] for r in roles]}
