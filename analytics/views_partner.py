"""The partners' dashboards: a distributor's in its portal, a merchant's in its console (issue 17).

Both reuse the page's own access rules: channels' `portal_view` (the signed-in distributor, NotInDownline ->
404) and redemption's `clerk_required` (the clerk's merchant and stores). A drill-down id outside the caller's
scope answers 404 (invariant 5).
"""

from django.http import Http404

from analytics.dashboards import dashboard_response
from analytics.selectors.distributor import distributor_dashboard
from analytics.selectors.merchant import merchant_dashboard, merchant_store_get
from channels import selectors as channel_selectors
from channels.views import portal_view
from redemption.views import clerk_required
from voucherhub.core.errors import NotFound


@portal_view
def portal_analytics(request):
    distributor = request.distributor
    member_id = request.GET.get("member")
    member = channel_selectors.downline_get(distributor, member_id) if member_id else None  # NotInDownline -> 404
    return dashboard_response(
        request,
        build=lambda period: distributor_dashboard(period, distributor, member=member),
        template="analytics/portal_analytics.html",
        context={"distributor": distributor, "member": member},
        filename="distributor",
    )


@clerk_required
def merchant_analytics(request):
    merchant, store_ids = request.clerk.merchant, request.clerk_store_ids
    store = None
    if request.GET.get("store"):
        try:
            store = merchant_store_get(merchant, request.GET["store"], store_ids=store_ids)
        except NotFound:
            raise Http404
    return dashboard_response(
        request,
        build=lambda period: merchant_dashboard(period, merchant, store.pk if store else None, store_ids=store_ids),
        template="analytics/merchant_analytics.html",
        context={"merchant": merchant, "store": store, "stores": request.clerk_stores},
        filename="merchant",
    )
