"""Settlement pages: the distributor portal's money pages, the storefront checkout and payment pages,
the consumer order lookup, and the finance pages. Views validate a form, call a service, redirect.

Portal pages reuse channels' `portal_view` (login, an active distributor in `request.distributor`);
every order number from a URL goes through `order_get(distributor, number)`, which answers 404 for
anyone else's order.
"""

import csv
import io
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from channels import attribution
from channels import selectors as channel_selectors
from channels.views import portal_view
from marketing.consumer_session import consumer_of
from riskcontrol.devices import device_of, device_remember
from riskcontrol.errors import ChallengeRequired, LockedOut, RiskBlocked
from riskcontrol.forms import ChallengeForm
from riskcontrol.services import challenge_new, reveal_guard
from settlement import forms, integrations, shop_offers
from settlement.adapters import SandboxAdapter, adapter_get, adapters_enabled
from settlement.aftersales_views import lookup_report_links, portal_order_cases
from settlement.errors import OrderNotFound, PaymentAdapterUnavailable
from settlement.models import CommissionAccrual, ExportJob, Order, Payment, Statement, Wallet, Withdrawal
from settlement.selectors import buying
from settlement.selectors import orders as order_selectors
from settlement.selectors import topups as topup_selectors
from settlement.selectors import wallets as wallet_selectors
from settlement.selectors.consumers import consumer_owns_order
from settlement.services import exports as export_services
from settlement.services import payments as payment_services
from settlement.services import statements as statement_services
from settlement.services import wallets as wallet_services
from settlement.services import withdrawals as withdrawal_services
from settlement.services.aftersales import code_issue_reportable
from settlement.services.contacts import contact_of
from settlement.services.lookup import order_lookup
from settlement.services.orders import order_place
from voucherhub.core.errors import DomainError
from voucherhub.core.listing import Column, ListFilterForm, list_filter, table_response
from voucherhub.core.net import client_ip


def _form_error(form, error: DomainError) -> None:
    field = error.field if error.field in form.fields else None
    if field is not None and form.fields[field].widget.is_hidden:  # a hidden field's error (the campaign) shows on top
        field = None
    form.add_error(field, str(error.message))


def _page(request, qs, per_page: int = 25):
    return Paginator(qs, per_page).get_page(request.GET.get("page"))


def _portal_list(request, qs, *, statuses=(), search=(), date_field="created_at", status_field="status"):
    """A portal list's filter (search, status, date range) applied to `qs`: (form, filtered qs or None when
    the filter is wrong; the page then answers 400 with the form's field errors)."""
    form = ListFilterForm(request.GET, statuses=statuses)
    if not form.is_valid():
        return form, None
    return form, list_filter(qs, form, search=search, date_field=date_field, status_field=status_field if statuses else None)


def _list_context(request, form, qs, per_page: int = 25) -> dict:
    if qs is None:
        return {"filter_form": form, "page": [], "filter_query": ""}
    return {"filter_form": form, "page": _page(request, qs, per_page), "filter_query": form.query()}


def _day_bounds(start, end):
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), tz),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz),
    )


def _wallet(distributor) -> Wallet:
    return wallet_services.wallet_for(distributor)


# --- Portal -----------------------------------------------------------------------------------------


