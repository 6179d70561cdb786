from django.urls import path

from okwallet.hours import views

app_name = "hours"
urlpatterns = [
    path("hours/", views.hours_page, name="hours"),
]
