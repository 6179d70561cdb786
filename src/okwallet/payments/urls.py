from django.urls import path

from okwallet.payments import views
from okwallet.payments import views_console as console

# At the root so the wallet (customers, /wallet/) and the money pages of the agent console
# (/console/...) live in one app.
url_prefix = ""
app_name = "payments"
urlpatterns = [
    path("wallet/", views.wallet_home, name="home"),
    path("wallet/records/", views.records, name="records"),
    path("wallet/records.csv", views.records_csv, name="records_csv"),
    path("wallet/records/<str:reference>/", views.record_detail, name="detail"),
    path("wallet/deposit/", views.deposit, name="deposit"),
    path("wallet/withdraw/", views.withdraw, name="withdraw"),
    path("wallet/transfer/", views.transfer, name="transfer"),
    path("wallet/cards/", views.cards, name="cards"),
    path("wallet/deposit-check/", views.self_check, name="self_check"),
    path("wallet/notify/<str:channel>/", views.channel_notify, name="notify"),
    path("console/transactions/<str:reference>/", console.transaction_detail, name="console_transaction"),
    path(
        "console/transactions/<str:reference>/reverse/", console.transaction_reverse, name="console_reverse"
    ),
    path(
        "console/reversals/<str:reference>/approve/",
        console.reversal_approve,
        name="console_reversal_approve",
    ),
    path(
        "console/reversals/<str:reference>/reject/", console.reversal_reject, name="console_reversal_reject"
    ),
    path("console/reconciliation/", console.reconciliation_page, name="console_reconciliation"),
    path("console/reconciliation/<int:pk>/", console.mismatch_detail, name="console_mismatch"),
    path("console/reconciliation/<int:pk>/settle/", console.mismatch_settle, name="console_mismatch_settle"),
    path(
        "console/reconciliation/<int:pk>/channel-error/",
        console.mismatch_channel_error,
        name="console_mismatch_channel_error",
    ),
    path(
        "console/reconciliation/<int:pk>/resolve/", console.mismatch_resolve, name="console_mismatch_resolve"
    ),
    path("console/reconciliation/<int:pk>/ticket/", console.mismatch_ticket, name="console_mismatch_ticket"),
]