@portal_view
def portal_buy(request):
    """Buy codes from the wallet in two steps: the form, then a confirmation that shows the unit price, the
    quantity, the total and the wallet balance after the order; only the confirmed form places it. Both steps
    carry the form's submit-once key, so a double click or a reload of the confirmation places one order."""
    distributor = request.distributor
    options = buying.buy_options(distributor)
    initial = {name: request.GET[name] for name in ("sku", "quantity", "account", "region") if request.GET.get(name)}  # "Change"
    form = forms.OrderForm(request.POST or None, options=options, initial=initial)
    if request.method != "POST":
        return render(request, "settlement/portal/buy.html", {"form": form, "options": options})
    if not form.is_valid():
        challenge = bool(request.POST.get("challenge_key"))  # the form is wrong: a new picture with it
        context = {"form": form, "options": options, "challenge": challenge_new() if challenge else None}
        return render(request, "settlement/portal/buy.html", context)
    sku = form.options[form.cleaned_data["sku"]].sku
    quantity = form.cleaned_data["quantity"]
    account, region = form.cleaned_data.get("account", ""), form.cleaned_data.get("region", "")
    key = form.order_key("portal", sku.code, quantity, *((account, region) if account else ()))
    placed = order_selectors.order_by_key(distributor, key)
    if placed is not None:  # this form was sent before (a double click, a reload): its order, not a second one
        messages.info(request, _("Order %(number)s was placed with this form already.") % {"number": placed.number})
        return redirect("settlement:portal-order", number=placed.number)
    try:
        quote = buying.buy_quote(distributor=distributor, wallet=_wallet(distributor), sku=sku, quantity=quantity)
    except DomainError as error:
        _form_error(form, error)
        return render(request, "settlement/portal/buy.html", {"form": form, "options": options})
    if request.POST.get("step") != "confirm":
        return render(request, "settlement/portal/buy_confirm.html", {"form": form, "quote": quote})

    def place(challenge_passed: bool) -> Order:
        return order_place(
            channel=Order.Channel.PORTAL,
            distributor=distributor,
            sku=sku,
            quantity=quantity,
            account=account,
            region=region,
            actor=request.user,
            ip=client_ip(request),
            idempotency_key=key,
            challenge_passed=challenge_passed,
        )

    order, challenge, status_code = _place_risk_checked(request, form, place)
    if order is None:  # refused or a picture to answer: the confirmation again, with the reason on it
        context = {"form": form, "quote": quote, "challenge": challenge_new() if challenge else None}
        return render(request, "settlement/portal/buy_confirm.html", context, status=status_code)
    if order.status == Order.Status.DELIVERED:
        messages.success(request, _("Order %(number)s is paid and delivered.") % {"number": order.number})
    elif order.is_topup and order.hold != Order.Hold.REVIEW:
        messages.success(request, _("Order %(number)s is paid; the top-up is under way.") % {"number": order.number})
    else:
        messages.info(request, _("Order %(number)s is paid and waits for a risk review.") % {"number": order.number})
    return redirect("settlement:portal-order", number=order.number)


ORDER_COLUMNS = [
    Column(_lazy("Order"), "text"),
    Column(_lazy("Time"), "datetime"),
    Column(_lazy("Product"), "text"),
    Column(_lazy("SKU"), "text"),
    Column(_lazy("Quantity"), "int"),
    Column(_lazy("Unit price"), "money"),
    Column(_lazy("Total"), "money"),
    Column(_lazy("Channel"), "text"),
    Column(_lazy("Status"), "text"),
]


@portal_view
def portal_orders(request):
    qs = order_selectors.orders_for(request.distributor)
    form, qs = _portal_list(request, qs, statuses=Order.Status.choices, search=["number", "sku__name", "sku__code"])
    if qs is not None and form.export_format:
        rows = (
            (
                o.number,
                o.created_at,
                o.sku.name,
                o.sku.code,
                o.quantity,
                o.unit_price,
                o.total,
                o.get_channel_display(),
                o.get_status_display(),
            )
            for o in qs.iterator()
        )
        return table_response(rows=rows, columns=ORDER_COLUMNS, name="orders", fmt=form.export_format)
    context = _list_context(request, form, qs)
    if qs is not None:  # each top-up order shows its top-up's state beside its own
        context["page"].object_list = list(context["page"].object_list)
        views = topup_selectors.topup_views(context["page"].object_list)
        for o in context["page"].object_list:
            o.topup_view = views.get(o.pk)
    return render(request, "settlement/portal/orders.html", context, status=400 if qs is None else 200)


def _place_risk_checked(request, form, place):
    """Place an order for a valid `form` through risk control's picture challenge, as a person in a browser
    can answer it. `place(challenge_passed)` places the order.

    The posted challenge (riskcontrol's fragment: challenge_key, challenge_answer) is checked first, and spent
    right or wrong; only a solved one lets the order pass a challenge. Returns (order or None, whether the page
    shows a new challenge, HTTP status): a refusal answers with the API's status (428 challenge, 403 blocked),
    so a script can tell from the status alone, and puts the reason on the form."""
    challenge_form = ChallengeForm(request.POST) if request.POST.get("challenge_key") else None
    if challenge_form is not None and not challenge_form.is_valid():
        form.add_error(None, _("The characters do not match. Try the new picture."))
        return None, True, ChallengeRequired.status
    try:
        return place(challenge_passed=challenge_form is not None), False, 200
    except ChallengeRequired as error:
        form.add_error(None, _("Please type the characters in the picture to continue."))
        return None, True, error.status
    except RiskBlocked as error:
        form.add_error(None, str(error.message))
        return None, False, error.status
    except DomainError as error:
        _form_error(form, error)
        return None, challenge_form is not None, 200


