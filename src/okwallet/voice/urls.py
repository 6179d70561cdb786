from django.urls import path

from okwallet.voice import views

url_prefix = ""
app_name = "voice"
urlpatterns = [
    path("voice/twilio/incoming", views.twilio_incoming, name="twilio_incoming"),
    path("voice/twilio/gather", views.twilio_gather, name="twilio_gather"),
    path("voice/twilio/wait", views.twilio_wait, name="twilio_wait"),
    path("voice/twilio/queue-exit", views.twilio_queue_exit, name="twilio_queue_exit"),
    path("voice/twilio/bridge", views.twilio_bridge, name="twilio_bridge"),
    path("voice/twilio/recorded", views.twilio_recorded, name="twilio_recorded"),
    path("voice/twilio/status", views.twilio_status, name="twilio_status"),
    path("voice/twilio/callback-connect", views.twilio_callback_connect, name="twilio_callback_connect"),
    path("voice/twilio/callback-result", views.twilio_callback_result, name="twilio_callback_result"),
    path("voice/twilio/callback-status", views.twilio_callback_status, name="twilio_callback_status"),
    path("voice/twilio/agent-dial", views.twilio_agent_dial, name="twilio_agent_dial"),
    path("console/calls/", views.console_calls, name="calls"),
    path("console/calls/waiting", views.console_waiting, name="waiting"),
    path("console/calls/ready", views.console_ready, name="ready"),
    path("console/calls/callbacks/", views.console_callbacks, name="callbacks"),
    path(
        "console/calls/callbacks/<int:callback_id>/update",
        views.console_callback_update,
        name="callback_update",
    ),
    path(
        "console/calls/callbacks/<int:callback_id>/outcome",
        views.console_callback_outcome,
        name="callback_outcome",
    ),
    path("console/calls/voicemails/", views.console_voicemails, name="voicemails"),
    path("console/calls/<int:call_id>/", views.console_call, name="call"),
    path("console/calls/<int:call_id>/pop", views.console_screen_pop, name="screen_pop"),
    path("console/calls/<int:call_id>/take", views.console_call_take, name="call_take"),
    path("console/calls/<int:call_id>/hangup", views.console_call_hangup, name="call_hangup"),
    path("console/calls/<int:call_id>/wrapup", views.console_call_wrapup, name="call_wrapup"),
]
