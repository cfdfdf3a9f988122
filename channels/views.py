"""The distributor portal under /portal/: a distributor sees only itself and its downline.

Every object taken from the URL goes through a selector scoped to the signed-in distributor
(`downline_get`, `quota_get`, `invitation_get`, `api_key_get`), which raises a 404 for anyone else's.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from catalog.models import Sku
from catalog.usage import how_to_use
from channels import attribution, forms, selectors, services
from channels.errors import NotInDownline
from channels.models import Distributor, Storefront
from voucherhub.core.errors import DomainError
from voucherhub.core.listing import Column, ListFilterForm, list_filter, table_response
from voucherhub.core.net import client_ip
from voucherhub.core.readertz import reader_timezone


def portal_view(view):
    """Login required; the user must act for a distributor. Pending and suspended ones see why they wait."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        distributor = selectors.distributor_for_user(request.user)
        if distributor is None:
            raise PermissionDenied
        if distributor.status != Distributor.Status.ACTIVE:
            return render(request, "channels/portal/inactive.html", {"distributor": distributor}, status=403)
        request.distributor = distributor
        try:
            with timezone.override(reader_timezone(request)):  # moments on the page in the reader's time zone
                return view(request, *args, **kwargs)
        except NotInDownline:
            raise Http404

    return wrapper


def _form_error(form, error: DomainError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, str(error.message))


@portal_view
def home(request):
    distributor = request.distributor
    context = {
        "distributor": distributor,
        "upline": services.upline_chain(distributor),
        "quota": selectors.quota_summary(distributor),
        "quotas": selectors.quotas_for(distributor).filter(balance__gt=0)[:8],
        "team": selectors.downline_summary(distributor),
        "storefront": selectors.storefront_of(distributor),
        "sales_30d": selectors.sales_total(distributor, days=30),
        "open_invitations": [i for i in selectors.invitations_for(distributor)[:20] if i.is_open],
    }
    return render(request, "channels/portal/home.html", context)


@portal_view
def downline_list(request):
    """The team as a tree, with search (name, contact, region), status, joined-date range, pagination and an
    export of what is filtered."""
    distributor = request.distributor
    form = ListFilterForm(request.GET, statuses=Distributor.Status.choices)
    base = distributor.depth
    qs = None
    if form.is_valid():
        qs = list_filter(
            selectors.downline(distributor), form, search=["name", "contact_name", "region", "level__name"], status_field="status"
        )
        if form.export_format:
            rows = (
                (m.name, m.level.name, _team_depth_label(m.depth - base), m.region, m.contact_name, m.get_status_display(), m.created_at)
                for m in qs.iterator()
            )
            return table_response(rows=rows, columns=TEAM_COLUMNS, name="team", fmt=form.export_format)
    page = Paginator(qs if qs is not None else [], 50).get_page(request.GET.get("page"))
    context = {
        "rows": [(r, r.depth - base, _team_depth_label(r.depth - base)) for r in page],
        "page": page,
        "filter_form": form,
        "filter_query": form.query() if qs is not None else "",
        "summary": selectors.downline_summary(distributor),
    }
    return render(request, "channels/portal/downline.html", context, status=400 if qs is None else 200)


def _team_depth_label(depth: int) -> str:
    labels = {1: _("Direct downline"), 2: _("Second level"), 3: _("Third level")}
    return labels.get(depth) or _("Level %(n)s") % {"n": depth}


TEAM_COLUMNS = [
    Column(gettext_lazy("Name"), "text"),
    Column(gettext_lazy("Level"), "text"),
    Column(gettext_lazy("Below you"), "text"),
    Column(gettext_lazy("Region"), "text"),
    Column(gettext_lazy("Contact"), "text"),
    Column(gettext_lazy("Status"), "text"),
    Column(gettext_lazy("Joined"), "datetime"),
]


@portal_view
def downline_detail(request, pk: int):
    member = selectors.downline_get(request.distributor, pk)
    chain = [d for d in services.upline_chain(member) if d.path.startswith(request.distributor.path)]
    return render(
        request,
        "channels/portal/downline_detail.html",
        {
            "member": member,
            "chain": chain,
            "children": member.children.select_related("level").order_by("name"),
            "quotas": selectors.quotas_for(member).filter(balance__gt=0),
        },
    )


@portal_view
def invitations(request):
    distributor = request.distributor
    form = forms.InvitationForm(request.POST or None, distributor=distributor)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invitation_create(distributor=distributor, actor=request.user, **form.cleaned_data)
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Invitation created. Share the link below."))
            return redirect(f"{request.path}#inv-{invitation.pk}")
    rows = selectors.invitations_for(distributor)
    return render(request, "channels/portal/invitations.html", {"form": form, "rows": rows})


@require_POST
@portal_view
def invitation_revoke(request, pk: int):
    invitation = selectors.invitation_get(request.distributor, pk)
    services.invitation_revoke(invitation=invitation, actor=request.user)
    messages.success(request, _("The invitation was withdrawn."))
    return redirect("channels:portal-invitations")


@portal_view
def prices(request):
    return render(request, "channels/portal/prices.html", {"rows": selectors.catalog_for(request.distributor)})


