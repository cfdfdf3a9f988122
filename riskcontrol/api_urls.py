from django.urls import path

from riskcontrol import api

app_name = "riskcontrol_api"
urlpatterns = [
    path("risk/challenge/", api.ChallengeApi.as_view(), name="challenge"),
]
