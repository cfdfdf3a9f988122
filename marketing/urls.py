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
urlpatterns += []

# ops
urlpatterns += []

__all__ = ["path", "urlpatterns"]
