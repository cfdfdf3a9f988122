from django.urls import path

from redemption import api

app_name = "redemption_api"
urlpatterns = [
    path("redemptions/verify/", api.RedemptionVerifyApi.as_view(), name="verify"),
    path("redemptions/", api.RedemptionListCreateApi.as_view(), name="list"),
    path("redemptions/<int:pk>/", api.RedemptionDetailApi.as_view(), name="detail"),
    path("redemptions/<int:pk>/reverse/", api.RedemptionReverseApi.as_view(), name="reverse"),
]
