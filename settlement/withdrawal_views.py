"""Finance approves several withdrawals at once: a confirmation listing them and their total, then the
usual approval service for each one (one locked, audited approval per withdrawal)."""

from decimal import Decimal

from django import forms as django_forms
from django.contrib import messages
from django.db.models import Sum
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from settlement.models import Withdrawal
from settlement.services import withdrawals as withdrawal_services
from settlement.views import finance_view
from voucherhub.core.errors import DomainError
from voucherhub.core.money import ZERO
from voucherhub.core.templatetags.vh_format import money_text

BULK_MAX = 100


class BulkApproveForm(django_forms.Form):
    ids = django_forms.TypedMultipleChoiceField(coerce=int, error_messages={"required": _lazy("Tick at least one withdrawal.")})
    payout_reference = django_forms.CharField(label=_lazy("Payout reference"), max_length=100, required=False)
    note = django_forms.CharField(label=_lazy("Note"), max_length=300, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        waiting = Withdrawal.objects.filter(status=Withdrawal.Status.REQUESTED).order_by("pk").values_list("pk", flat=True)
        self.fields["ids"].choices = [(pk, pk) for pk in waiting]
        self.fields["ids"].error_messages["invalid_choice"] = _lazy("A ticked withdrawal is no longer waiting: reload the list.")

    def clean_ids(self):
        ids = self.cleaned_data["ids"]
        if len(ids) > BULK_MAX:
            raise django_forms.ValidationError(_lazy("Approve at most %(n)s withdrawals at once.") % {"n": BULK_MAX})
        return sorted(set(ids))


def _selected(ids) -> tuple[list[Withdrawal], Decimal, Decimal]:
    rows = list(Withdrawal.objects.filter(pk__in=ids).select_related("wallet__distributor").order_by("pk"))
    totals = Withdrawal.objects.filter(pk__in=ids).aggregate(amount=Sum("amount"), fee=Sum("fee"))
    return rows, totals["amount"] or ZERO, totals["fee"] or ZERO


@finance_view("settlement.decide_withdrawal")
def finance_withdrawals_bulk_approve(request):
    """GET (from the list's ticks): the confirmation. POST with a payout reference: approve each one."""
    form = BulkApproveForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid() and "ids" in form.errors:
        messages.error(request, " ".join(form.errors["ids"]))
        return redirect("settlement:finance-withdrawals")
    ids = form.cleaned_data["ids"]
    rows, amount, fee = _selected(ids)
    reference = (form.cleaned_data.get("payout_reference") or "").strip()
    if request.method == "POST" and form.is_valid() and not reference:
        form.add_error("payout_reference", _("Give the payout reference (bank transaction number)."))
    if request.method != "POST" or not form.is_valid():
        context = {"form": form, "rows": rows, "amount": amount, "fee": fee, "net": amount - fee}
        status = 400 if request.method == "POST" else 200
        return render(request, "settlement/finance/withdrawals_bulk.html", context, status=status)
    approved, refused = [], []
    for withdrawal in rows:  # each in its own transaction: one refusal leaves the others approved
        try:
            withdrawal_services.withdrawal_approve(
                withdrawal=withdrawal, actor=request.user, payout_reference=reference, note=form.cleaned_data["note"]
            )
            approved.append(withdrawal)
        except DomainError as error:
            refused.append(f"{withdrawal.number}: {error.message}")
    if approved:
        total = sum((w.amount for w in approved), start=ZERO)
        messages.success(
            request, _("%(n)s withdrawals approved and paid, %(total)s in all.") % {"n": len(approved), "total": money_text(total)}
        )
    for line in refused:
        messages.error(request, line)
    return redirect("settlement:finance-withdrawals")