def _posted_downline_or_404(distributor: Distributor, value) -> None:
    """A distributor id posted in a form is held to the rule of an id in a URL: anyone outside the
    caller's downline is a 404, not a form error (which would tell a neighbour's id apart from a
    made-up one, and is not how every other portal page answers). Blank or non-numeric input, and a
    downline member that cannot take quota now, stay the form's to explain."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        selectors.downline_get(distributor, value)  # NotInDownline -> 404 (portal_view)


@portal_view
def quotas(request):
    distributor = request.distributor
    if request.method == "POST":
        _posted_downline_or_404(distributor, request.POST.get("to_distributor"))
    downline = selectors.downline(distributor).filter(status=Distributor.Status.ACTIVE)
    quota_rows = list(selectors.quotas_for(distributor))
    skus = Sku.objects.filter(pk__in=[q.sku_id for q in quota_rows if q.balance > 0])
    form = forms.QuotaTransferForm(request.POST or None, downline=downline, skus=skus)
    if request.method == "POST" and form.is_valid():
        try:
            services.quota_transfer(
                from_distributor=distributor,
                to_distributor=form.cleaned_data["to_distributor"],
                sku=form.cleaned_data["sku"],
                quantity=form.cleaned_data["quantity"],
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(
                request,
                _("Passed %(n)s × %(sku)s to %(to)s.")
                % {
                    "n": form.cleaned_data["quantity"],
                    "sku": form.cleaned_data["sku"].code,
                    "to": form.cleaned_data["to_distributor"].name,
                },
            )
            return redirect("channels:portal-quotas")
    balances = selectors.quota_downline_balances(distributor)
    sku_list = [q.sku for q in quota_rows]
    team = [(member, [balances.get(member.pk, {}).get(sku.pk, 0) for sku in sku_list]) for member in downline if balances.get(member.pk)]
    context = {
        "rows": quota_rows,
        "form": form,
        "team": team,
        "sku_list": sku_list,
        "movements": selectors.quota_movements_for(distributor)[:20],
    }
    return render(request, "channels/portal/quotas.html", context)


@portal_view
def quota_detail(request, pk: int):
    quota = selectors.quota_get(request.distributor, pk)
    movements = selectors.quota_movements_for(request.distributor, sku=quota.sku)[:200]
    return render(request, "channels/portal/quota_detail.html", {"quota": quota, "movements": movements})


@portal_view
def storefront_settings(request):
    distributor = request.distributor
    storefront = selectors.storefront_of(distributor)
    initial = {"title": distributor.name, "slug": "", "colour": "#d63384", "is_open": True}
    if storefront:
        initial = {k: getattr(storefront, k) for k in ("title", "slug", "tagline", "support_contact", "colour", "is_open")}
    form = forms.StorefrontForm(request.POST or None, request.FILES or None, initial=initial, prefix="shop")
    if request.method == "POST" and "shop-title" in request.POST and form.is_valid():
        data = form.cleaned_data
        logo, logo_type = data["logo"] if data["logo"] else (None, "")
        try:
            services.storefront_save(
                distributor=distributor,
                slug=data["slug"],
                title=data["title"],
                tagline=data["tagline"],
                support_contact=data["support_contact"],
                colour=data["colour"],
                is_open=data["is_open"],
                logo=logo,
                logo_type=logo_type,
                clear_logo=data["clear_logo"],
                actor=request.user,
            )
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Storefront saved."))
            return redirect("channels:portal-storefront")
    catalog = selectors.catalog_for(distributor)
    item_form = forms.StorefrontItemForm(
        request.POST if "item-sku" in request.POST else None, skus=Sku.objects.filter(pk__in=[r.sku.pk for r in catalog]), prefix="item"
    )
    if request.method == "POST" and "item-sku" in request.POST and storefront and item_form.is_valid():
        data = item_form.cleaned_data
        try:
            services.storefront_item_set(
                distributor=distributor,
                sku=data["sku"],
                retail_price=data["retail_price"],
                listed=data["listed"],
                position=data["position"] or 0,
            )
        except DomainError as error:
            _form_error(item_form, error)
        else:
            messages.success(
                request, _("%(sku)s is in your storefront at %(price)s.") % {"sku": data["sku"].code, "price": data["retail_price"]}
            )
            return redirect("channels:portal-storefront")
    context = {
        "storefront": storefront,
        "form": form,
        "item_form": item_form,
        "rows": selectors.storefront_rows(storefront) if storefront else [],
        "catalog": catalog,
    }
    return render(request, "channels/portal/storefront.html", context)


@require_POST
@portal_view
def storefront_item_remove(request, pk: int):
    services.storefront_item_remove(distributor=request.distributor, item_id=pk)
    messages.success(request, _("Removed from your storefront."))
    return redirect("channels:portal-storefront")


@never_cache
@portal_view
def api_keys(request):
    distributor = request.distributor
    form = forms.ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, secret = services.api_key_issue(
                distributor=distributor,
                actor=request.user,
                label=form.cleaned_data["label"],
                ip_allowlist=form.cleaned_data["ip_allowlist"],
            )
        except DomainError as error:
            _form_error(form, error)
        else:
            return render(request, "channels/portal/api_key_secret.html", {"key": key, "secret": secret})
    return render(
        request,
        "channels/portal/api_keys.html",
        {"form": form, "rows": selectors.api_keys_for(distributor), "rotate_form": forms.ApiKeyRotateForm()},
    )


@never_cache
@require_POST
@portal_view
def api_key_rotate(request, pk: int):
    key = selectors.api_key_get(request.distributor, pk)
    form = forms.ApiKeyRotateForm(request.POST)
    grace = form.cleaned_data["grace"] if form.is_valid() else 0
    try:
        new, secret = services.api_key_rotate(key=key, actor=request.user, grace_seconds=grace)
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("channels:portal-api-keys")
    return render(request, "channels/portal/api_key_secret.html", {"key": new, "secret": secret, "rotated": key})


@require_POST
@portal_view
def api_key_allowlist(request, pk: int):
    key = selectors.api_key_get(request.distributor, pk)
    try:
        services.api_key_update(key=key, actor=request.user, ip_allowlist=request.POST.get("ip_allowlist", ""))
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("The IP allowlist of %(key)s was saved.") % {"key": key.key_id})
    return redirect("channels:portal-api-keys")


@require_POST
@portal_view
def api_key_revoke(request, pk: int):
    key = selectors.api_key_get(request.distributor, pk)
    services.api_key_revoke(key=key, actor=request.user)
    messages.success(request, _("Key %(key)s was revoked.") % {"key": key.key_id})
    return redirect("channels:portal-api-keys")


# --- Public: signup through an invitation -----------------------------------------------------------


def join(request, token: str):
    invitation = selectors.invitation_by_token(token)
    if invitation is None:
        raise Http404
    closed = "" if invitation.is_open else services.invitation_closed_reason(invitation)
    if not closed and invitation.distributor.status != Distributor.Status.ACTIVE:
        closed = _("The inviting distributor is not active.")
    if closed:
        return render(request, "channels/join_closed.html", {"invitation": invitation, "reason": closed}, status=410)
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            distributor = services.invitation_accept(
                token=token,
                username=data["username"],
                password=data["password1"],
                name=data["name"],
                email=data["email"],
                contact_name=data["contact_name"],
                phone=data["phone"],
                region=data["region"],
            )
        except DomainError as error:
            if error.field:
                _form_error(form, error)
            else:
                return render(request, "channels/join_closed.html", {"invitation": invitation, "reason": error.message}, status=410)
        else:
            from django.contrib.auth import login

            user = distributor.staff.get(is_owner=True).user
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("channels:portal-home")
    return render(request, "channels/join.html", {"invitation": invitation, "form": form})


# --- Ops: traceability and the violations report -----------------------------------------------------


def _require_perm(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


@sensitive_post_parameters("q")  # a plaintext code: not on Django's error page or in its error mail
@sensitive_variables()
@login_required
def ops_trace(request):
    _require_perm(request, "channels.trace_codesale")
    # POST, never GET: a plaintext code in a query string would end up in access logs.
    form = forms.TraceForm(request.POST or None)
    results = None
    if form.is_valid():
        results = selectors.trace_code(form.cleaned_data["q"])
        from voucherhub.core.audit import audit_record

        audit_record(
            actor=request.user,
            action="codesale.trace",
            ip=client_ip(request),
            data={"found": [r.code.pk for r in results]},
        )
    return render(request, "channels/ops/trace.html", {"form": form, "results": results})


@login_required
def ops_violations(request):
    _require_perm(request, "channels.view_priceviolation")
    try:
        days = max(1, min(int(request.GET.get("days", 30)), 365))
    except ValueError:
        days = 30
    return render(request, "channels/ops/violations.html", {"rows": selectors.violations_report(days=days), "days": days})


# --- Public storefront ----------------------------------------------------------------------------------


def _storefront_or_404(slug: str):
    storefront = selectors.storefront_public(slug)
    if storefront is None:
        raise Http404
    return storefront


def storefront_home(request, slug: str):
    storefront = _storefront_or_404(slug)
    attribution.source_remember(request, storefront)
    shelf = selectors.storefront_shelf(storefront, query=request.GET.get("q", ""), category=request.GET.get("c", ""))
    return render(request, "channels/shop/home.html", {"shop": storefront, "shelf": shelf, "rows": shelf.rows})


def storefront_product(request, slug: str, sku_code: str):
    storefront = _storefront_or_404(slug)
    row = selectors.storefront_item_public(storefront, sku_code)
    if row is None:
        raise Http404
    attribution.source_remember(request, storefront)
    context = {"shop": storefront, "row": row, "sku": row.item.sku, "how_to_use": how_to_use(row.item.sku.product.category)}
    return render(request, "channels/shop/product.html", context)


def storefront_logo(request, slug: str):
    from django.http import HttpResponse

    storefront = get_object_or_404(Storefront, slug=slug, is_open=True)
    if not storefront.logo:
        raise Http404
    response = HttpResponse(bytes(storefront.logo), content_type=storefront.logo_type or "application/octet-stream")
    response["Cache-Control"] = "public, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response
