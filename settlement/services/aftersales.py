"""After-sales (售后): a buyer reports a bad code; operations replaces it, refunds it or rejects the report.

The buyer is a distributor (portal orders and API orders: the codes were delivered to it) or a consumer
(storefront orders: the caller proved access with the signed private link or the order lookup). The
resolutions reuse the order services: `order_code_replace` voids the old code and delivers a new one
(a consumer gets a new private link by mail), `order_refund(item=...)` voids the code, reverses the sale
and claws the commission back. Each resolution is permission-checked and happens once: resolving a
closed case again returns it unchanged.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.codetext import text_code_guard, text_codes_mask, text_mentions_code
from catalog.models import CardCode
from settlement.errors import CodeNotReportable, IssueAlreadyOpen, SettlementError
from settlement.models import CodeIssue, Order, OrderItem
from settlement.services.orders import order_code_replace, order_refund
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import PermissionDenied

REPLACE_PERMISSION = "settlement.replace_code"
REFUND_PERMISSION = "settlement.refund_order"  # what the order admin's Refund action checks


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def code_issue_reportable(item: OrderItem) -> bool:
    """A code can be reported while it is delivered and not used (redeemed, voided, refunded codes cannot)."""
    return item.state == OrderItem.State.DELIVERED and item.code.status == CardCode.Status.SOLD


@transaction.atomic
def code_issue_report(*, item: OrderItem, reason: str, details: str = "", distributor=None, user=None, ip: str | None = None) -> CodeIssue:
    """Open a case about one delivered code. With `distributor`: a portal report, only for a code delivered to
    that distributor (its own portal or API order). Without: a consumer report for a storefront order; the
    caller has checked the signed link. One open case per code; the report is audited with the code's hint."""
    item = OrderItem.objects.select_for_update().select_related("code", "order").get(pk=item.pk)
    order = item.order
    if distributor is not None:
        if order.distributor_id != distributor.pk or order.channel == Order.Channel.STOREFRONT:
            raise CodeNotReportable(_("This code was not delivered to you."), field="item")
        reporter = CodeIssue.Reporter.DISTRIBUTOR
    else:
        if order.channel != Order.Channel.STOREFRONT:
            raise CodeNotReportable(_("This code was not delivered to you."), field="item")
        reporter = CodeIssue.Reporter.CONSUMER
    if reason not in CodeIssue.Reason.values:
        raise SettlementError(_("Choose what is wrong with the code."), field="reason")
    details = (details or "").strip()
    if len(details) > 1000:
        raise SettlementError(_("Keep the description under 1000 characters."), field="details")
    if not code_issue_reportable(item):
        raise CodeNotReportable(field="item")
    # The reported code in any spelling (dots, no check symbol, zero-width spaces), and any other code of the vault.
    if text_mentions_code(details, code=item.code):
        raise SettlementError(_("Do not type the code itself: we know which code you mean."), field="details")
    if CodeIssue.objects.filter(item=item, status=CodeIssue.Status.OPEN).exists():
        raise IssueAlreadyOpen(field="item")
    try:
        with transaction.atomic():
            case = CodeIssue.objects.create(
                order=order,
                item=item,
                code_hint=item.code.hint,
                reporter=reporter,
                reported_by=_user(user),
                reason=reason,
                details=details,
            )
    except IntegrityError:  # a concurrent report of the same code won the unique constraint
        raise IssueAlreadyOpen(field="item")
    audit_record(
        actor=_user(user),
        action="aftersales.report",
        obj=case,
        ip=ip,
        reason=reason,
        data={"order": order.number, "hint": item.code.hint, "reporter": reporter},
    )
    return case


def _locked_open(case: CodeIssue, *, actor, permission: str) -> CodeIssue | None:
    """The locked case if it is still open and `actor` may resolve it; None if it was already closed."""
    if not getattr(actor, "has_perm", None) or not actor.has_perm(permission):
        raise PermissionDenied(_("You may not resolve after-sales cases this way."))
    case = CodeIssue.objects.select_for_update().select_related("order", "item").get(pk=case.pk)
    return case if case.is_open else None


