from django.urls import path

from channels import api

app_name = "channels_api"
urlpatterns = [
    path("me/", api.MeApi.as_view(), name="me"),
    path("catalog/", api.CatalogApi.as_view(), name="catalog"),
    path("catalog/<str:sku_code>/", api.CatalogQuoteApi.as_view(), name="catalog-quote"),
    path("quotas/", api.QuotaListApi.as_view(), name="quotas"),
    path("quotas/transfers/", api.QuotaTransferApi.as_view(), name="quota-transfers"),
    path("downline/", api.DownlineApi.as_view(), name="downline"),
    path("downline/<int:pk>/", api.DownlineDetailApi.as_view(), name="downline-detail"),
    path("storefront/items/", api.StorefrontItemsApi.as_view(), name="storefront-items"),
]
