from django.urls import path

from okwallet.antifraud import views

url_prefix = "security-centre/"
app_name = "antifraud"
urlpatterns = [
    path("", views.security_centre, name="centre"),
    path("verify/", views.verify_view, name="verify"),
    path("report/", views.report_view, name="report"),
]
