"""Helpdesk error codes (stable strings) and their messages."""

from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import InvalidInput, OkError


class TicketClosed(OkError):
    code = "ticket_closed"
    message = _("This ticket is closed. Please open a new request.")
    http_status = 409


class InvalidCategory(InvalidInput):
    code = "invalid_category"
    message = _("Please choose one of the listed categories.")


class AttachmentTooLarge(OkError):
    code = "attachment_too_large"
    message = _("The file is too large (at most 10 MB each).")
    http_status = 413


class AttachmentTypeForbidden(OkError):
    code = "attachment_type_forbidden"
    message = _("This type of file cannot be attached. Use images, PDF or text files.")
    http_status = 415


class AgentUnavailable(OkError):
    code = "agent_unavailable"
    message = _("This agent is not available (away, offline or not in the ticket's queue).")
    http_status = 409


class InvalidTransition(OkError):
    code = "invalid_status_change"
    message = _("The ticket cannot change to that status now.")
    http_status = 409


class ComplaintAlreadyExtended(OkError):
    code = "complaint_already_extended"
    message = _("The outcome deadline of a complaint can be extended only once.")
    http_status = 409


class CsatInvalid(OkError):
    code = "csat_link_invalid"
    message = _("This survey link is invalid or has expired.")
    http_status = 404
