"""Finance's refund payouts page: refunds of bank-transfer orders that wait to be paid back by hand."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from settlement import forms
from settlement.models import RefundPayout
from settlement.services.refund_payouts import refund_payout_record
from settlement.views import _page, finance_view
from voucherhub.core.errors import DomainError


@finance_view("settlement.view_refundpayout")
def finance_refund_payouts(request):
    status = request.GET.get("status", RefundPayout.Status.AWAITING)
    qs = RefundPayout.objects.select_related("order", "payment", "paid_by").order_by("id")
    if status in RefundPayout.Status.values:
        qs = qs.filter(status=status)
    if status != RefundPayout.Status.AWAITING:
        qs = qs.order_by("-id")
    context = {"page": _page(request, qs), "status": status, "statuses": RefundPayout.Status.choices, "form": forms.RefundPayoutForm()}
    return render(request, "settlement/finance/refund_payouts.html", context)


@require_POST
@finance_view("settlement.record_refund_payout")
def finance_refund_payout_record(request, pk: int):
    payout = get_object_or_404(RefundPayout, pk=pk)
    form = forms.RefundPayoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(f"{form.fields[f].label}: {e}" for f, errors in form.errors.items() for e in errors))
    else:
        try:
            refund_payout_record(
                payout=payout, actor=request.user, payout_reference=form.cleaned_data["payout_reference"], note=form.cleaned_data["note"]
            )
        except DomainError as error:
            messages.error(request, str(error.message))
        else:
            messages.success(request, _("Refund %(reference)s is recorded as paid out.") % {"reference": payout.reference})
    back = request.POST.get("status")
    return redirect(
        reverse("settlement:finance-refund-payouts") + "?" + urlencode({"status": back if back in RefundPayout.Status.values else ""})
    )
