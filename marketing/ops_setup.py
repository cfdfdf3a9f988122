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

# (name, "module.function", minutes). The functions live in marketing/tasks.py (offers, flash, groups and issue
# branches); a job whose function is not there yet is left out until it is (schedules_ensure runs after migrate).
SCHEDULES = [
    ("marketing: end campaigns past their end", "marketing.tasks.campaigns_end_due_task", 1),
    ("marketing: expire coupons", "marketing.tasks.coupons_expire_task", 15),
    ("marketing: reward referrals past the refund window", "marketing.tasks.referrals_reward_due_task", 15),
    ("marketing: expire unfilled groups", "marketing.tasks.groups_expire_task", 1),
    ("marketing: retry refunds of failed groups", "marketing.tasks.groups_refund_due_task", 5),
    ("marketing: release unpaid flash-sale places", "marketing.tasks.flash_reservations_expire_task", 1),
    ("marketing: resume interrupted issuances", "marketing.tasks.issuances_resume_task", 5),
]


def _importable(path: str) -> bool:
    module_name, _dot, name = path.rpartition(".")
    try:
        return callable(getattr(import_module(module_name), name, None))
    except ImportError:
        return False


def schedules_wanted() -> list[tuple[str, str, int]]:
    """This module's schedules, with the minutes marketing/tasks.py asks for in its own SCHEDULES list
    ((function, schedule type, minutes) rows; a function only there is scheduled under its own name), keeping only
    the functions that exist."""
    try:
        declared = list(getattr(import_module("marketing.tasks"), "SCHEDULES", []))
    except ImportError:
        declared = []
    wanted = {func: [name, minutes] for name, func, minutes in SCHEDULES}
    for func, _type, minutes in declared:
        wanted.setdefault(func, [f"marketing: {func.rpartition('.')[2]}", minutes])[1] = minutes
    return [(name, func, minutes) for func, (name, minutes) in wanted.items() if _importable(func)]


def schedules_ensure() -> list[str]:
    """Create (or fix) the marketing jobs' schedules. Idempotent; returns the functions scheduled."""
    from django_q.models import Schedule

    scheduled = []
    for name, func, minutes in schedules_wanted():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )
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
