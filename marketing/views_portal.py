"""Distributors' own campaigns (/portal/campaigns/): coupons and group buys on their storefront, funded from their
margin, within the limits ops set (portal_limits.py), never below their price floor (campaign_save). A
distributor sees, changes and exports only its own campaigns: another's id answers 404."""

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog.models import Sku
from channels import selectors as channel_selectors
from channels.models import StorefrontItem
from channels.views import portal_view
from marketing import conf
from marketing.forms_ops import campaign_form_class
from marketing.models import Campaign
from marketing.ops_preview import campaign_preview
from marketing.portal_limits import PORTAL_KINDS
from marketing.services import campaigns as campaign_services
from marketing.views_ops import STATE_ACTIONS, form_error, results_context, xlsx_response
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip


def _own(request, campaign_id: int) -> Campaign:
    return get_object_or_404(Campaign, pk=campaign_id, distributor=request.distributor)


def _limits() -> dict:
    return {
        "max_rate": conf.distributor_max_discount_rate() * 100,
        "max_budget": conf.distributor_max_budget(),
        "max_days": conf.distributor_max_duration().days,
    }


@portal_view
def campaign_list(request):
    campaigns = Campaign.objects.filter(distributor=request.distributor).select_related("sku").order_by("-starts_at", "-pk")
    context = {
        "campaigns": campaigns,
        "kinds": [(kind, Campaign.Kind(kind).label) for kind in PORTAL_KINDS],
        "storefront": channel_selectors.storefront_of(request.distributor),
        "limits": _limits(),
        "now": timezone.now(),
    }
    return render(request, "marketing/portal/list.html", context)


def _save(request, form) -> Campaign | None:
    """Save through campaign_save (the kind's rules, the floor; the form checked ops' limits), all or nothing."""
    campaign = form.save(commit=False)
    try:
        with transaction.atomic():
            return campaign_services.campaign_save(campaign=campaign, actor=request.user, ip=client_ip(request))
    except DomainError as exc:
        form_error(form, exc)
        return None


@portal_view
def campaign_new(request):
    """Create a coupon or group-buy campaign (a draft until the distributor starts it)."""
    kind = request.GET.get("kind") or request.POST.get("kind", "")
    if kind not in PORTAL_KINDS:
        return redirect("marketing:portal-campaigns")
    storefront = channel_selectors.storefront_of(request.distributor)
    if storefront is None:
        messages.error(request, _("Open your storefront first: your campaigns run there."))
        return redirect("marketing:portal-campaigns")
    listed = Sku.objects.filter(pk__in=StorefrontItem.objects.filter(storefront=storefront, listed=True).values("sku_id"))
    fixed = {"distributor": request.distributor, "storefront": storefront, "funding": Campaign.Funding.DISTRIBUTOR}
    form_class = campaign_form_class(kind, portal=True)
    form = form_class(request.POST or None, instance=Campaign(kind=kind), sku_queryset=listed, fixed=fixed)
    preview = None
    if request.method == "POST" and form.is_valid():
        if request.POST.get("preview"):
            preview = campaign_preview(campaign=form.candidate())
        else:
            saved = _save(request, form)
            if saved is not None:
                messages.success(request, _("Campaign saved. Start it when you are ready."))
                return redirect("marketing:portal-campaign-results", campaign_id=saved.pk)
    context = {"form": form, "kind": kind, "kind_label": Campaign.Kind(kind).label, "preview": preview, "limits": _limits()}
    return render(request, "marketing/portal/edit.html", context)


@portal_view
@require_POST
def campaign_state(request, campaign_id: int):
    """Start, pause, resume or end one's own campaign (audited by the services)."""
    campaign = _own(request, campaign_id)
    action = STATE_ACTIONS.get(request.POST.get("to", ""))
    if action is None:
        raise Http404
    service_name, done = action
    try:
        getattr(campaign_services, service_name)(campaign=campaign, actor=request.user, ip=client_ip(request))
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, done)
    return redirect("marketing:portal-campaign-results", campaign_id=campaign.pk)


@portal_view
def campaign_results_page(request, campaign_id: int):
    campaign = _own(request, campaign_id)
    template = "marketing/ops/_results.html" if request.htmx else "marketing/portal/results.html"
    context = results_context(campaign) | {"refresh_url": request.path, "export_url_name": "marketing:portal-campaign-xlsx"}
    return render(request, template, context)


@portal_view
def campaign_results_xlsx(request, campaign_id: int):
    return xlsx_response(_own(request, campaign_id), request=request)
