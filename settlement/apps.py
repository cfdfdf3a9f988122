from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _schedules(sender, **kwargs):
    from settlement.tasks import schedules_ensure

    schedules_ensure()


def _review_decided(sender, event=None, decision=None, reference="", note="", actor=None, **kwargs):
    """Risk review decided on a purchase: a held order continues (delivered) or is refunded."""
    from settlement.services.orders import order_hold_decide

    if reference:
        order_hold_decide(reference=reference, approved=decision == "approved", actor=actor, note=note or "")


def _topup_finished(sender, reference="", status="", delivered_value=None, face_value=None, cost=None, **kwargs):
    """Supply's final word on a top-up (sent after its commit): the order's money moves (services/topups.py)."""
    from settlement.services.topups import topup_order_settle

    if reference:
        topup_order_settle(reference=reference, status=status, delivered_value=delivered_value, face_value=face_value, cost=cost)


def _group_completed(sender, order_refs=(), **kwargs):
    """Marketing's group buy filled: deliver its members' paid orders (services/group_orders.py)."""
    from settlement.services.group_orders import group_orders_deliver

    group_orders_deliver(order_refs=order_refs)


def _group_failed(sender, order_refs=(), **kwargs):
    """Marketing's group buy ran out of time unfilled: refund every member in full (services/group_orders.py)."""
    from settlement.services.group_orders import group_orders_refund

    group_orders_refund(order_refs=order_refs)


FINANCE_PERMISSIONS = [
    "settlement.view_order",
    "settlement.refund_order",
    "settlement.view_wallet",
    "settlement.topup_wallet",
    "settlement.set_credit_limit",
    "settlement.view_account",
    "settlement.view_transfer",
    "settlement.view_entry",
    "settlement.view_payment",
    "settlement.confirm_payment",
    "settlement.view_paymentcallback",
    "settlement.view_commissionaccrual",
    "settlement.view_withdrawal",
    "settlement.decide_withdrawal",
    "settlement.view_statement",
    "settlement.reconcile_statement",
    "settlement.view_exportjob",
    "settlement.export_finance",
    "settlement.view_merchantstatement",
    "settlement.view_merchantstatementline",
    "settlement.reconcile_merchantstatement",
    "settlement.view_refundpayout",
    "settlement.record_refund_payout",
    "settlement.view_codeissue",
]
OPS_PERMISSIONS = [
    "settlement.view_order",
    "settlement.refund_order",
    "settlement.replace_code",
    "settlement.view_webhookdelivery",
    "settlement.view_codeissue",
]


def _links_add() -> None:
    """Settlement's links in the menus of apps below it (registries: they never import settlement)."""
    from channels.portal_menu import portal_link_add
    from redemption.console_menu import console_link_add
    from redemption.holder_actions import holder_action_add
    from settlement.aftersales_views import holder_report_url
    from settlement.selectors.merchant_statements import clerk_sees_statements

    # The merchant console links to settlement's statements page.
    console_link_add(url_name="settlement:console-statements", label=_("Statements"), visible=clerk_sees_statements)
    # The distributor portal's one menu lists settlement's money pages.
    portal_link_add(url_name="settlement:portal-buy", label=_("Buy codes"), group="sales", order=10)
    portal_link_add(url_name="settlement:portal-orders", label=_("Orders"), group="sales", order=20, also=("settlement:portal-order",))
    portal_link_add(url_name="settlement:portal-wallet", label=_("Wallet"), group="money", order=10)
    portal_link_add(url_name="settlement:portal-commission", label=_("Commission"), group="money", order=20)
    portal_link_add(url_name="settlement:portal-withdrawals", label=_("Withdrawals"), group="money", order=30)
    portal_link_add(
        url_name="settlement:portal-statements", label=_("Statements"), group="money", order=40, also=("settlement:portal-statement",)
    )
    # The consumer's private code page offers "Report a problem".
    holder_action_add(key="settlement.report", label=_("Report a problem"), url_for=holder_report_url)


def _signals_connect(config) -> None:
    """What settlement hears from below: risk review's decisions on held orders, supply's top-up outcomes,
    marketing's group buys ending."""
    from marketing import signals as marketing_signals
    from riskcontrol.signals import review_decided
    from supply.signals import topup_finished

    post_migrate.connect(_schedules, sender=config, dispatch_uid="settlement.schedules")
    review_decided.connect(_review_decided, dispatch_uid="settlement.review_decided")
    # Supply tells the outcome of a top-up: deliver, refund or both in part.
    topup_finished.connect(_topup_finished, dispatch_uid="settlement.topup_finished")
    # Marketing's group buys: delivered when full, refunded in full when they fail.
    marketing_signals.group_completed.connect(_group_completed, dispatch_uid="settlement.group_completed")
    marketing_signals.group_failed.connect(_group_failed, dispatch_uid="settlement.group_failed")
    # issue: a targeted issuance's free codes, as zero-price orders booked to marketing expense.
    from settlement.services.giveaways import free_codes_wanted

    marketing_signals.free_codes_wanted.connect(free_codes_wanted, dispatch_uid="settlement.free_codes_wanted")


class SettlementConfig(AppConfig):
    name = "settlement"
    verbose_name = _("Settlement")

    def ready(self) -> None:
        from settlement import checks  # noqa: F401 (registers the deploy checks)
        from settlement.audit_actions import AUDIT_ACTIONS
        from settlement.models import ExportJob
        from settlement.services.exports import export_give_up, export_requeue
        from voucherhub.core import roles
        from voucherhub.core.audit import audit_actions_register
        from voucherhub.core.jobs import jobs_register

        audit_actions_register(AUDIT_ACTIONS)
        jobs_register(model=ExportJob, requeue=export_requeue, give_up=export_give_up)
        roles.grant(roles.FINANCE, FINANCE_PERMISSIONS)
        roles.grant(roles.OPS, OPS_PERMISSIONS)
        _links_add()
        _signals_connect(self)
