from django.urls import path

from okwallet.chat import views

url_prefix = ""
app_name = "chat"
urlpatterns = [
    path("chat/", views.chat_page, name="page"),
    path("chat/<str:public_id>/attachments/", views.attachment_upload, name="upload"),
    path("chat/attachments/<int:pk>/", views.attachment_download, name="attachment"),
    path("console/chat/", views.console_index, name="console"),
    path("console/chat/queue/", views.console_queue_partial, name="console_queue"),
    path("console/chat/next/", views.console_accept_next, name="console_accept_next"),
    path("console/chat/availability/", views.console_availability, name="console_availability"),
    path("console/chat/live/", views.console_supervise, name="console_supervise"),
    path("console/chat/<str:public_id>/", views.console_chat, name="console_chat"),
    path("console/chat/<str:public_id>/accept/", views.console_accept, name="console_accept"),
    path("console/chat/<str:public_id>/transfer/", views.console_transfer, name="console_transfer"),
    path("console/chat/<str:public_id>/end/", views.console_end, name="console_end"),
    path("console/chat/<str:public_id>/join/", views.console_join, name="console_join"),
]
