"""Ops' targeted-issuance pages (/ops/marketing/issuance/): a list, the new-issuance form (a file, distributors
or a segment), the preview (count, masked sample, bad rows) with confirm / drop, the progress bar (htmx) and
the results (delivered / claimed / used). Thin: a form, one service, a redirect."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalog.models import Product, Sku
from channels.models import Distributor
from marketing import selectors_issuance as selectors
from marketing.models import Campaign, Issuance
from marketing.services import issuance as service
from marketing.services.issuance_lists import SEGMENT
from voucherhub.core.errors import DomainError

VIEW = "marketing.view_issuance"
ADD = "marketing.add_issuance"


class IssuanceForm(forms.Form):
    campaign = forms.ModelChoiceField(label=gettext_lazy("Campaign"), queryset=Campaign.objects.none())
    gift = forms.ChoiceField(label=gettext_lazy("Gift"), choices=Issuance.Gift.choices, initial=Issuance.Gift.COUPON)
    source = forms.ChoiceField(
        label=gettext_lazy("Recipients"),
        choices=Issuance.Source.choices,
        initial=Issuance.Source.FILE,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    file = forms.FileField(
        label=gettext_lazy("List of mobile numbers"),
        required=False,
        help_text=gettext_lazy("CSV or XLSX, one number per row, in a column named “phone” or “手机号” (or no header)."),
    )
    distributors = forms.ModelMultipleChoiceField(label=gettext_lazy("Distributors"), queryset=Distributor.objects.none(), required=False)
    segment = forms.ChoiceField(label=gettext_lazy("Segment"), choices=[("", "—"), *SEGMENT.CHOICES], required=False)
    sku = forms.ModelChoiceField(label=gettext_lazy("SKU"), queryset=Sku.objects.none(), required=False)
    category = forms.ChoiceField(label=gettext_lazy("Category"), choices=[("", "—"), *Product.Category.choices], required=False)
    days = forms.IntegerField(label=gettext_lazy("In the last N days"), min_value=1, max_value=366, initial=30, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        live = Campaign.objects.exclude(status=Campaign.Status.ENDED).filter(ends_at__gt=timezone.now())
        self.fields["campaign"].queryset = live.filter(kind__in=[Campaign.Kind.TARGETED, Campaign.Kind.COUPON]).order_by("-pk")
        self.fields["distributors"].queryset = Distributor.objects.filter(status=Distributor.Status.ACTIVE).order_by("name")
        self.fields["sku"].queryset = Sku.objects.active().order_by("code")

    def segment_params(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": data.get("segment") or "",
            "sku_id": data["sku"].pk if data.get("sku") else None,
            "category": data.get("category") or "",
            "days": data.get("days") or 30,
        }


def _form_errors(form: forms.Form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))


@login_required
@permission_required(VIEW, raise_exception=True)
def issuance_list(request):
    page = Paginator(selectors.issuances_list(), 25).get_page(request.GET.get("page"))
    return render(request, "marketing/issuance/list.html", {"page": page})


@login_required
@permission_required(ADD, raise_exception=True)
def issuance_new(request):
    """Choose a campaign, a gift and the recipients; the preview follows (nothing is issued yet)."""
    form = IssuanceForm(request.POST or None, request.FILES or None, initial={"campaign": request.GET.get("campaign")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issuance = service.issuance_prepare(
                campaign=data["campaign"],
                source=data["source"],
                gift=data["gift"],
                file=data.get("file"),
                distributor_ids=[d.pk for d in data.get("distributors") or []],
                segment=form.segment_params(),
                actor=request.user,
            )
        except DomainError as exc:
            _form_errors(form, exc)
        else:
            return redirect("marketing:issuance", issuance_id=issuance.pk)
    return render(request, "marketing/issuance/new.html", {"form": form})


def _context(issuance: Issuance) -> dict:
    context = {"issuance": issuance, "Status": Issuance.Status}
    if issuance.status == Issuance.Status.PREVIEW:
        context["preview"] = service.issuance_preview(issuance)
    else:
        context["results"] = selectors.issuance_results(issuance)
        context["failures"] = selectors.issuance_failures(issuance)
    return context


@login_required
@permission_required(VIEW, raise_exception=True)
def issuance_detail(request, issuance_id: int):
    """The preview before confirmation; then the progress bar and the results."""
    issuance = get_object_or_404(Issuance.objects.select_related("campaign", "created_by"), pk=issuance_id)
    return render(request, "marketing/issuance/detail.html", _context(issuance))


@login_required
@permission_required(VIEW, raise_exception=True)
def issuance_progress(request, issuance_id: int):
    """The progress block alone, polled by htmx while the job works."""
    issuance = get_object_or_404(Issuance.objects.select_related("campaign"), pk=issuance_id)
    return render(request, "marketing/issuance/_progress.html", _context(issuance))


def _act(request, issuance_id: int, action, done_message: str):
    issuance = get_object_or_404(Issuance, pk=issuance_id)
    try:
        action(issuance=issuance, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, done_message)
    return issuance


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def issuance_confirm(request, issuance_id: int):
    _act(request, issuance_id, service.issuance_confirm, _("Confirmed: the issuance is queued."))
    return redirect("marketing:issuance", issuance_id=issuance_id)


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def issuance_cancel(request, issuance_id: int):
    issuance = get_object_or_404(Issuance, pk=issuance_id)
    try:
        service.issuance_cancel(issuance=issuance, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("marketing:issuance", issuance_id=issuance_id)
    messages.success(request, _("The list was dropped; nothing was issued."))
    return redirect("marketing:issuance-new")


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def issuance_retry(request, issuance_id: int):
    _act(request, issuance_id, service.issuance_retry, _("Queued again: it goes on with the recipients not yet served."))
    return redirect("marketing:issuance", issuance_id=issuance_id)
