"""The admin's sidebar, organised by ops' tasks instead of by Django app: nine sections (products and
stock, supply, channels, marketing, orders and settlement, redemption, risk control, audit, system), each with its models in
the order ops use them. UNFOLD["SIDEBAR"]["navigation"] points here; unfold calls it per request.

A link shows only to a user who may view (or change) its model, and a section with no such link is left
out, so a role never sees a heading it cannot open. Every registered model is in exactly one section
(tests/core/test_admin_nav.py); a new model admin needs a line here. Pages that are no model's list (the
analytics dashboards) are registered by their app with `page_link_add` and shown first."""

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import pgettext_lazy

SECTIONS = [
    (
        pgettext_lazy("admin section", "Products & stock"),
        "inventory_2",
        ["catalog.product", "catalog.sku", "catalog.importjob", "catalog.codebatch", "catalog.cardcode", "catalog.supplier"],
    ),
    (
        pgettext_lazy("admin section", "Supply"),
        "local_shipping",
        [
            "supply.upstream",
            "supply.upstreamproduct",
            "supply.topupprofile",
            "supply.topup",
            "supply.supplyalert",
            "supply.supplycallback",
            "supply.statementimport",
            "supply.statementdifference",
            "supply.replenishment",
        ],
    ),
    (
        pgettext_lazy("admin section", "Channels"),
        "hub",
        [
            "channels.distributor",
            "channels.distributorstaff",
            "channels.distributorlevel",
            "channels.levelchange",
            "channels.invitation",
            "channels.priceentry",
            "channels.priceviolation",
            "channels.productpool",
            "channels.quota",
            "channels.quotamovement",
            "channels.commissionrule",
            "channels.storefront",
            "channels.apikey",
            "channels.codesale",
        ],
    ),
    (
        pgettext_lazy("admin section", "Marketing"),
        "campaign",
        [
            "marketing.campaign",
            "marketing.coupon",
            "marketing.groupbuy",
            "marketing.referral",
            "marketing.issuance",
            "marketing.campaignuse",
            "marketing.consumer",
        ],
    ),
    (
        pgettext_lazy("admin section", "Orders & settlement"),
        "receipt_long",
        [
            "settlement.order",
            "settlement.payment",
            "settlement.paymentcallback",
            "settlement.codeissue",
            "settlement.refundpayout",
            "settlement.wallet",
            "settlement.transfer",
            "settlement.withdrawal",
            "settlement.commissionaccrual",
            "settlement.entry",
            "settlement.statement",
            "settlement.merchantstatement",
            "settlement.exportjob",
            "settlement.webhookdelivery",
        ],
    ),
    (
        pgettext_lazy("admin section", "Redemption"),
        "qr_code_scanner",
        [
            "redemption.redemption",
            "redemption.redemptionattempt",
            "redemption.merchant",
            "redemption.store",
            "redemption.terminal",
            "redemption.merchantclerk",
            "redemption.merchantskuprice",
            "redemption.holderlink",
            "redemption.remindersent",
        ],
    ),
    (
        pgettext_lazy("admin section", "Risk control"),
        "shield",
        [
            "riskcontrol.riskalert",
            "riskcontrol.riskevent",
            "riskcontrol.riskrule",
            "riskcontrol.risklist",
            "riskcontrol.risklistentry",
            "riskcontrol.sourcelock",
            "riskcontrol.verificationfailure",
            "riskcontrol.risksettings",
        ],
    ),
    (
        pgettext_lazy("admin section", "Audit"),
        "history",
        ["core.auditlog", "axes.accesslog", "axes.accessattempt", "axes.accessfailurelog"],
    ),
    (
        pgettext_lazy("admin section", "System"),
        "settings",
        [
            "auth.user",
            "auth.group",
            "otp_totp.totpdevice",
            "django_q.schedule",
            "django_q.ormq",
            "django_q.success",
            "django_q.failure",
        ],
    ),
]


@dataclass(frozen=True)
class PageLink:
    """A link to a page that is no model's change list (a dashboard), shown above the model sections."""

    section: str
    icon: str
    title: str
    url_name: str
    allowed: Callable  # allowed(user) -> bool


PAGE_LINKS: list[PageLink] = []


def page_link_add(*, section, icon: str, title, url_name: str, allowed: Callable) -> None:
    """Register a page link (the owning app calls this in its AppConfig.ready(): core imports no app)."""
    link = PageLink(section=section, icon=icon, title=title, url_name=url_name, allowed=allowed)
    if all(existing.url_name != url_name for existing in PAGE_LINKS):
        PAGE_LINKS.append(link)


def _page_sections(user) -> list[dict]:
    sections: dict[str, dict] = {}
    for link in PAGE_LINKS:
        if not link.allowed(user):
            continue
        group = sections.setdefault(str(link.section), {"title": link.section, "icon": link.icon, "separator": True, "items": []})
        group["items"].append(
            {"title": link.title, "link": reverse(link.url_name), "permission": lambda request, link=link: link.allowed(request.user)}
        )
    return list(sections.values())


def _may_view(user, model) -> bool:
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


def navigation(request) -> list[dict]:
    """The sections and links `request.user` may open, for unfold's sidebar."""
    user = request.user
    groups = _page_sections(user)
    for title, icon, labels in SECTIONS:
        items = []
        for label in labels:
            model = apps.get_model(label)
            if model not in admin.site._registry or not _may_view(user, model):
                continue
            opts = model._meta
            items.append(
                {
                    "title": capfirst(opts.verbose_name_plural),
                    "link": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
                    "permission": lambda request, model=model: _may_view(request.user, model),
                }
            )
        if items:
            groups.append({"title": title, "icon": icon, "separator": True, "items": items})
    return groups
