"""``{% chat_widget %}``: the live-chat widget, included once by core/base.html on portal pages."""

from django import template
from django.utils.translation import gettext as _

from okwallet.chat import topics

register = template.Library()


def widget_strings() -> dict:
    return {
        "intro": _(
            "Ask a question to start. The assistant answers first; press “Talk to a person” at any time."
        ),
        "human": _("Talk to a person"),
        "helpful": _("Helpful"),
        "not_helpful": _("Not helpful"),
        "read_article": _("Read the article"),
        "leave_message": _("Leave a message"),
        "help_centre": _("Help centre"),
        "rate": _("Rate this chat"),
        "transcript": _("Email the transcript"),
        "sent": _("Sent"),
        "read": _("Read"),
        "reconnecting": _("Reconnecting…"),
        "reload": _("Please reload the page to continue chatting."),
        "closed_now": _("Agents are offline now; the assistant can still help, or leave a message."),
        "closed_until": _(
            "Agents are offline now and back at %s (Beijing time); the assistant can still help, or leave a message."
        ),
        "estimate": _("Expected wait for a person now: %s"),
        "queue": _("You are number %n in the queue. Expected wait: %s"),
        "with_agent": _("You are chatting with %s"),
        "agent_typing": _("The agent is typing…"),
        "wait_unknown": _("a few minutes"),
        "wait_under_minute": _("under a minute"),
        "wait_minutes": _("about %s min"),
        "confirm_end": _("End this chat?"),
        "transcript_sent": _("The transcript is on its way to %s."),
        "thanks": _("Thank you for your rating!"),
        "upload_failed": _("The file could not be sent."),
    }


@register.inclusion_tag("chat/_widget.html", takes_context=True)
def chat_widget(context, embedded=False):
    request = context.get("request")
    path = getattr(request, "path", "") or ""
    show = embedded or not (
        path.startswith("/console/") or path.startswith("/admin/") or path.startswith("/chat/")
    )
    return {
        "show": show,
        "embedded": embedded,
        "user": getattr(request, "user", None),
        "request": request,
        "chat_i18n": widget_strings(),
        "choices": topics.choices(),
    }
