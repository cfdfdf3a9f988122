from django.urls import path

from redemption import views

app_name = "redemption"
urlpatterns = [
    # Merchant console
    path("merchant/", views.console, name="console"),
    path("merchant/verify/", views.console_verify, name="console-verify"),
    path("merchant/redeem/", views.console_redeem, name="console-redeem"),
    path("merchant/redemptions/", views.console_redemptions, name="console-redemptions"),
    path("merchant/redemptions/<int:pk>/reverse/", views.console_reverse, name="console-reverse"),
    path("merchant/summary/", views.console_summary, name="console-summary"),
    path("merchant/export.<str:fmt>/", views.console_export, name="console-export"),
    # The holder's private page
    path("my/<str:token>/", views.holder_codes, name="holder-codes"),
    path("my/<str:token>/reveal/<int:holding_id>/", views.holder_reveal, name="holder-reveal"),
    path("my/<str:token>/gift/<int:holding_id>/", views.holder_gift, name="holder-gift"),
    path("my/<str:token>/unsubscribe/", views.holder_unsubscribe, name="holder-unsubscribe"),
    path("my/<str:token>/resubscribe/", views.holder_resubscribe, name="holder-resubscribe"),
]
