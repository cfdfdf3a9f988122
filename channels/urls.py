from django.urls import path

from channels import views

app_name = "channels"
urlpatterns = [
    path("portal/", views.home, name="portal-home"),
    path("portal/downline/", views.downline_list, name="portal-downline"),
    path("portal/downline/<int:pk>/", views.downline_detail, name="portal-downline-detail"),
    path("portal/invitations/", views.invitations, name="portal-invitations"),
    path("portal/invitations/<int:pk>/revoke/", views.invitation_revoke, name="portal-invitation-revoke"),
    path("portal/prices/", views.prices, name="portal-prices"),
    path("portal/quotas/", views.quotas, name="portal-quotas"),
    path("portal/quotas/<int:pk>/", views.quota_detail, name="portal-quota-detail"),
    path("portal/storefront/", views.storefront_settings, name="portal-storefront"),
    path("portal/storefront/items/<int:pk>/remove/", views.storefront_item_remove, name="portal-storefront-item-remove"),
    path("portal/api-keys/", views.api_keys, name="portal-api-keys"),
    path("portal/api-keys/<int:pk>/rotate/", views.api_key_rotate, name="portal-api-key-rotate"),
    path("portal/api-keys/<int:pk>/allowlist/", views.api_key_allowlist, name="portal-api-key-allowlist"),
    path("portal/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="portal-api-key-revoke"),
    path("join/<str:token>/", views.join, name="join"),
    path("ops/channels/trace/", views.ops_trace, name="ops-trace"),
    path("ops/channels/violations/", views.ops_violations, name="ops-violations"),
    path("s/<slug:slug>/", views.storefront_home, name="shop"),
    path("s/<slug:slug>/logo/", views.storefront_logo, name="shop-logo"),
    path("s/<slug:slug>/p/<str:sku_code>/", views.storefront_product, name="shop-product"),
]
