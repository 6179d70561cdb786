from django.urls import path

from okwallet.voice.consumers import CallEventsConsumer

websocket_urlpatterns = [path("ws/console/calls/", CallEventsConsumer.as_asgi())]
