from django.urls import path

from okwallet.mail import views

app_name = "mail"
url_prefix = "console/mail/"

urlpatterns = [
    path("", views.inbound_list, name="inbound"),
    path("messages/<int:pk>/", views.inbound_detail, name="inbound_detail"),
    path("messages/<int:pk>/raw/", views.inbound_raw, name="inbound_raw"),
    path("messages/<int:pk>/refile/", views.inbound_refile, name="inbound_refile"),
    path("outbox/", views.outbox_list, name="outbox"),
    path("outbox/<int:pk>/retry/", views.outbox_retry, name="outbox_retry"),
]
