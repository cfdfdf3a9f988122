from django.urls import path

from settlement import aftersales_views, consumer_views, merchant_views, offer_views, refund_views, views, withdrawal_views

app_name = "settlement"
urlpatterns = [
    # Distributor portal
    path("portal/buy/", views.portal_buy, name="portal-buy"),
    path("portal/orders/", views.portal_orders, name="portal-orders"),
    path("portal/orders/<str:number>/", views.portal_order, name="portal-order"),
    path("portal/orders/<str:number>/codes/", views.portal_order_codes, name="portal-order-codes"),
    path("portal/orders/<str:number>/codes/<int:item_id>/report/", aftersales_views.portal_code_report, name="portal-code-report"),
    path("portal/wallet/", views.portal_wallet, name="portal-wallet"),
    path("portal/commission/", views.portal_commission, name="portal-commission"),
    path("portal/withdrawals/", views.portal_withdrawals, name="portal-withdrawals"),
    path("portal/statements/", views.portal_statements, name="portal-statements"),
    path("portal/statements/<int:pk>/", views.portal_statement, name="portal-statement"),
    path("portal/statements/<int:pk>/download/", views.portal_statement_download, name="portal-statement-download"),
    # Storefront checkout, payment, lookup
    path("s/<slug:slug>/p/<str:sku_code>/buy/", views.checkout, name="checkout"),
    path("s/<slug:slug>/flash/<int:campaign_id>/buy/", offer_views.flash_buy, name="flash-buy"),
    path("s/<slug:slug>/bundle/<int:campaign_id>/", offer_views.bundle_checkout, name="bundle"),
    path("pay/sandbox/<str:number>/", views.sandbox_pay, name="sandbox-pay"),
    path("pay/manual/<str:number>/", views.manual_pay, name="manual-pay"),
    path("pay/callback/<str:adapter>/", views.payment_callback, name="payment-callback"),
    path("orders/lookup/", views.order_lookup_page, name="order-lookup"),
    path("orders/<str:number>/receipt/", views.order_receipt, name="order-receipt"),
    path("orders/report/<str:token>/", aftersales_views.consumer_report, name="consumer-report"),
    # The signed-in consumer's own page (marketing's SMS sign-in: /me/login/)
    path("me/", consumer_views.consumer_home, name="consumer-home"),
    # Finance
    path("finance/withdrawals/", views.finance_withdrawals, name="finance-withdrawals"),
    path("finance/withdrawals/bulk-approve/", withdrawal_views.finance_withdrawals_bulk_approve, name="finance-withdrawals-bulk-approve"),
    path("finance/withdrawals/<int:pk>/decide/", views.finance_withdrawal_decide, name="finance-withdrawal-decide"),
    path("finance/statements/", views.finance_statements, name="finance-statements"),
    path("finance/statements/<int:pk>/", views.finance_statement, name="finance-statement"),
    path("finance/statements/<int:pk>/download/", views.finance_statement_download, name="finance-statement-download"),
    path("finance/exports/", views.finance_exports, name="finance-exports"),
    path("finance/exports/<int:pk>/", views.finance_export_progress, name="finance-export-progress"),
    path("finance/exports/<int:pk>/download/", views.finance_export_download, name="finance-export-download"),
    path("finance/exports/<int:pk>/retry/", views.finance_export_retry, name="finance-export-retry"),
    path("finance/payments/", views.finance_payments, name="finance-payments"),
    path("finance/payments/<int:pk>/confirm/", views.finance_payment_confirm, name="finance-payment-confirm"),
    path("finance/wallets/", views.finance_wallets, name="finance-wallets"),
    path("finance/merchant-statements/", merchant_views.finance_merchant_statements, name="finance-merchant-statements"),
    path("finance/merchant-statements/<int:pk>/", merchant_views.finance_merchant_statement, name="finance-merchant-statement"),
    path(
        "finance/merchant-statements/<int:pk>/download/",
        merchant_views.finance_merchant_statement_download,
        name="finance-merchant-statement-download",
    ),
    path("finance/refunds/", refund_views.finance_refund_payouts, name="finance-refund-payouts"),
    path("finance/refunds/<int:pk>/paid/", refund_views.finance_refund_payout_record, name="finance-refund-payout-record"),
    # The merchant console's statements (redemption's console layout)
    path("merchant/statements/", merchant_views.console_statements, name="console-statements"),
    path("merchant/statements/<int:pk>/", merchant_views.console_statement, name="console-statement"),
    path("merchant/statements/<int:pk>/download/", merchant_views.console_statement_download, name="console-statement-download"),
]
