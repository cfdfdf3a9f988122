"""Ops' and finance's supply pages (/supply/ops/): suppliers at a glance, the hold queue (压单), supply alerts,
reconciliation with suppliers' statements, card replenishments. Thin: a form, one service, a redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from supply import ops_services, reconciliation, selectors, selectors_ops
from supply.models import StatementDifference, StatementImport, SupplyAlert, Topup, Upstream
from supply.ops_forms import HoldDecisionForm, ReasonForm, ResolveForm, StatementUploadForm
from supply.services.upstreams import upstream_demote, upstream_restore
from voucherhub.core.errors import DomainError
from voucherhub.core.redirects import safe_next

VIEW = "supply.view_upstream"


def _open_query(open_only: bool) -> str:
    return f"open={'1' if open_only else '0'}&"


def _back(request, default: str):
    return redirect(safe_next(request, request.POST.get("next"), default=default))


def _stats_row(stats) -> dict:
    upstream = stats.upstream
    return {
        "stats": stats,
        "upstream": upstream,
        "rate_percent": stats.success_rate * 100 if stats.success_rate is not None else None,
        "under_floor": stats.success_rate is not None and stats.success_rate < upstream.success_rate_floor,
        "low_balance": upstream.balance is not None and upstream.balance < upstream.low_balance_threshold,
    }


@login_required
@permission_required(VIEW, raise_exception=True)
def supply_home(request):
    """Per supplier: success rate, median and p95 time to a final state, in flight, balance, over a period.
    The table refreshes itself (htmx) as results arrive."""
    period = selectors_ops.period_of(request.GET.get("period"))
    rows = [_stats_row(stats) for stats in selectors.upstream_stats(since=period.since)]
    context = {"period": period, "periods": selectors_ops.PERIODS, "rows": rows, "reason_form": ReasonForm()}
    if request.htmx:
        return render(request, "supply/ops/_stats_table.html", context)
    context.update(
        alerts=selectors.alerts_open()[:8],
        hold_count=selectors.hold_queue().count(),
        statements=selectors_ops.statements_recent()[:5],
        replenishments=selectors_ops.replenishments_recent()[:5],
    )
    return render(request, "supply/ops/home.html", context)


@login_required
@permission_required("supply.change_upstream", raise_exception=True)
@require_POST
def upstream_status(request, upstream_id: int):
    """Demote a supplier by hand (skipped in chains) or restore it, with a reason."""
    upstream = get_object_or_404(Upstream.objects.select_related("supplier"), pk=upstream_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason."))
        return _back(request, reverse("supply-ops:home"))
    reason = form.cleaned_data["reason"]
    try:
        if request.POST.get("to") == "restore":
            upstream_restore(upstream=upstream, actor=request.user, reason=reason)
            messages.success(request, _("%(name)s restored.") % {"name": upstream.supplier.name})
        else:
            upstream_demote(upstream=upstream, actor=request.user, reason=reason)
            messages.success(request, _("%(name)s demoted: it is skipped in chains until restored.") % {"name": upstream.supplier.name})
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return _back(request, reverse("supply-ops:home"))


@login_required
@permission_required("supply.view_topup", raise_exception=True)
def hold_queue(request):
    page = Paginator(selectors.hold_queue().prefetch_related("attempts__upstream__supplier"), 25).get_page(request.GET.get("page"))
    rows = [(topup, HoldDecisionForm(sku=topup.sku, prefix=f"t{topup.pk}")) for topup in page]
    return render(request, "supply/ops/holds.html", {"page": page, "rows": rows})


@login_required
@permission_required("supply.change_topup", raise_exception=True)
@require_POST
def hold_decide(request, topup_id: int):
    """Resubmit a held top-up to a chosen supplier, or refund it; the engine's services audit it."""
    topup = get_object_or_404(Topup.objects.select_related("sku"), pk=topup_id)
    form = HoldDecisionForm(request.POST, sku=topup.sku, prefix=f"t{topup.pk}")
    if not form.is_valid():
        errors = "; ".join(str(e) for field_errors in form.errors.values() for e in field_errors)
        messages.error(request, _("%(reference)s: %(errors)s") % {"reference": topup.reference, "errors": errors})
        return redirect("supply-ops:holds")
    try:
        ops_services.hold_decide(topup=topup, actor=request.user, **form.cleaned_data)
    except DomainError as exc:
        messages.error(request, _("%(reference)s: %(errors)s") % {"reference": topup.reference, "errors": exc.message})
    else:
        if form.cleaned_data["decision"] == HoldDecisionForm.REFUND:
            messages.success(request, _("%(reference)s refunded.") % {"reference": topup.reference})
        else:
            supplier = form.cleaned_data["upstream"].supplier.name
            messages.success(request, _("%(reference)s sent to %(supplier)s.") % {"reference": topup.reference, "supplier": supplier})
    return redirect("supply-ops:holds")


