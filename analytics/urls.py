from django.urls import path

from analytics import views

app_name = "dashboards"  # the URL names people and links know: dashboards:ops-home ...
urlpatterns = [
    path("ops/", views.ops_home, name="ops-home"),
    path("ops/analytics/", views.ops_analytics, name="ops-analytics"),
    path("finance/", views.finance_home, name="finance-home"),
    path("finance/ledger-check/", views.finance_ledger_check, name="finance-ledger-check"),
]
