from django.urls import path

from settlement import api, topup_api

app_name = "settlement_api"
urlpatterns = [
    path("orders/", api.OrderListCreateApi.as_view(), name="orders"),
    path("orders/<str:number>/", api.OrderDetailApi.as_view(), name="order"),
    path("orders/<str:number>/codes/", api.OrderCodesApi.as_view(), name="order-codes"),
    path("wallet/", api.WalletApi.as_view(), name="wallet"),
    path("topups/", topup_api.TopupCreateApi.as_view(), name="topups"),
    path("topups/<str:ref>/", topup_api.TopupDetailApi.as_view(), name="topup"),
]
