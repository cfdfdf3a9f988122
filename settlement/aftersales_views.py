"""After-sales report pages: a distributor reports a code of its own order in the portal; a consumer reports
a code from its private code page or the order lookup result.

The consumer's way in is a signed, time-limited token naming the order code (made when the private page or
the lookup result is shown to the holder), never a guessable id. A distributor's way in is its own order
number: `order_get` answers 404 for anyone else's, and the item must belong to that order.
"""

from django.contrib import messages
from django.core import signing
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from catalog.models import CardCode
from channels.views import portal_view
from settlement import forms
from settlement.errors import OrderNotFound
from settlement.models import CodeIssue, Order, OrderItem
from settlement.selectors import orders as order_selectors
from settlement.services.aftersales import code_issue_report, code_issue_reportable
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip

_SALT = "settlement.aftersales.report"
TOKEN_MAX_AGE = 2 * 24 * 3600  # the page that made the link is fresh; a forwarded old link stops working


def report_token(item: OrderItem) -> str:
    return signing.dumps(item.pk, salt=_SALT, compress=True)


def _item_for_token(token: str) -> OrderItem:
    try:
        pk = signing.loads(token, salt=_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:  # also SignatureExpired
        raise Http404
    item = (
        OrderItem.objects.select_related("code", "order__sku").filter(pk=pk, order__channel=Order.Channel.STOREFRONT).first()
        if isinstance(pk, int)
        else None
    )
    if item is None:
        raise Http404
    return item


def consumer_report_url(item: OrderItem) -> str:
    return reverse("settlement:consumer-report", kwargs={"token": report_token(item)})


def holder_report_url(holding) -> str | None:
    """For the private code page (registered with redemption): the report page of a held, unused storefront code."""
    if holding.code.status != CardCode.Status.SOLD:
        return None
    item = (
        OrderItem.objects.filter(code_id=holding.code_id, state=OrderItem.State.DELIVERED, order__channel=Order.Channel.STOREFRONT)
        .only("pk")
        .first()
    )
    return consumer_report_url(item) if item else None


def lookup_report_links(order: Order) -> list[tuple[str, str]]:
    """(hint, report URL) of the order's delivered unused codes, for the lookup result page."""
    items = order_selectors.order_delivered_items(order)
    return [(item.code.hint, consumer_report_url(item)) for item in items if code_issue_reportable(item)]


def _form_error(form, error: DomainError) -> None:
    form.add_error(error.field if error.field in form.fields else None, str(error.message))


@never_cache
def consumer_report(request, token: str):
    item = _item_for_token(token)
    cases = list(item.issues.order_by("-id"))
    form = forms.CodeIssueForm(request.POST or None)
    case = None
    if request.method == "POST" and form.is_valid():
        try:
            case = code_issue_report(
                item=item, reason=form.cleaned_data["reason"], details=form.cleaned_data["details"], ip=client_ip(request)
            )
        except DomainError as error:
            _form_error(form, error)
        else:
            cases.insert(0, case)
    context = {
        "item": item,
        "order": item.order,
        "form": form,
        "case": case,
        "cases": cases,
        "reportable": code_issue_reportable(item) and not any(c.is_open for c in cases),
    }
    response = render(request, "settlement/shop/report.html", context, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store, private"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_POST
@portal_view
def portal_code_report(request, number: str, item_id: int):
    try:
        order = order_selectors.order_get(request.distributor, number)
    except OrderNotFound:
        raise Http404
    item = order.items.select_related("code").filter(pk=item_id).first()
    if item is None:
        raise Http404
    form = forms.CodeIssueForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    else:
        try:
            case = code_issue_report(
                item=item,
                reason=form.cleaned_data["reason"],
                details=form.cleaned_data["details"],
                distributor=request.distributor,
                user=request.user,
                ip=client_ip(request),
            )
        except DomainError as error:
            messages.error(request, str(error.message))
        else:
            text = _("Thank you. Case #%(pk)s about code %(hint)s is open; we will answer here.")
            messages.success(request, text % {"pk": case.pk, "hint": case.code_hint})
    return redirect("settlement:portal-order", number=order.number)


def portal_order_cases(order: Order) -> dict:
    """For the portal order page: the order's cases by item id, newest first."""
    by_item: dict[int, list[CodeIssue]] = {}
    for case in order.code_issues.order_by("-id"):
        by_item.setdefault(case.item_id, []).append(case)
    return by_item
