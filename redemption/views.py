"""Merchant console (/merchant/) and the holder's code page (/my/<token>/). Thin: forms in, services out."""

from datetime import timedelta
from functools import wraps

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from catalog import codegen
from catalog.usage import how_to_use, used_online
from redemption import exports, holdings, selectors, services, tokens
from redemption.forms import CodeForm, GiftForm, PeriodForm, RedeemForm, ReverseForm
from redemption.holder_actions import holder_actions
from redemption.integrations import LockedOut
from redemption.models import Redemption, Store
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip
from voucherhub.core.redirects import safe_next

STORE_SESSION_KEY = "vh_merchant_store"


# --- The merchant console -------------------------------------------------------------------------------


def clerk_required(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        clerk = selectors.clerk_for(request.user)
        if clerk is None:
            raise PermissionDenied
        request.clerk = clerk
        request.clerk_stores = selectors.clerk_stores(clerk)
        request.clerk_store_ids = selectors.clerk_store_ids(clerk)
        return view(request, *args, **kwargs)

    return wrapped


def _current_store(request) -> Store | None:
    stores = request.clerk_stores
    wanted = request.POST.get("store") or request.GET.get("store") or request.session.get(STORE_SESSION_KEY)
    store = next((s for s in stores if str(s.pk) == str(wanted)), None) or (stores[0] if stores else None)
    if store is not None:
        request.session[STORE_SESSION_KEY] = store.pk
    return store


TODAY_ROWS = 50


def _today_context(request, store) -> dict:
    today = selectors.redemptions_list(
        merchant=request.clerk.merchant, store_ids=request.clerk_store_ids, store=store, day=selectors.today()
    )
    # The badge counts the rows the card lists (reversed ones too), not only the completed ones.
    return {"today": today[:TODAY_ROWS], "today_count": today.count(), "today_rows": TODAY_ROWS}


def _console_context(request, store, **extra) -> dict:
    return {
        "merchant": request.clerk.merchant,
        "stores": request.clerk_stores,
        "store": store,
        "code_form": CodeForm(),
        **_today_context(request, store),
        **extra,
    }


@clerk_required
def console(request):
    store = _current_store(request)
    return render(request, "redemption/console.html", _console_context(request, store))


def _caller(request, store) -> services.Caller:
    return services.Caller.for_clerk(request.clerk, store=store, ip=client_ip(request))


def _result(request, store, template_context: dict):
    """The result panel: a fragment for htmx, the whole console page otherwise."""
    if request.htmx:
        return render(request, "redemption/_result.html", {"store": store, **_today_context(request, store), **template_context})
    return render(request, "redemption/console.html", _console_context(request, store, **template_context))


# A typed or scanned code arrives in POST: Django's error page and error mail show neither the posted
# value nor any local variable of the request's frames (the view's and everything it calls).
@sensitive_post_parameters("code")
@sensitive_variables()
@never_cache  # the answer holds the code (the redeem form's hidden field): no cache, proxy or back button keeps it
@clerk_required
@require_POST
def console_verify(request):
    store = _current_store(request)
    form = CodeForm(request.POST)
    if store is None or not form.is_valid():
        return _result(request, store, {"code_form_errors": form.errors or {"store": [gettext("No store.")]}})
    entry = services.CodeEntry(code=form.cleaned_data["code"], serial=form.cleaned_data["serial"])
    try:
        verification = services.redemption_verify(caller=_caller(request, store), entry=entry)
    except LockedOut as exc:
        return _result(request, store, {"error": exc.message})
    redeem_form = None
    if verification.valid:
        redeem_form = RedeemForm(
            initial={"code": entry.code, "serial": entry.serial, "idempotency_key": RedeemForm.new_key()},
        )
    return _result(request, store, {"verification": verification, "redeem_form": redeem_form})


@sensitive_post_parameters("code")
@sensitive_variables()
@never_cache  # as console_verify: an answer to a posted code is never stored
@clerk_required
@require_POST
def console_redeem(request):
    store = _current_store(request)
    form = RedeemForm(request.POST)
    if store is None or not form.is_valid():
        return _result(request, store, {"error": gettext("Scan or type the code again."), "code_form_errors": form.errors})
    data = form.cleaned_data
    try:
        outcome = services.redemption_redeem(
            caller=_caller(request, store),
            entry=services.CodeEntry(code=data["code"], serial=data["serial"]),
            idempotency_key=data["idempotency_key"],
            amount=data.get("amount"),
            spend=data.get("spend"),
            reference=data.get("reference") or "",
        )
    except DomainError as exc:
        return _result(request, store, {"error": exc.message})
    if outcome.ok:
        return _result(request, store, {"redeemed": outcome.redemption, "replayed": outcome.replayed})
    return _result(request, store, {"error": outcome.message})


def _period_form(request, *, default_days: int):
    form = PeriodForm(request.GET or None, stores=request.clerk_stores)
    today = selectors.today()
    start, end, store_id = today - timedelta(days=default_days - 1), today, None
    if form.is_bound and form.is_valid():
        start = form.cleaned_data.get("start") or start
        end = form.cleaned_data.get("end") or end
        store_id = form.cleaned_data.get("store")
    if store_id is not None and store_id not in {s.pk for s in request.clerk_stores}:
        store_id = None
    return form, selectors.Period(start, end), store_id


@clerk_required
def console_redemptions(request):
    form, period, store_id = _period_form(request, default_days=1)
    queryset = selectors.redemptions_list(merchant=request.clerk.merchant, store_ids=request.clerk_store_ids, store=store_id, period=period)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    window_start = timezone.now() - services.reversal_window(request.clerk.merchant)
    return render(
        request,
        "redemption/redemptions.html",
        {
            "merchant": request.clerk.merchant,
            "form": form,
            "period": period,
            "page": page,
            "window_start": window_start,
            "reverse_key": RedeemForm.new_key(),
            "query": request.GET.urlencode(),
        },
    )


@clerk_required
@require_POST
def console_reverse(request, pk: int):
    form = ReverseForm(request.POST)
    back = safe_next(request, request.POST.get("next"), default=reverse("redemption:console-redemptions"))
    target = Redemption.objects.filter(pk=pk, merchant=request.clerk.merchant).select_related("store__merchant", "sku", "code").first()
    if target is None or (request.clerk_store_ids is not None and target.store_id not in request.clerk_store_ids):
        raise Http404
    if not form.is_valid():
        if "idempotency_key" in form.errors:
            messages.error(request, gettext("The reversal could not be sent: reload the page and try again."))
            return redirect(back)
        # No reason given: the same reversal again, with the field's message, and nothing changed.
        context = {"merchant": request.clerk.merchant, "form": form, "r": target, "back": back}
        return render(request, "redemption/reverse.html", context, status=400)
    caller_store = target.store
    try:
        outcome = services.redemption_reverse(
            caller=_caller(request, caller_store),
            redemption_id=pk,
            idempotency_key=form.cleaned_data["idempotency_key"],
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    if outcome.ok:
        messages.success(request, gettext("Redemption #%(id)s reversed: the code can be used again.") % {"id": pk})
    else:
        messages.error(request, outcome.message)
    return redirect(back)


@clerk_required
def console_summary(request):
    form, period, store_id = _period_form(request, default_days=7)
    store_ids = {store_id} if store_id else request.clerk_store_ids
    rows = selectors.store_daily_summary(merchant=request.clerk.merchant, period=period, store_ids=store_ids)
    totals = {
        "count": sum(r.count for r in rows),
        "amount": sum((r.amount for r in rows), start=0),
        "owed": sum((r.owed for r in rows), start=0),
        "reversed": sum(r.reversed for r in rows),
    }
    return render(
        request,
        "redemption/summary.html",
        {
            "merchant": request.clerk.merchant,
            "form": form,
            "period": period,
            "rows": rows,
            "totals": totals,
            "query": request.GET.urlencode(),
        },
    )


@clerk_required
def console_export(request, fmt: str):
    _form, period, store_id = _period_form(request, default_days=1)
    queryset = selectors.redemptions_list(
        merchant=request.clerk.merchant, store_ids=request.clerk_store_ids, store=store_id, period=period
    ).order_by("created_at", "id")
    name = f"redemptions-{request.clerk.merchant.code}-{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    if fmt == "xlsx":
        response = HttpResponse(
            exports.redemptions_xlsx(queryset), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
        return response
    response = StreamingHttpResponse(exports.redemptions_csv_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


# --- The holder's page ------------------------------------------------------------------------------------


def _private(response):
    """Private links: not cached, not indexed, never sent to another site in a Referer."""
    response["Cache-Control"] = "no-store, private"
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on our own POSTs (CSRF fails)
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _link_or_404(token: str):
    try:
        return holdings.link_for_token(token)
    except DomainError:
        raise Http404


def _qr_svg(text: str) -> str:
    return segno.make(text, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff")


@never_cache
def holder_codes(request, token: str):
    link = _link_or_404(token)
    holdings.link_opened(link)
    held, gifted = selectors.link_codes(link)
    cards = []
    for item in held:
        qr = None
        category = item.sku.product.category
        if item.usable:
            qr_text = tokens.qr_token(holding_id=item.holding.pk, code_id=item.code.pk)
            qr = _qr_svg(qr_text)
        # A video membership is entered in its app: its QR code is folded away, without "show it at the counter".
        card = {"item": item, "qr": qr, "online": used_online(category), "how": how_to_use(category)}
        card["gift_form"] = GiftForm(prefix=f"h{item.holding.pk}")
        cards.append({**card, "actions": holder_actions(item.holding)})
    context = {
        "token": token,
        "link": link,
        "cards": cards,
        "gifted": gifted,
        "unsubscribed": holdings.is_unsubscribed(link),
        "contact": holdings.contact_masked(link.contact),
    }
    return _private(render(request, "redemption/holder_codes.html", context))


@sensitive_variables()  # the opened code is a local here and in the template rendering below
@require_POST
def holder_reveal(request, token: str, holding_id: int):
    link = _link_or_404(token)
    try:
        plaintext = holdings.holding_reveal(link=link, holding_id=holding_id, ip=client_ip(request))
    except holdings.RevealLimited as exc:
        status = 200 if request.htmx else 429  # htmx swaps only 2xx answers
        return _private(render(request, "redemption/_reveal.html", {"error": exc.message}, status=status))
    except DomainError:
        raise Http404
    shown = codegen.pretty(plaintext) if codegen.is_valid(plaintext) else plaintext
    return _private(render(request, "redemption/_reveal.html", {"plaintext": shown}))


@require_POST
def holder_gift(request, token: str, holding_id: int):
    link = _link_or_404(token)
    form = GiftForm(request.POST, prefix=f"h{holding_id}")
    page = reverse("redemption:holder-codes", kwargs={"token": token})
    if not form.is_valid():
        messages.error(request, gettext("Enter your friend's mobile number or email."))
        return redirect(page)
    try:
        new_link = holdings.holding_gift(link=link, holding_id=holding_id, to_contact=form.cleaned_data["contact"], ip=client_ip(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(page)
    messages.success(
        request,
        gettext("Gifted to %(contact)s: they received their own private link.") % {"contact": holdings.contact_masked(new_link.contact)},
    )
    return redirect(page)


@csrf_exempt  # one-click unsubscribe from a mail client (RFC 8058) comes without a CSRF token; it can only opt out
@require_http_methods(["GET", "POST"])
def holder_unsubscribe(request, token: str):
    link = _link_or_404(token)
    done = False
    if request.method == "POST":
        holdings.reminders_unsubscribe(link=link, ip=client_ip(request))
        done = True
    return _private(render(request, "redemption/holder_unsubscribe.html", {"token": token, "done": done, "link": link}))


@require_POST
def holder_resubscribe(request, token: str):
    link = _link_or_404(token)
    holdings.reminders_resubscribe(link=link, ip=client_ip(request))
    messages.success(request, gettext("Expiry reminders are on again."))
    return redirect("redemption:holder-codes", token=token)
