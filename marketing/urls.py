"""Marketing's pages: consumers' sign-in, coupons, flash sales, group buys, referral links, targeted
issuance, ops' campaign pages and distributors' self-service campaigns. Mounted at the site's root
(voucherhub/urls.py), so each block carries its own prefix.

Each branch of issue 16 adds its lines in its own block below (marked by its name)."""

from django.urls import path

from marketing import views_ops, views_portal

app_name = "marketing"

urlpatterns = []

# offers
from marketing import views_coupons  # noqa: E402

urlpatterns += [
    path("c/claim/", views_coupons.code_claim, name="coupon-code-claim"),
    path("c/<int:campaign_id>/", views_coupons.campaign_page, name="coupon-campaign"),
    path("r/<str:token>/", views_coupons.referral_landing, name="referral-landing"),
]

# flash
from marketing import views_flash  # noqa: E402

urlpatterns += [
    path("flash/s/<slug:slug>/", views_flash.flash_list, name="flash-list"),
    path("flash/s/<slug:slug>/<int:campaign_id>/", views_flash.flash_page_in_shop, name="flash-page-in-shop"),
    path("flash/<int:campaign_id>/", views_flash.flash_page, name="flash-page"),
]

# deals: a shop's page of every campaign running there (linked from the shop header)
from marketing import views_deals  # noqa: E402

urlpatterns += [path("deals/s/<slug:slug>/", views_deals.deals, name="shop-deals")]

# groups
from marketing import views_groups  # noqa: E402

urlpatterns += [
    path("g/c/<int:campaign_id>/", views_groups.group_campaign_page, name="group-campaign"),
    path("g/<str:token>/", views_groups.group_page, name="group"),
]

# consumers
from marketing import views_consumers  # noqa: E402

urlpatterns += [
    path("me/login/", views_consumers.consumer_login, name="consumer-login"),
    path("me/logout/", views_consumers.consumer_logout, name="consumer-logout"),
]

# issue
from marketing import views_issuance  # noqa: E402

urlpatterns += [
    path("ops/marketing/issuance/", views_issuance.issuance_list, name="issuances"),
    path("ops/marketing/issuance/new/", views_issuance.issuance_new, name="issuance-new"),
    path("ops/marketing/issuance/<int:issuance_id>/", views_issuance.issuance_detail, name="issuance"),
    path("ops/marketing/issuance/<int:issuance_id>/progress/", views_issuance.issuance_progress, name="issuance-progress"),
    path("ops/marketing/issuance/<int:issuance_id>/confirm/", views_issuance.issuance_confirm, name="issuance-confirm"),
    path("ops/marketing/issuance/<int:issuance_id>/cancel/", views_issuance.issuance_cancel, name="issuance-cancel"),
    path("ops/marketing/issuance/<int:issuance_id>/retry/", views_issuance.issuance_retry, name="issuance-retry"),
]

# ops
urlpatterns += [
    path("ops/marketing/", views_ops.campaign_list, name="ops-campaigns"),
    path("ops/marketing/new/", views_ops.campaign_new, name="ops-campaign-new"),
    path("ops/marketing/<int:campaign_id>/", views_ops.campaign_detail, name="ops-campaign"),
    path("ops/marketing/<int:campaign_id>/state/", views_ops.campaign_state, name="ops-campaign-state"),
    path("ops/marketing/<int:campaign_id>/results/", views_ops.campaign_results_page, name="ops-results"),
    path("ops/marketing/<int:campaign_id>/results.xlsx", views_ops.campaign_results_xlsx, name="ops-results-xlsx"),
    path("portal/campaigns/", views_portal.campaign_list, name="portal-campaigns"),
    path("portal/campaigns/new/", views_portal.campaign_new, name="portal-campaign-new"),
    path("portal/campaigns/<int:campaign_id>/", views_portal.campaign_results_page, name="portal-campaign-results"),
    path("portal/campaigns/<int:campaign_id>/state/", views_portal.campaign_state, name="portal-campaign-state"),
    path("portal/campaigns/<int:campaign_id>/results.xlsx", views_portal.campaign_results_xlsx, name="portal-campaign-xlsx"),
]
