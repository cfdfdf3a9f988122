"""The finance dashboard (finance only) and the campaign dashboard (ops and finance): charts over the rollups
(analytics/selectors/finance.py, analytics/selectors/campaigns.py), a date range, drill-down and XLSX."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from analytics.dashboards import dashboard_response
from analytics.selectors.campaigns import campaign_dashboard
from analytics.selectors.finance import finance_dashboard
from channels.models import Distributor
from marketing.models import Campaign
from voucherhub.core.roles import FINANCE, OPS, has_role


def _require_any(request, *roles: str) -> None:
    if not any(has_role(request.user, role) for role in roles):
        raise PermissionDenied


def _id_param(request, name: str) -> int | None:
    """A positive id from ?name=; anything else means no filter."""
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


@login_required
def finance_analytics(request):
    _require_any(request, FINANCE)
    distributor_id = _id_param(request, "distributor")
    distributor_name = Distributor.objects.filter(pk=distributor_id).values_list("name", flat=True).first() if distributor_id else None
    return dashboard_response(
        request,
        build=lambda period: finance_dashboard(period, distributor_id=distributor_id),
        template="analytics/finance_analytics.html",
        context={"distributor_id": distributor_id, "distributor_name": distributor_name or f"#{distributor_id}"},
        filename="finance",
    )


@login_required
def campaign_analytics(request):
    _require_any(request, OPS, FINANCE)
    campaign_id = _id_param(request, "campaign")
    campaign = Campaign.objects.filter(pk=campaign_id).only("pk", "name").first() if campaign_id else None
    return dashboard_response(
        request,
        build=lambda period: campaign_dashboard(period, campaign_id=campaign_id),
        template="analytics/campaign_analytics.html",
        context={"campaign_id": campaign_id, "campaign": campaign},
        filename=f"campaign-{campaign_id}" if campaign_id else "campaigns",
    )
