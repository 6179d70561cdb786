"""Chat error codes (frames carry them as ``{"type": "error", "code", "message", "details"}``)."""

from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import InvalidInput, NotFound, OkError, PermissionDenied


class ChatEnded(OkError):
    code = "chat_ended"
    message = _("This chat has ended. Start a new chat if you need more help.")
    http_status = 409


class ChatNotFound(NotFound):
    code = "chat_not_found"
    message = _("This chat was not found.")


class ChatForbidden(PermissionDenied):
    code = "chat_forbidden"
    message = _("You cannot open this chat.")


class MessageTooLong(InvalidInput):
    code = "message_too_long"
    message = _("The message is too long.")


class MessageEmpty(InvalidInput):
    code = "message_empty"
    message = _("The message is empty.")


class BadFrame(InvalidInput):
    code = "bad_frame"
    message = _("The message could not be read.")


class UnknownFrameType(InvalidInput):
    code = "unknown_type"
    message = _("Unknown message type.")


class AgentAtCapacity(OkError):
    code = "agent_at_capacity"
    message = _("You already have as many chats as you can take. End one first.")
    http_status = 409


class AlreadyTaken(OkError):
    code = "chat_already_taken"
    message = _("Another agent has already accepted this chat.")
    http_status = 409


class NotInQueue(OkError):
    code = "chat_not_waiting"
    message = _("This chat is not waiting in a queue.")
    http_status = 409


class AttachmentRejected(InvalidInput):
    code = "attachment_rejected"
    message = _("Only images (PNG, JPEG, GIF, WebP) and PDF files up to 5 MB can be sent.")


class TopicFixed(OkError):
    code = "topic_fixed"
    message = _("An agent is already helping you; tell them what it is about.")
    http_status = 409