# Whole codes, not f"aftersales.{status}": ops search the log by them and each one has a label.
_CLOSE_ACTIONS = {
    CodeIssue.Status.REPLACED: "aftersales.replaced",
    CodeIssue.Status.REFUNDED: "aftersales.refunded",
    CodeIssue.Status.REJECTED: "aftersales.rejected",
}


def _close(case: CodeIssue, *, status: str, actor, note: str, replacement: OrderItem | None = None) -> CodeIssue:
    case.status = status
    case.resolution_note = (note or "")[:300]
    case.resolved_by = _user(actor)
    case.resolved_at = timezone.now()
    case.replacement = replacement
    case.save(update_fields=["status", "resolution_note", "resolved_by", "resolved_at", "replacement", "updated_at"])
    audit_record(
        actor=_user(actor),
        action=_CLOSE_ACTIONS[status],
        obj=case,
        reason=case.resolution_note,
        data={"order": case.order.number, "hint": case.code_hint, "replacement": replacement.pk if replacement else None},
    )
    return case


def _why(case: CodeIssue, note: str) -> str:
    text = _("After-sales case #%(pk)s: %(reason)s") % {"pk": case.pk, "reason": case.get_reason_display()}
    return f"{text}. {note}".strip() if note else text


@transaction.atomic
def code_issue_replace(*, case: CodeIssue, actor, note: str = "") -> CodeIssue:
    """Void the reported code and deliver a new one (the buyer sees it where it saw the first); close the case."""
    text_code_guard(text=note, field="note")
    locked = _locked_open(case, actor=actor, permission=REPLACE_PERMISSION)
    if locked is None:
        return CodeIssue.objects.get(pk=case.pk)
    new_item = order_code_replace(item=locked.item, actor=actor, reason=_why(locked, note))
    return _close(locked, status=CodeIssue.Status.REPLACED, actor=actor, note=note, replacement=new_item)


@transaction.atomic
def code_issue_refund(*, case: CodeIssue, actor, note: str = "") -> CodeIssue:
    """Refund the reported code (voided, money back, commission clawed back as any refund); close the case."""
    text_code_guard(text=note, field="note")
    locked = _locked_open(case, actor=actor, permission=REFUND_PERMISSION)
    if locked is None:
        return CodeIssue.objects.get(pk=case.pk)
    order_refund(order=locked.order, actor=actor, reason=_why(locked, note), item=locked.item)
    return _close(locked, status=CodeIssue.Status.REFUNDED, actor=actor, note=note)


@transaction.atomic
def code_issue_reject(*, case: CodeIssue, actor, note: str) -> CodeIssue:
    """Close the case without changing the code or the money; the note says why (the buyer sees it)."""
    if not (note or "").strip():
        raise SettlementError(_("Say why the report is rejected."), field="note")
    text_code_guard(text=note, field="note")
    locked = _locked_open(case, actor=actor, permission=REPLACE_PERMISSION)
    if locked is None:
        return CodeIssue.objects.get(pk=case.pk)
    return _close(locked, status=CodeIssue.Status.REJECTED, actor=actor, note=note.strip())


def code_issues_holding_codes() -> list[int]:
    """Ids of the cases whose details or resolution note hold a card code (typed before the guard caught all spellings)."""
    rows = CodeIssue.objects.order_by("pk").values_list("pk", "details", "resolution_note")
    return [pk for pk, details, note in rows.iterator(chunk_size=500) if text_mentions_code(details) or text_mentions_code(note)]


@transaction.atomic
def code_issue_mask_codes(*, case_id: int, actor=None) -> int:
    """Replace every card code in the case's details and resolution note by its masked hint; how many were masked.

    Audited with the count only (never the text). Running it again on a masked case changes nothing."""
    case = CodeIssue.objects.select_for_update().get(pk=case_id)
    case.details, in_details = text_codes_mask(case.details)
    case.resolution_note, in_note = text_codes_mask(case.resolution_note)
    if in_details + in_note:
        case.save(update_fields=["details", "resolution_note", "updated_at"])
        audit_record(
            actor=_user(actor), action="aftersales.masked", obj=case, data={"order_id": case.order_id, "masked": in_details + in_note}
        )
    return in_details + in_note
