from django.urls import path

from okwallet.chat.auth import TOKEN_PATHS
from okwallet.chat.consumers import AgentChatConsumer, CustomerChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", CustomerChatConsumer.as_asgi()),
    path("ws/chat/agent/", AgentChatConsumer.as_asgi()),
]
# The customer socket also accepts the app's API token (okwallet.core.websocket).
token_auth_paths = TOKEN_PATHS
