"""Merchant statements: finance's pages (list, make one for any range, reconcile, download) and the merchant
console's (a merchant's own statements). The console pages live here, in settlement, and extend redemption's
console layout: settlement may use redemption, never the other way round (redemption's console menu shows the
link registered in settlement's AppConfig.ready)."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from redemption import selectors as redemption_selectors
from settlement import forms
from settlement.models import ExportJob, MerchantStatement
from settlement.selectors.merchant_statements import clerk_sees_statements, merchant_statement_lines, merchant_statements_for
from settlement.services import exports as export_services
from settlement.services import merchant_statements as statement_services
from settlement.views import _form_error, _page, finance_view, reconcile_post
from voucherhub.core.errors import DomainError


def _file(request, statement: MerchantStatement):
    """The statement as XLSX (summary, lines per store and SKU, every redemption) or CSV (the redemptions),
    written by the streaming export path; the download is an audited export."""
    fmt = ExportJob.Format.CSV if request.GET.get("format") == "csv" else ExportJob.Format.XLSX
    job = export_services.export_start(
        kind=ExportJob.Kind.MERCHANT_STATEMENT, fmt=fmt, actor=request.user, params={"merchant_statement_id": statement.pk}, run_now=True
    )
    return FileResponse(open(job.file_path, "rb"), as_attachment=True, filename=f"{statement.number}.{fmt}")


# --- Finance ------------------------------------------------------------------------------------------------


@finance_view("settlement.view_merchantstatement")
def finance_merchant_statements(request):
    form = forms.MerchantStatementForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("settlement.reconcile_merchantstatement"):
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                statement = statement_services.merchant_statement_generate(
                    merchant=data["merchant"], start=data["start"], end=data["end"], currency=data["currency"], actor=request.user
                )
            except DomainError as error:
                _form_error(form, error)
            else:
                return redirect("settlement:finance-merchant-statement", pk=statement.pk)
    status = request.GET.get("status", "")
    qs = MerchantStatement.objects.select_related("merchant").order_by("-period_start", "-id")
    if status in MerchantStatement.Status.values:
        qs = qs.filter(status=status)
    context = {"form": form, "page": _page(request, qs), "status": status, "statuses": MerchantStatement.Status.choices}
    return render(request, "settlement/finance/merchant_statements.html", context)


@finance_view("settlement.view_merchantstatement")
def finance_merchant_statement(request, pk: int):
    statement = get_object_or_404(MerchantStatement.objects.select_related("merchant", "reconciled_by"), pk=pk)
    done, form = reconcile_post(
        request, statement, permission="settlement.reconcile_merchantstatement", reconcile=statement_services.merchant_statement_reconcile
    )
    if done is not None:
        return done
    context = {
        "statement": statement,
        "form": form,
        "lines": merchant_statement_lines(statement),
        "download_url": reverse("settlement:finance-merchant-statement-download", args=[pk]),
    }
    return render(request, "settlement/finance/merchant_statement_detail.html", context)


@finance_view("settlement.export_finance")
def finance_merchant_statement_download(request, pk: int):
    return _file(request, get_object_or_404(MerchantStatement.objects.select_related("merchant"), pk=pk))


# --- The merchant console -------------------------------------------------------------------------------------


def merchant_clerk_view(view):
    """A clerk of a merchant who works for the whole merchant (see clerk_sees_statements); others get 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not clerk_sees_statements(request.user):
            raise PermissionDenied
        request.clerk = redemption_selectors.clerk_for(request.user)
        return view(request, *args, **kwargs)

    return wrapped


def _own(request, pk: int) -> MerchantStatement:
    """One of the clerk's merchant's statements; any other merchant's number answers 404."""
    return get_object_or_404(MerchantStatement.objects.select_related("merchant"), pk=pk, merchant=request.clerk.merchant)


@merchant_clerk_view
def console_statements(request):
    context = {"merchant": request.clerk.merchant, "page": _page(request, merchant_statements_for(request.clerk.merchant))}
    return render(request, "settlement/merchant/statements.html", context)


@merchant_clerk_view
def console_statement(request, pk: int):
    statement = _own(request, pk)
    context = {
        "merchant": request.clerk.merchant,
        "statement": statement,
        "lines": merchant_statement_lines(statement),
        "download_url": reverse("settlement:console-statement-download", args=[pk]),
    }
    return render(request, "settlement/merchant/statement_detail.html", context)


@merchant_clerk_view
def console_statement_download(request, pk: int):
    return _file(request, _own(request, pk))
