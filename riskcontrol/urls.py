from django.urls import path

from riskcontrol import views

app_name = "riskcontrol"
urlpatterns = [
    path("reviews/", views.review_list, name="review-list"),
    path("reviews/<int:event_id>/", views.review_detail, name="review-detail"),
    path("alerts/", views.alert_list, name="alert-list"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("challenge/", views.challenge_fragment, name="challenge"),
    path("otp/setup/", views.otp_setup, name="otp-setup"),
    path("otp/verify/", views.otp_verify, name="otp-verify"),
]
