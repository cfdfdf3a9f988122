"""Role home pages of ops and finance: read-only figures from every app's selectors.

analytics is the top of the import order (docs/architecture.md): it may import any app, and nothing but the
roof (voucherhub/urls.py, the settings) imports it."""

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from analytics.dashboards import dashboard_response
from analytics.selectors.ops import ops_dashboard
from catalog import selectors as catalog_selectors
from redemption import selectors as redemption_selectors
from riskcontrol import selectors as risk_selectors
from settlement.selectors.aftersales import code_issues_open_count
from settlement.selectors.finance import finance_summary, ledger_recheck
from settlement.selectors.wallets import withdrawals_pending
from voucherhub.core.roles import FINANCE, OPS, has_role


def _require(request, role: str) -> None:
    if not has_role(request.user, role):
        raise PermissionDenied


def _last_30_days() -> tuple[date, date]:
    today = timezone.localdate()
    return today - timedelta(days=29), today


@login_required
def ops_home(request):
    _require(request, OPS)

    stock = catalog_selectors.stock_by_sku()
    context = {
        "stock": stock,
        "low_stock": [row for row in stock if row.low],
        "imports": catalog_selectors.recent_imports(limit=8),
        "risk": risk_selectors.ops_summary(),
        "redemption": redemption_selectors.redemption_overview(period=_last_30_days()),
        "open_code_issues": code_issues_open_count(),
    }
    return render(request, "analytics/ops_home.html", context)


def _sku_param(request) -> int | None:
    """The ?sku= drill-down filter; anything that is no id is ignored."""
    value = request.GET.get("sku", "")
    return int(value) if value.isdigit() and len(value) <= 18 else None  # 18 digits: within a bigint


@login_required
def ops_analytics(request):
    """Sales, stock, redemption and risk charts for a period (issue 17); ?sku=ID narrows the sales trend."""
    _require(request, OPS)

    sku_id = _sku_param(request)
    return dashboard_response(
        request,
        build=lambda period: ops_dashboard(period, sku_id=sku_id),
        template="analytics/ops_analytics.html",
        context={"sku_id": sku_id},
        filename="ops-analytics",
    )


@login_required
def finance_home(request):
    _require(request, FINANCE)

    context = {"summary": finance_summary(), "withdrawals": withdrawals_pending()[:8]}
    return render(request, "analytics/finance_home.html", context)


@login_required
@require_POST
def finance_ledger_check(request):
    """The ledger card's "check now": prove the ledger again and go back to the finance home."""
    _require(request, FINANCE)

    status = ledger_recheck()
    if status.ok:
        messages.success(request, gettext("Ledger checked: balanced."))
    else:
        messages.error(
            request,
            gettext("Ledger checked: %(n)s problem(s) found. Run `manage.py ledger_check` for the report.") % {"n": status.problems},
        )
    return redirect("dashboards:finance-home")
