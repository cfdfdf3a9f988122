from django.urls import path

from supply import ops_views as views

app_name = "supply-ops"
urlpatterns = [
    path("", views.supply_home, name="home"),
    path("suppliers/<int:upstream_id>/status/", views.upstream_status, name="upstream-status"),
    path("holds/", views.hold_queue, name="holds"),
    path("holds/<int:topup_id>/", views.hold_decide, name="hold-decide"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("reconciliation/", views.statement_list, name="statements"),
    path("reconciliation/<int:statement_id>/", views.statement_detail, name="statement"),
    path("reconciliation/differences/<int:difference_id>/resolve/", views.difference_resolve, name="difference-resolve"),
    path("replenishments/", views.replenishment_list, name="replenishments"),
]
