from django.urls import path

from supply import views

app_name = "supply"

urlpatterns = [
    path("callback/<int:upstream_id>/", views.callback, name="callback"),
]
