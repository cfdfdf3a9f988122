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
urlpatterns += []

# groups
urlpatterns += []

# consumers
urlpatterns += []

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
urlpatterns += []

__all__ = ["path", "urlpatterns"]
