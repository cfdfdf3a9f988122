"""Marketing's pages: consumers' sign-in, coupons, flash sales, group buys, referral links, targeted
issuance, ops' campaign pages and distributors' self-service campaigns. Mounted at the site's root
(voucherhub/urls.py), so each block carries its own prefix.

Each branch of issue 16 adds its lines in its own block below (marked by its name)."""

from django.urls import path

app_name = "marketing"

urlpatterns = []

# offers
urlpatterns += []

# flash
from marketing import views_flash  # noqa: E402

urlpatterns += [
    path("flash/s/<slug:slug>/", views_flash.flash_list, name="flash-list"),
    path("flash/s/<slug:slug>/<int:campaign_id>/", views_flash.flash_page_in_shop, name="flash-page-in-shop"),
    path("flash/<int:campaign_id>/", views_flash.flash_page, name="flash-page"),
]

# groups
urlpatterns += []

# consumers
urlpatterns += []

# issue
urlpatterns += []

# ops
urlpatterns += []

__all__ = ["path", "urlpatterns"]