@login_required
@permission_required("supply.view_supplyalert", raise_exception=True)
def alert_list(request):
    open_only = request.GET.get("open", "1") == "1"
    page = Paginator(selectors_ops.alerts_list(open_only=open_only), 50).get_page(request.GET.get("page"))
    return render(request, "supply/ops/alerts.html", {"page": page, "open_only": open_only, "pager_query": _open_query(open_only)})


@login_required
@permission_required("supply.change_supplyalert", raise_exception=True)
@require_POST
def alert_acknowledge(request, alert_id: int):
    alerts = SupplyAlert.objects.filter(pk=alert_id)
    if not alerts.exists():
        raise Http404
    ops_services.supply_alerts_acknowledge(alerts=alerts, actor=request.user)
    messages.success(request, _("Alert acknowledged."))
    return _back(request, reverse("supply-ops:alerts"))


@login_required
@permission_required("supply.view_statementimport", raise_exception=True)
def statement_list(request):
    """The statements imported so far, and the form to import one (CSV or XLSX)."""
    may_import = request.user.has_perm("supply.add_statementimport")
    form = StatementUploadForm(request.POST or None, request.FILES or None) if may_import else None
    if request.method == "POST":
        if not may_import:
            raise Http404
        if form.is_valid():
            upload = form.cleaned_data["file"]
            imported = reconciliation.statement_import(
                upstream=form.cleaned_data["upstream"],
                data=upload.read(),
                filename=upload.name,
                actor=request.user,
                mode=form.cleaned_data["mode"],
                period_start=form.cleaned_data["period_start"],
                period_end=form.cleaned_data["period_end"],
            )
            earlier = StatementImport.objects.filter(upstream=imported.upstream, file_sha256=imported.file_sha256).exclude(pk=imported.pk)
            if earlier.exists():
                messages.warning(request, _("This file was imported before (statement #%(id)s).") % {"id": earlier.latest("pk").pk})
            return redirect("supply-ops:statement", statement_id=imported.pk)
    page = Paginator(selectors_ops.statements_recent(), 25).get_page(request.GET.get("page"))
    return render(request, "supply/ops/statements.html", {"page": page, "form": form})


@login_required
@permission_required("supply.view_statementimport", raise_exception=True)
def statement_detail(request, statement_id: int):
    statement = get_object_or_404(StatementImport.objects.select_related("upstream__supplier", "created_by"), pk=statement_id)
    open_only = request.GET.get("open", "1") == "1"
    differences = selectors_ops.statement_differences(statement=statement, open_only=open_only)
    page = Paginator(differences, 50).get_page(request.GET.get("page"))
    kinds = StatementDifference.Kind
    context = {
        "statement": statement,
        "page": page,
        "open_only": open_only,
        "pager_query": _open_query(open_only),
        "summary": [(kinds(kind).label, count) for kind, count in reconciliation.statement_summary(statement).items()],
        "costly": kinds.SUCCESS_REFUNDED,
        "costly_total": statement.differences.filter(kind=kinds.SUCCESS_REFUNDED, resolved_at__isnull=True).aggregate(
            total=Sum("their_amount")
        )["total"],
        "resolve_form": ResolveForm(),
        "may_resolve": request.user.has_perm("supply.change_statementdifference"),
    }
    return render(request, "supply/ops/statement.html", context)


@login_required
@permission_required("supply.change_statementdifference", raise_exception=True)
@require_POST
def difference_resolve(request, difference_id: int):
    difference = get_object_or_404(StatementDifference, pk=difference_id)
    form = ResolveForm(request.POST)
    back = reverse("supply-ops:statement", args=[difference.statement_id])
    if not form.is_valid():
        messages.error(request, _("Say what was done (a note is required)."))
        return _back(request, back)
    try:
        reconciliation.statement_difference_resolve(difference=difference, actor=request.user, note=form.cleaned_data["note"])
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Difference marked resolved."))
    return _back(request, back)


@login_required
@permission_required("supply.view_replenishment", raise_exception=True)
def replenishment_list(request):
    page = Paginator(selectors_ops.replenishments_recent(), 25).get_page(request.GET.get("page"))
    running = selectors_ops.replenishments_running_count()
    template = "supply/ops/_replenishment_rows.html" if request.htmx else "supply/ops/replenishments.html"
    return render(request, template, {"page": page, "running": running})
