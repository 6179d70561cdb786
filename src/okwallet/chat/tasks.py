"""Huey jobs: thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*"))
def chat_assignment_sweep() -> None:
    """Every minute: chats of agents gone past the grace period back to the queue, and waiting
    chats to available agents (the events that trigger a pass are the fast path)."""
    from okwallet.chat.assignment import assignment_sweep

    assignment_sweep()
