from django.urls import path

from okwallet.console import views

url_prefix = "console/"
app_name = "console"
urlpatterns = [
    path("", views.home, name="home"),
]
