from django.urls import path

from okwallet.contact import views

app_name = "contact"
urlpatterns = [
    path("contact", views.contact_page, name="contact"),
]
