from django.urls import path

from analytics import views, views_finance, views_partner

app_name = "dashboards"  # the URL names people and links know: dashboards:ops-home ...
urlpatterns = [
    path("ops/", views.ops_home, name="ops-home"),
    path("ops/analytics/", views.ops_analytics, name="ops-analytics"),
    path("finance/", views.finance_home, name="finance-home"),
    path("finance/ledger-check/", views.finance_ledger_check, name="finance-ledger-check"),
    path("finance/analytics/", views_finance.finance_analytics, name="finance-analytics"),
    path("campaigns/analytics/", views_finance.campaign_analytics, name="campaign-analytics"),
    path("portal/", views_partner.portal_analytics, name="portal-analytics"),
    path("merchant/", views_partner.merchant_analytics, name="merchant-analytics"),
]