@portal_view
def portal_order(request, number: str):
    try:
        order = order_selectors.order_get(request.distributor, number)
    except OrderNotFound:
        raise Http404
    items = list(order.items.select_related("code").order_by("pk"))
    cases = portal_order_cases(order)
    reports_here = order.channel != Order.Channel.STOREFRONT  # storefront codes went to the consumer: they report them
    rows = [
        {
            "item": item,
            "cases": cases.get(item.pk, []),
            "can_report": reports_here and code_issue_reportable(item) and not any(c.is_open for c in cases.get(item.pk, [])),
        }
        for item in items
    ]
    context = {
        "order": order,
        "items": items,
        "rows": rows,
        "report_form": forms.CodeIssueForm(),
        "events": order.events.select_related("actor").order_by("pk"),
        "form": forms.SecondFactorForm(),
        "topup": topup_selectors.topup_view(order) if order.is_topup else None,
    }
    return render(request, "settlement/portal/order_detail.html", context)


@require_POST
@never_cache
@sensitive_post_parameters("password", "otp_token")
@sensitive_variables("codes", "rows")
@portal_view
def portal_order_codes(request, number: str):
    """Reveal or download the order's delivered codes after a second verification (password or TOTP)."""
    try:
        order = order_selectors.order_get(request.distributor, number)
    except OrderNotFound:
        raise Http404
    form = forms.SecondFactorForm(request.POST)
    form.is_valid()
    download = request.POST.get("mode") == "download"
    ip = client_ip(request)
    try:
        ok = integrations.second_factor_ok(
            user=request.user, password=form.cleaned_data.get("password") or None, otp_token=form.cleaned_data.get("otp_token") or None
        )
    except LockedOut as error:
        messages.error(request, str(error.message))
        return redirect("settlement:portal-order", number=order.number)
    if not ok:
        messages.error(request, _("The verification did not match. Codes were not shown."))
        return redirect("settlement:portal-order", number=order.number)
    items = order_selectors.order_delivered_items(order)
    if not items:
        messages.info(request, _("This order has no delivered codes."))
        return redirect("settlement:portal-order", number=order.number)
    try:
        reveal_guard(actor=request.user, count=len(items), ip=ip)
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("settlement:portal-order", number=order.number)
    codes = order_selectors.order_codes_reveal(
        order=order,
        actor=request.user,
        actor_label=request.distributor.name,
        ip=ip,
        reason="portal download" if download else "portal reveal",
    )
    if download:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["order", "sku", "code", "serial", "expires_at"])
        for row in codes:
            writer.writerow([order.number, order.sku.code, row["code"], row["serial"], row["expires_at"] or ""])
        response = HttpResponse(buffer.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{order.number}-codes.csv"'
        response["Cache-Control"] = "no-store"
        return response
    response = render(request, "settlement/portal/order_codes.html", {"order": order, "codes": codes})
    response["Cache-Control"] = "no-store"
    return response


@portal_view
def portal_wallet(request):
    distributor = request.distributor
    wallet = _wallet(distributor)
    form = forms.TopupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            payment = payment_services.payment_for_topup(
                wallet=wallet, amount=form.cleaned_data["amount"], adapter=form.cleaned_data["adapter"]
            )
        except DomainError as error:
            _form_error(form, error)
        else:
            return redirect(adapter_get(payment.adapter).start_url(payment))
    context = {
        "summary": wallet_selectors.wallet_summary(wallet),
        "topups": wallet_selectors.wallet_topups(wallet)[:20],
        "pending_topups": Payment.objects.filter(wallet=wallet, purpose=Payment.Purpose.TOPUP, status=Payment.Status.PENDING).order_by(
            "-id"
        )[:10],
        "entries": _page(request, wallet_selectors.wallet_entries(wallet, kinds=["wallet"])),
        "form": form,
    }
    return render(request, "settlement/portal/wallet.html", context)


COMMISSION_COLUMNS = [
    Column(_lazy("Order"), "text"),
    Column(_lazy("Time"), "datetime"),
    Column(_lazy("Product"), "text"),
    Column(_lazy("Whose sale"), "text"),
    Column(_lazy("Amount"), "money"),
    Column(_lazy("Clawed back"), "money"),
    Column(_lazy("Status"), "text"),
    Column(_lazy("Release after"), "datetime"),
]


@portal_view
def portal_commission(request):
    wallet = _wallet(request.distributor)
    qs = CommissionAccrual.objects.filter(wallet=wallet).select_related("order", "order__sku").order_by("-id")
    form, qs = _portal_list(request, qs, statuses=CommissionAccrual.Status.choices, search=["order__number", "order__sku__name"])
    if qs is not None and form.export_format:
        rows = (
            (c.order.number, c.created_at, c.order.sku.name, c.level_label, c.amount, c.clawed_back, c.state_label, c.release_after)
            for c in qs.iterator()
        )
        return table_response(rows=rows, columns=COMMISSION_COLUMNS, name="commission", fmt=form.export_format)
    context = {"summary": wallet_selectors.wallet_summary(wallet), **_list_context(request, form, qs)}
    return render(request, "settlement/portal/commission.html", context, status=400 if qs is None else 200)


WITHDRAWAL_COLUMNS = [
    Column(_lazy("Number"), "text"),
    Column(_lazy("Requested at"), "datetime"),
    Column(_lazy("Amount"), "money"),
    Column(_lazy("Fee"), "money"),
    Column(_lazy("Paid out"), "money"),
    Column(_lazy("Status"), "text"),
    Column(_lazy("Payout reference"), "text"),
    Column(_lazy("Note"), "text"),
]


@portal_view
def portal_withdrawals(request):
    wallet = _wallet(request.distributor)
    form = forms.WithdrawalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            withdrawal = withdrawal_services.withdrawal_request(
                wallet=wallet,
                amount=form.cleaned_data["amount"],
                payee=form.cleaned_data["payee"],
                actor=request.user,
                key=request.POST.get("request_key") or None,
                ip=client_ip(request),
            )
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Withdrawal %(number)s requested. Finance will pay it.") % {"number": withdrawal.number})
            return redirect("settlement:portal-withdrawals")
    from settlement import conf

    filter_form, qs = _portal_list(
        request,
        wallet_selectors.withdrawals_for(wallet),
        statuses=Withdrawal.Status.choices,
        search=["number", "payee", "payout_reference"],
    )
    if qs is not None and filter_form.export_format and request.method == "GET":
        rows = ((w.number, w.created_at, w.amount, w.fee, w.net, w.get_status_display(), w.payout_reference, w.note) for w in qs.iterator())
        return table_response(rows=rows, columns=WITHDRAWAL_COLUMNS, name="withdrawals", fmt=filter_form.export_format)
    context = {
        **_list_context(request, filter_form, qs),
        "summary": wallet_selectors.wallet_summary(wallet),
        "form": form,
        "minimum": conf.withdrawal_minimum(),
        "fee_rate": conf.withdrawal_fee_rate() * 100,
        "fee_minimum": conf.withdrawal_fee_minimum(),
        "request_key": __import__("secrets").token_urlsafe(16),
    }
    return render(request, "settlement/portal/withdrawals.html", context, status=400 if qs is None else 200)


@portal_view
def portal_statements(request):
    wallet = _wallet(request.distributor)
    form = forms.StatementRangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        start, end = _day_bounds(form.cleaned_data["start"], form.cleaned_data["end"])
        statement = statement_services.statement_generate(wallet=wallet, start=start, end=end, actor=request.user)
        return redirect("settlement:portal-statement", pk=statement.pk)
    filter_form, qs = _portal_list(
        request, Statement.objects.filter(wallet=wallet), statuses=Statement.Status.choices, search=["number"], date_field="generated_at"
    )
    if qs is not None and filter_form.export_format and request.method == "GET":
        rows = (
            (st.number, st.generated_at, st.period_start, st.period_end, st.opening_balance, st.closing_balance, st.get_status_display())
            for st in qs.iterator()
        )
        return table_response(rows=rows, columns=STATEMENT_COLUMNS, name="statements", fmt=filter_form.export_format)
    context = {**_list_context(request, filter_form, qs), "form": form}
    context["rows"] = context["page"]
    return render(request, "settlement/portal/statements.html", context, status=400 if qs is None else 200)


STATEMENT_COLUMNS = [
    Column(_lazy("Number"), "text"),
    Column(_lazy("Generated"), "datetime"),
    Column(_lazy("Period start"), "datetime"),
    Column(_lazy("Period end"), "datetime"),
    Column(_lazy("Opening balance"), "money"),
    Column(_lazy("Closing balance"), "money"),
    Column(_lazy("Status"), "text"),
]


def _statement_lines(statement: Statement):
    return wallet_selectors.wallet_entries(statement.wallet).filter(
        created_at__gte=statement.period_start, created_at__lt=statement.period_end
    )


@portal_view
def portal_statement(request, pk: int):
    statement = get_object_or_404(Statement, pk=pk, wallet__distributor=request.distributor)
    return render(
        request,
        "settlement/portal/statement_detail.html",
        {
            "statement": statement,
            "page": _page(request, _statement_lines(statement), 50),
            "download_url": reverse("settlement:portal-statement-download", args=[pk]),
        },
    )


@portal_view
def portal_statement_download(request, pk: int):
    statement = get_object_or_404(Statement, pk=pk, wallet__distributor=request.distributor)
    return _statement_file(request, statement)


def _statement_file(request, statement: Statement):
    fmt = "csv" if request.GET.get("format") == "csv" else "xlsx"
    job = export_services.export_start(
        kind=ExportJob.Kind.STATEMENT, fmt=fmt, actor=request.user, params={"statement_id": statement.pk}, run_now=True
    )
    return FileResponse(open(job.file_path, "rb"), as_attachment=True, filename=f"{statement.number}.{fmt}")


# --- Storefront checkout, payment pages, order lookup --------------------------------------------------


@sensitive_post_parameters("lookup_password")
def checkout(request, slug: str, sku_code: str):
    """The storefront checkout. `?campaign=<id>` (a flash sale, new-user price or group buy the product page
    linked to) and `?group=<token>` (a group to join) ride along as hidden fields, a coupon code is typed in,
    a share link's token comes from the session ("vh_referral"). A campaign that needs a signed-in consumer
    sends a stranger to /me/login/ and back here."""
    storefront = channel_selectors.storefront_public(slug)
    row = channel_selectors.storefront_item_public(storefront, sku_code) if storefront else None
    if row is None:
        raise Http404
    consumer = shop_offers.consumer_signed_in(request)
    initial = {"campaign": request.GET.get("campaign") or None, "group": request.GET.get("group", "")}
    form = forms.CheckoutForm(request.POST or None, sku=row.item.sku, consumer=consumer, initial=initial)
    offer = shop_offers.checkout_offer(request, form=form, storefront=storefront, sku=row.item.sku, price=row.item.retail_price)
    if offer.needs_sign_in and consumer is None:
        return shop_offers.sign_in_redirect(request)
    if offer.campaign is not None and not form.is_bound:  # a new-user price found for this consumer rides along too
        form.initial["campaign"] = offer.campaign.pk
    challenge, status = False, 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        source = attribution.source_for(request, storefront)
        account, region = data.get("account", ""), data.get("region", "")  # a direct top-up's, checked by the form
        offer_request = form.offer_request(referral_token=request.session.get("vh_referral", ""))
        what = (row.item.sku.code, data["quantity"], data["contact"], data["pay_method"]) + ((account, region) if account else ())
        key = form.order_key(f"shop-{storefront.pk}", *what, *((offer_request,) if offer_request else ()))
        placed = order_selectors.order_by_key(storefront.distributor, key)
        if placed is not None:  # this form was sent before (a double tap, a reload): on to that order
            _receipt_allow(request, placed)
            return _order_onward(placed)

        def place(challenge_passed: bool) -> Order:
            return order_place(
                channel=Order.Channel.STOREFRONT,
                distributor=storefront.distributor,
                storefront=storefront,
                sku=row.item.sku,
                quantity=data["quantity"],
                pay_method=data["pay_method"],
                contact=data["contact"],
                lookup_password=data.get("lookup_password", ""),
                account=account,
                region=region,
                campaign=source.campaign,
                referrer=source.referrer,
                ip=client_ip(request),
                device=device_of(request),
                idempotency_key=key,
                challenge_passed=challenge_passed,
                consumer=consumer,
                offer_request=offer_request,
            )

        order, challenge, status = _place_risk_checked(request, form, place)
        if order is not None:
            _receipt_allow(request, order)
            return _order_onward(order)
    elif request.method == "POST":
        challenge = bool(request.POST.get("challenge_key"))  # the form is wrong: a new picture with it
    context = {"shop": storefront, "row": row, "sku": row.item.sku, "form": form, "offer": offer, "consumer": consumer}
    context["challenge"] = challenge_new() if challenge else None
    response = render(request, "settlement/shop/checkout.html", context, status=status)
    device_remember(request, response)
    return response


def _order_onward(order: Order):
    """Where a shopper goes once the checkout has its order: its payment while it waits for one, else its
    receipt (a form sent again after the order was paid, say)."""
    if order.status == Order.Status.PENDING:
        payment = payment_services.payment_for_order(order=order)
        try:
            return redirect(adapter_get(payment.adapter).start_url(payment))
        except PaymentAdapterUnavailable:  # placed while an adapter was on that is off now: no page to pay on
            pass
    return redirect("settlement:order-receipt", number=order.number)


RECEIPTS_SESSION_KEY = "settlement.receipts"
RECEIPTS_KEPT = 10


def _receipt_allow(request, order: Order) -> None:
    """This browser placed the order: it may open the order's receipt (and its private code link) without
    the lookup password, for the rest of the session. The last RECEIPTS_KEPT orders are kept."""
    numbers = [n for n in request.session.get(RECEIPTS_SESSION_KEY, []) if n != order.number]
    request.session[RECEIPTS_SESSION_KEY] = [*numbers, order.number][-RECEIPTS_KEPT:]


def _pay_url(payment: Payment) -> str | None:
    try:
        return adapter_get(payment.adapter).start_url(payment)
    except PaymentAdapterUnavailable:  # its adapter is off now: no page to pay on
        return None


@never_cache
def order_receipt(request, number: str):
    """The buyer's receipt after payment: order number, what was bought, where the link went and a button to
    the private code page. Only in the browser that placed the order, or for the consumer signed in with the
    order's mobile number (/me/ links here); anyone else gets the lookup form."""
    if number not in request.session.get(RECEIPTS_SESSION_KEY, []) and not consumer_owns_order(
        consumer=consumer_of(request), number=number
    ):
        return redirect(reverse("settlement:order-lookup") + "?" + urlencode({"number": number}))
    order = get_object_or_404(Order.objects.select_related("sku__product", "storefront"), number=number, channel=Order.Channel.STOREFRONT)
    delivered = order.status in (Order.Status.DELIVERED, Order.Status.PARTIALLY_REFUNDED)
    payment = order.payments.filter(purpose=Payment.Purpose.ORDER).order_by("pk").first()
    waiting = order.status == Order.Status.PENDING and payment is not None
    context = {
        "order": order,
        "bought": order_selectors.order_receipt_lines(order),
        "shop": order.storefront,
        "contact": contact_of(order.contact),
        "link": order_selectors.order_private_link(order) if delivered and not order.is_topup else None,
        "pay_url": _pay_url(payment) if waiting else None,
        "topup": topup_selectors.topup_view(order) if order.is_topup else None,
    }
    response = render(request, "settlement/shop/receipt.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _payment_or_404(number: str, adapter: str) -> Payment:
    return get_object_or_404(Payment.objects.select_related("order", "order__sku", "wallet__distributor"), number=number, adapter=adapter)


def _after_payment(payment: Payment):
    if payment.purpose == Payment.Purpose.TOPUP:
        return redirect("settlement:portal-wallet")
    return redirect("settlement:order-receipt", number=payment.order.number)


def _review_rejected(payment: Payment) -> bool:
    """The payment's order was rejected by risk review: it is not offered for payment any more (money
    that arrives anyway is refunded by order_pay)."""
    return payment.order is not None and payment.order.hold == Order.Hold.REJECTED


@never_cache
def sandbox_pay(request, number: str):
    """The sandbox provider's checkout page: pay (or fail) posts a signed callback exactly as a provider would.
    Not there at all (404) unless the sandbox adapter is on (PAYMENT_SANDBOX)."""
    try:
        adapter: SandboxAdapter = adapter_get(SandboxAdapter.name)
    except PaymentAdapterUnavailable:
        raise Http404 from None
    payment = _payment_or_404(number, adapter.name)
    if _review_rejected(payment):
        status = 409 if request.method == "POST" else 200
        return render(request, "settlement/pay/sandbox.html", {"payment": payment, "rejected": True}, status=status)
    contact = contact_of(payment.order.contact) if payment.order else None
    if request.method == "POST" and payment.status == Payment.Status.PENDING:
        event_type = "payment.failed" if request.POST.get("result") == "fail" else "payment.succeeded"
        body = adapter.callback_body(
            event_id=f"{payment.number}-{event_type}", event_type=event_type, payment_number=payment.number, amount=payment.amount
        )
        payment_services.payment_callback_receive(adapter_name="sandbox", body=body, headers={adapter.SIGNATURE_HEADER: adapter.sign(body)})
        payment.refresh_from_db()
        if payment.status == Payment.Status.SUCCEEDED:
            messages.success(request, _("Payment received."))
            return _after_payment(payment)
        messages.error(request, _("The payment failed. You can try again."))
    return render(request, "settlement/pay/sandbox.html", {"payment": payment, "contact": contact})


@never_cache
def manual_pay(request, number: str):
    from django.conf import settings

    payment = _payment_or_404(number, "manual")
    context = {
        "payment": payment,
        "bank": getattr(settings, "SETTLEMENT_BANK_ACCOUNT", ""),
        "rejected": _review_rejected(payment),
        "contact": contact_of(payment.order.contact) if payment.order else None,
    }
    return render(request, "settlement/pay/manual.html", context)


@csrf_exempt
@require_POST
def payment_callback(request, adapter: str):
    """Providers post here. Signed and idempotent; see payment_callback_receive."""
    if adapter not in adapters_enabled() or adapter == "manual":
        raise Http404
    callback = payment_services.payment_callback_receive(adapter_name=adapter, body=request.body, headers=request.headers)
    status = {"bad_signature": 400, "unknown_payment": 404, "amount_mismatch": 409}.get(callback.outcome, 200)
    return JsonResponse({"outcome": callback.outcome}, status=status)


@never_cache
@sensitive_post_parameters("lookup_password")
@sensitive_variables("codes")
def order_lookup_page(request):
    """A consumer's order: number + contact + lookup password (rate-limited). Codes only with all three."""
    form = forms.LookupForm(request.POST or None, initial={"number": request.GET.get("number", "")})
    order = codes = link = None
    reports = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ip = client_ip(request)
        try:
            order = order_lookup(number=data["number"], contact=data["contact"], password=data["lookup_password"], ip=ip)
        except DomainError as error:
            form.add_error(None, str(error.message))
            status = error.status
            return render(request, "settlement/shop/lookup.html", {"form": form}, status=status)
        if order.status in (Order.Status.DELIVERED, Order.Status.PARTIALLY_REFUNDED) and not order.is_topup:
            codes = order_selectors.order_codes_reveal(order=order, actor=None, actor_label="consumer lookup", ip=ip, reason="order lookup")
            link = order_selectors.order_private_link(order)
            reports = lookup_report_links(order)
    context = {"form": form, "order": order, "codes": codes, "link": link, "reports": reports}
    context["topup"] = topup_selectors.topup_view(order) if order is not None and order.is_topup else None
    response = render(request, "settlement/shop/lookup.html", context)
    response["Cache-Control"] = "no-store"
    return response


# --- Finance pages -----------------------------------------------------------------------------------


def finance_view(perm: str):
    def decorate(view):
        return login_required(permission_required(perm, raise_exception=True)(view))

    return decorate


@finance_view("settlement.view_withdrawal")
def finance_withdrawals(request):
    status = request.GET.get("status", Withdrawal.Status.REQUESTED)
    qs = Withdrawal.objects.select_related("wallet__distributor", "decided_by").order_by("-id")
    if status in Withdrawal.Status.values:
        qs = qs.filter(status=status)
    context = {
        "page": _page(request, qs),
        "status": status,
        "statuses": Withdrawal.Status.choices,
        "approve_form": forms.ApproveForm(),
        "reject_form": forms.RejectForm(),
    }
    return render(request, "settlement/finance/withdrawals.html", context)


@require_POST
@finance_view("settlement.decide_withdrawal")
def finance_withdrawal_decide(request, pk: int):
    withdrawal = get_object_or_404(Withdrawal, pk=pk)
    approve = request.POST.get("decision") == "approve"
    form = forms.ApproveForm(request.POST) if approve else forms.RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("settlement:finance-withdrawals")
    try:
        if approve:
            withdrawal_services.withdrawal_approve(
                withdrawal=withdrawal,
                actor=request.user,
                payout_reference=form.cleaned_data["payout_reference"],
                note=form.cleaned_data["note"],
            )
            messages.success(request, _("Withdrawal %(number)s approved and paid.") % {"number": withdrawal.number})
        else:
            withdrawal_services.withdrawal_reject(withdrawal=withdrawal, actor=request.user, note=form.cleaned_data["note"])
            messages.success(
                request, _("Withdrawal %(number)s rejected; the commission is available again.") % {"number": withdrawal.number}
            )
    except DomainError as error:
        messages.error(request, str(error.message))
    return redirect("settlement:finance-withdrawals")


@finance_view("settlement.view_statement")
def finance_statements(request):
    form = forms.FinanceStatementForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("settlement.reconcile_statement"):
            raise PermissionDenied
        if form.is_valid():
            start, end = _day_bounds(form.cleaned_data["start"], form.cleaned_data["end"])
            statement = statement_services.statement_generate(
                wallet=_wallet(form.cleaned_data["distributor"]), start=start, end=end, actor=request.user
            )
            return redirect("settlement:finance-statement", pk=statement.pk)
    status = request.GET.get("status", "")
    qs = Statement.objects.select_related("wallet__distributor").order_by("-period_start", "-id")
    if status in Statement.Status.values:
        qs = qs.filter(status=status)
    return render(
        request,
        "settlement/finance/statements.html",
        {"form": form, "page": _page(request, qs), "status": status, "statuses": Statement.Status.choices},
    )


def reconcile_post(request, statement, *, permission: str, reconcile) -> tuple[HttpResponse | None, forms.ReconcileForm]:
    """Finance's "Mark reconciled" on a statement page (a distributor's or a merchant's statement).

    (a redirect back to the page, form) once `reconcile(statement=, actor=, note=)` has run; (None, form) for
    the page to render: a GET, or a note that did not validate (the bound form carries the error)."""
    if request.method != "POST":
        return None, forms.ReconcileForm()
    if not request.user.has_perm(permission):
        raise PermissionDenied
    form = forms.ReconcileForm(request.POST)
    if not form.is_valid():
        return None, form
    reconcile(statement=statement, actor=request.user, note=form.cleaned_data["note"])
    messages.success(request, _("Statement %(number)s is reconciled and can no longer change.") % {"number": statement.number})
    return redirect(request.path), form


@finance_view("settlement.view_statement")
def finance_statement(request, pk: int):
    statement = get_object_or_404(Statement.objects.select_related("wallet__distributor"), pk=pk)
    done, form = reconcile_post(
        request, statement, permission="settlement.reconcile_statement", reconcile=statement_services.statement_reconcile
    )
    if done is not None:
        return done
    context = {
        "statement": statement,
        "page": _page(request, _statement_lines(statement), 50),
        "form": form,
        "download_url": reverse("settlement:finance-statement-download", args=[pk]),
    }
    return render(request, "settlement/finance/statement_detail.html", context)


@finance_view("settlement.export_finance")
def finance_statement_download(request, pk: int):
    return _statement_file(request, get_object_or_404(Statement, pk=pk))


@finance_view("settlement.export_finance")
def finance_exports(request):
    form = forms.ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        params = {}
        if data.get("start"):
            params["start"] = _day_bounds(data["start"], data["start"])[0].isoformat()
        if data.get("end"):
            params["end"] = _day_bounds(data["end"], data["end"])[1].isoformat()
        job = export_services.export_start(kind=data["kind"], fmt=data["fmt"], actor=request.user, params=params)
        messages.info(request, _("Export #%(id)s is running in the background.") % {"id": job.pk})
        return redirect("settlement:finance-exports")
    jobs = ExportJob.objects.filter(created_by=request.user).order_by("-id")[:20]
    return render(request, "settlement/finance/exports.html", {"form": form, "jobs": jobs})


@finance_view("settlement.export_finance")
def finance_export_progress(request, pk: int):
    job = get_object_or_404(ExportJob, pk=pk, created_by=request.user)
    return render(request, "settlement/finance/_export_row.html", {"job": job})


@require_POST
@finance_view("settlement.export_finance")
def finance_export_retry(request, pk: int):
    job = get_object_or_404(ExportJob, pk=pk, created_by=request.user)
    try:
        export_services.export_retry(job=job, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.info(request, _("Export #%(id)s is queued again.") % {"id": job.pk})
    return redirect("settlement:finance-exports")


@finance_view("settlement.export_finance")
def finance_export_download(request, pk: int):
    job = get_object_or_404(ExportJob, pk=pk, created_by=request.user, status=ExportJob.Status.DONE)
    return FileResponse(open(job.file_path, "rb"), as_attachment=True, filename=job.filename)


@finance_view("settlement.view_payment")
def finance_payments(request):
    qs = (
        Payment.objects.filter(adapter="manual", status=Payment.Status.PENDING)
        .select_related("order", "wallet__distributor")
        .order_by("id")
    )
    return render(request, "settlement/finance/payments.html", {"page": _page(request, qs), "form": forms.ConfirmPaymentForm()})


@require_POST
@finance_view("settlement.confirm_payment")
def finance_payment_confirm(request, pk: int):
    payment = get_object_or_404(Payment, pk=pk, adapter="manual")
    form = forms.ConfirmPaymentForm(request.POST)
    if form.is_valid():
        try:
            payment_services.payment_confirm_manual(
                payment=payment, actor=request.user, amount=form.cleaned_data["amount"], bank_reference=form.cleaned_data["bank_reference"]
            )
            messages.success(request, _("Payment %(number)s confirmed.") % {"number": payment.number})
        except DomainError as error:
            messages.error(request, str(error.message))
    else:
        messages.error(request, _("Give the amount received and the bank reference."))
    return redirect("settlement:finance-payments")


@finance_view("settlement.view_wallet")
def finance_wallets(request):
    form = forms.TopupRecordForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("settlement.topup_wallet"):
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                wallet_services.wallet_topup_record(
                    wallet=_wallet(data["distributor"]),
                    amount=data["amount"],
                    actor=request.user,
                    reference=data["reference"],
                    note=data["note"],
                )
            except DomainError as error:
                _form_error(form, error)
            else:
                messages.success(request, _("Top-up recorded."))
                return redirect("settlement:finance-wallets")
    wallets = Wallet.objects.select_related("distributor").order_by("distributor__name")
    rows = [wallet_selectors.wallet_summary(w) for w in wallets[:200]]
    return render(request, "settlement/finance/wallets.html", {"form": form, "rows": rows})
