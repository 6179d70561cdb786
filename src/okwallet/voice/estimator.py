"""The wait estimator, shared with live chat (``okwallet.core.queueing``, Erlang C / M/M/c)."""

from okwallet.core.queueing import erlang_c_wait_seconds, position_wait_seconds

__all__ = ["erlang_c_wait_seconds", "position_wait_seconds"]
