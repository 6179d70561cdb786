from django.urls import path

from okwallet.ops import views

app_name = "ops"
urlpatterns = [
    path("metrics", views.metrics_view, name="metrics"),
    path("console/system/", views.status_page, name="status"),
]
