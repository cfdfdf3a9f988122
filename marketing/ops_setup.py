"""What ops' side of marketing declares at start-up (called from MarketingConfig.ready): the permissions of the ops
and finance roles, the labels of the audit codes written by marketing's services, the django-q2 schedules of the
marketing jobs, and the links in the distributor portal's menu."""

from importlib import import_module

from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "marketing.campaign.create": _("Campaign created"),
    "marketing.campaign.change": _("Campaign changed"),
    "marketing.campaign.activate": _("Campaign activated"),
    "marketing.campaign.pause": _("Campaign paused"),
    "marketing.campaign.resume": _("Campaign resumed"),
    "marketing.campaign.end": _("Campaign ended"),
    "marketing.campaign.export": _("Campaign results exported"),
    "marketing.campaign.bundle": _("Bundle components changed"),
}

_MODELS = [
    "consumer",
    "campaign",
    "flashslot",
    "flashreservation",
    "bundleitem",
    "issuance",
    "issuancerecipient",
    "referrallink",
    "referral",
    "coupon",
    "groupbuy",
    "groupmember",
    "campaignuse",
]
_EDITABLE = {"campaign", "flashslot", "bundleitem", "issuance"}
OPS_PERMISSIONS = [
    *[f"marketing.view_{model}" for model in _MODELS],
    *[f"marketing.{verb}_{model}" for model in sorted(_EDITABLE) for verb in ("add", "change")],
    "marketing.change_groupbuy",  # complete an unfilled group when the campaign allows it, retry its refunds
]
# Finance reads campaigns and their results (the results page and its export need view_campaign).
FINANCE_PERMISSIONS = ["marketing.view_campaign", "marketing.view_campaignuse", "marketing.view_coupon", "marketing.view_groupbuy"]

# (name, functions in order of preference, minutes). The first function that exists is scheduled: the task in
# marketing/tasks.py (offers, flash and groups branches), else the service it would call (each takes only keyword
# arguments with defaults, so django-q2 may call it bare). A job with neither is left out until it is there
# (schedules_ensure runs after every migrate). Targeted issuance schedules its own (marketing/issuance_setup.py).
_TASKS, _SERVICES = "marketing.tasks", "marketing.services"
SCHEDULES = [
    ("marketing: end campaigns past their end", [f"{_TASKS}.campaigns_end_due_task", f"{_SERVICES}.campaigns.campaigns_end_due"], 1),
    ("marketing: expire coupons", [f"{_TASKS}.coupons_expire_task", f"{_SERVICES}.coupons.coupons_expire"], 10),
    (
        "marketing: reward referrals past the refund window",
        [f"{_TASKS}.referrals_reward_due_task", f"{_SERVICES}.referral.referrals_reward_due"],
        30,
    ),
    ("marketing: expire unfilled groups", [f"{_TASKS}.groups_expire_task", f"{_SERVICES}.groups.groups_expire"], 1),
    ("marketing: retry refunds of failed groups", [f"{_TASKS}.groups_refund_due_task", f"{_SERVICES}.groups.groups_refund_retry"], 5),
    (
        "marketing: release unpaid flash-sale places",
        [f"{_TASKS}.flash_reservations_expire_task", f"{_SERVICES}.flash.flash_reservations_expire"],
        1,
    ),
    ("marketing: purge old sign-in codes (daily)", [f"{_TASKS}.phone_codes_purge_task", f"{_SERVICES}.consumers.phone_codes_purge"], 1440),
]


def _importable(path: str) -> bool:
    module_name, _dot, name = path.rpartition(".")
    try:
        return callable(getattr(import_module(module_name), name, None))
    except ImportError:
        return False


def schedules_wanted() -> list[tuple[str, str, str, int]]:
    """(name, function, schedule type, minutes) of every job whose function exists, with the schedule type and
    minutes marketing/tasks.py asks for in its own SCHEDULES list ((function, schedule type, minutes) rows; "I"
    every so many minutes, "D" daily; a task only there is scheduled under its name)."""
    try:
        declared = {func: (kind, minutes) for func, kind, minutes in getattr(import_module("marketing.tasks"), "SCHEDULES", [])}
    except ImportError:
        declared = {}
    wanted, named = [], set()
    for name, candidates, minutes in SCHEDULES:
        func = next((path for path in candidates if _importable(path)), None)
        if func is not None:
            wanted.append((name, func, *declared.get(func, ("I", minutes))))
            named.update(candidates)
    for func, (kind, minutes) in declared.items():
        if func not in named and _importable(func):
            wanted.append((f"marketing: {func.rpartition('.')[2]}", func, kind, minutes))
    return wanted


def schedules_ensure() -> list[str]:
    """Create (or fix) the marketing jobs' schedules. Idempotent; returns the functions scheduled."""
    from django_q.models import Schedule

    scheduled = []
    for name, func, kind, minutes in schedules_wanted():
        every = {"schedule_type": Schedule.MINUTES, "minutes": minutes} if kind == Schedule.MINUTES else {"schedule_type": kind}
        Schedule.objects.update_or_create(name=name, defaults={"func": func, "repeats": -1, **every})
        scheduled.append(func)
    return scheduled


def _after_migrate(sender, **kwargs):
    schedules_ensure()


def _portal_links() -> None:
    from channels.portal_menu import portal_link_add

    portal_link_add(
        url_name="marketing:portal-campaigns",
        label=_("Campaigns"),
        group="sales",
        order=60,
        also=("marketing:portal-campaign-new", "marketing:portal-campaign-results"),
    )


def ops_ready(app_config) -> None:
    from voucherhub.core import roles
    from voucherhub.core.audit import audit_actions_register

    audit_actions_register(AUDIT_ACTIONS)
    audit_actions_register(import_module("marketing.services.groups").AUDIT_ACTIONS)  # groups: ops' complete / fail
    roles.grant(roles.OPS, OPS_PERMISSIONS)
    roles.grant(roles.FINANCE, FINANCE_PERMISSIONS)
    _portal_links()
    post_migrate.connect(_after_migrate, sender=app_config, dispatch_uid="marketing.ops_after_migrate")
