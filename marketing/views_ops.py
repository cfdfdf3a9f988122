"""Ops' campaign pages (/ops/marketing/): the list, a form per kind with a preview of the storefront card and the
price effect, the state buttons (activate, pause, resume, end: audited by the campaign services), and the live
results page with its XLSX export. Thin: a form, one service, a redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalog.models import Sku
from marketing.forms_ops import KindChoiceForm, campaign_form_class, formset_for
from marketing.models import Campaign
from marketing.ops_preview import campaign_preview
from marketing.results_xlsx import results_workbook
from marketing.selectors_results import campaign_results
from marketing.services import campaigns as campaign_services
from marketing.services.bundles import bundle_items_set
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip

VIEW = "marketing.view_campaign"
CHANGE = "marketing.change_campaign"
ADD = "marketing.add_campaign"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The state buttons: (POST "to", the service, the message).
STATE_ACTIONS = {
    "activate": ("campaign_activate", gettext_lazy("Campaign activated.")),
    "resume": ("campaign_activate", gettext_lazy("Campaign resumed.")),
    "pause": ("campaign_pause", gettext_lazy("Campaign paused.")),
    "end": ("campaign_end", gettext_lazy("Campaign ended.")),
}


def form_error(form, error: DomainError) -> None:
    """A service's domain error on the field(s) it names (or on the whole form)."""
    for name, messages_ in (error.as_fields() or {None: [str(error.message)]}).items():
        for message in messages_:
            form.add_error(name if name in form.fields else None, message)


def components_of(formset) -> list[tuple[Sku, int]]:
    """A bundle formset's (SKU, quantity) pairs, for the preview."""
    if formset is None or formset.instance.kind != Campaign.Kind.BUNDLE:
        return []
    if not formset.is_bound or not formset.is_valid():
        return [(item.sku, item.quantity) for item in formset.queryset] if formset.instance.pk else []
    rows = [f.cleaned_data for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
    return [(row["sku"], row["quantity"]) for row in rows if row.get("sku")]


def rows_save(request, *, campaign: Campaign, formset) -> None:
    """A bundle's components through bundle_items_set (shares adding up to the price, audited); a flash sale's
    slots as typed (the flash gate reads them when the sale starts)."""
    if campaign.kind == Campaign.Kind.BUNDLE:
        rows = [f.cleaned_data for f in formset.forms if f.cleaned_data and f.cleaned_data.get("sku") and not f.cleaned_data.get("DELETE")]
        items = [(row["sku"], row["quantity"], row["revenue_share"]) for row in rows]
        bundle_items_set(campaign=campaign, items=items, actor=request.user, ip=client_ip(request))
        return
    formset.instance = campaign
    formset.save()


def campaign_form_save(request, *, form, formset) -> Campaign | None:
    """Save the form's campaign through campaign_save and its slots or components, all or nothing. Returns the
    campaign, or None after putting the service's error on its field."""
    try:
        with transaction.atomic():
            campaign = form.save(commit=False)
            campaign = campaign_services.campaign_save(campaign=campaign, actor=request.user, ip=client_ip(request))
            if formset is not None and formset.has_changed():
                rows_save(request, campaign=campaign, formset=formset)
    except DomainError as exc:
        form_error(form, exc)
        return None
    return campaign


def _edit_page(request, *, campaign: Campaign | None, kind: str):
    """The create and edit page of one kind. "Preview" shows the price effect of what is typed, without saving."""
    form_class = campaign_form_class(kind)
    instance = campaign or Campaign(kind=kind)
    FormSet = formset_for(kind)
    data = request.POST if request.method == "POST" else None
    form = form_class(data, instance=instance)
    formset = FormSet(data, instance=instance, prefix="rows") if FormSet else None
    preview = None
    if data is not None:
        valid = form.is_valid() and (formset is None or formset.is_valid())
        if valid and request.POST.get("preview"):
            preview = campaign_preview(campaign=form.candidate(), components=components_of(formset))
        elif valid:
            saved = campaign_form_save(request, form=form, formset=formset)
            if saved is not None:
                messages.success(request, _("Campaign saved."))
                return redirect("marketing:ops-campaign", campaign_id=saved.pk)
    elif campaign is not None:
        preview = campaign_preview(campaign=campaign, components=components_of(formset))
    context = {"form": form, "formset": formset, "campaign": campaign, "kind": kind, "kind_label": Campaign.Kind(kind).label}
    context["preview"] = preview
    return render(request, "marketing/ops/edit.html", context)


@login_required
@permission_required(VIEW, raise_exception=True)
def campaign_list(request):
    campaigns = Campaign.objects.select_related("distributor", "sku").order_by("-starts_at", "-pk")
    kind, status = request.GET.get("kind", ""), request.GET.get("status", "")
    if kind in Campaign.Kind.values:
        campaigns = campaigns.filter(kind=kind)
    if status in Campaign.Status.values:
        campaigns = campaigns.filter(status=status)
    page = Paginator(campaigns, 25).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "kinds": Campaign.Kind.choices,
        "statuses": Campaign.Status.choices,
        "kind": kind,
        "status": status,
        "pager_query": f"kind={kind}&status={status}&",
        "kind_form": KindChoiceForm(),
        "now": timezone.now(),
    }
    return render(request, "marketing/ops/list.html", context)


@login_required
@permission_required(ADD, raise_exception=True)
def campaign_new(request):
    kind = request.GET.get("kind") or request.POST.get("kind", "")
    if kind not in Campaign.Kind.values:
        return redirect("marketing:ops-campaigns")
    return _edit_page(request, campaign=None, kind=kind)


@login_required
@permission_required(VIEW, raise_exception=True)
def campaign_detail(request, campaign_id: int):
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if request.method == "POST" and not request.user.has_perm(CHANGE):
        raise Http404
    return _edit_page(request, campaign=campaign, kind=campaign.kind)


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_POST
def campaign_state(request, campaign_id: int):
    """Activate, pause, resume or end: the campaign services check the transition and audit it."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
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
    return redirect("marketing:ops-campaign", campaign_id=campaign.pk)


def results_context(campaign: Campaign) -> dict:
    return {"campaign": campaign, "results": campaign_results(campaign=campaign, platform_label=_("Platform")), "now": timezone.now()}


@login_required
@permission_required(VIEW, raise_exception=True)
def campaign_results_page(request, campaign_id: int):
    """The live numbers; the block refreshes itself every 10 seconds (htmx)."""
    campaign = get_object_or_404(Campaign.objects.select_related("distributor", "sku"), pk=campaign_id)
    template = "marketing/ops/_results.html" if request.htmx else "marketing/ops/results.html"
    context = results_context(campaign) | {"refresh_url": request.path, "export_url_name": "marketing:ops-results-xlsx"}
    return render(request, template, context)


def xlsx_response(campaign: Campaign, *, request) -> HttpResponse:
    """The results workbook as a download (audited: who took the numbers out, when)."""
    body = results_workbook(campaign_results(campaign=campaign, platform_label=_("Platform")))
    audit_record(actor=request.user, action="marketing.campaign.export", obj=campaign, ip=client_ip(request))
    response = HttpResponse(body, content_type=XLSX)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-{stamp}.xlsx"'
    return response


@login_required
@permission_required(VIEW, raise_exception=True)
def campaign_results_xlsx(request, campaign_id: int):
    return xlsx_response(get_object_or_404(Campaign, pk=campaign_id), request=request)
