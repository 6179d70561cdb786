from django.urls import path

from okwallet.kb import views

url_prefix = "help/"
app_name = "kb"
urlpatterns = [
    path("", views.home, name="home"),
    path("search", views.search_page, name="search"),
    path("a/<slug:slug>", views.article_page, name="article"),
    path("a/<slug:slug>/feedback", views.feedback_submit, name="feedback"),
    path("contacted/<str:channel>", views.contact_redirect, name="contacted"),
    path("flows/<str:flow>", views.flow_page, name="flow"),
    path("flows/<str:flow>/<uuid:run_id>", views.flow_step, name="flow_step"),
]
