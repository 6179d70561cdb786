"""Queue wait estimates shared by live chat and the hotline (M/M/c, Erlang C).

Model: customers arrive as a Poisson stream at rate λ (``arrival_rate_per_s``), each
conversation takes an exponentially distributed handle time with mean 1/μ
(``mean_handle_s``), and there are c servers (``servers``). An agent who may handle several
chats at once counts as that many servers (``servers_for(capacities)``): the chat queue
drains at c·μ when every slot is busy.

Formulas (documented in docs/chat.md):

- offered load A = λ/μ (erlangs), utilisation ρ = A/c; the queue is stable only when ρ < 1.
- Erlang B by the stable recursion B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1)).
- Erlang C (probability that an arrival waits): C(c, A) = c·B(c) / (c - A·(1 - B(c))).
- Expected wait in queue before service, for someone about to join:
  W_q = C(c, A) / (c·μ - λ).
- Someone already in the queue with k customers ahead of them, all c servers busy, needs
  k + 1 departures; departures come at rate c·μ, so the expected wait is (k + 1) / (c·μ).
- Probability of answering within t seconds: 1 - C(c, A)·exp(-(c·μ - λ)·t).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = [
    "erlang_b",
    "erlang_c_probability_wait",
    "erlang_c_service_level",
    "erlang_c_wait_seconds",
    "position_wait_seconds",
    "servers_for",
]


def _check(arrival_rate_per_s: float, mean_handle_s: float, servers: int) -> None:
    if arrival_rate_per_s < 0 or not math.isfinite(arrival_rate_per_s):
        raise ValueError("arrival_rate_per_s must be a finite number >= 0")
    if mean_handle_s <= 0 or not math.isfinite(mean_handle_s):
        raise ValueError("mean_handle_s must be a finite number > 0")
    if servers < 0:
        raise ValueError("servers must be >= 0")


def servers_for(capacities: Iterable[int]) -> int:
    """The c of the model: the sum of each available agent's concurrency limit (>= 1 each)."""
    return sum(max(1, int(cap)) for cap in capacities)


def erlang_b(*, servers: int, offered_load: float) -> float:
    """Blocking probability B(c, A), computed by the numerically stable recursion."""
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


def erlang_c_probability_wait(*, arrival_rate_per_s: float, mean_handle_s: float, servers: int) -> float:
    """Probability that a new arrival has to wait (all c servers busy): Erlang C.

    1.0 when there are no servers or the load is at or above capacity; 0.0 with no arrivals.
    """
    _check(arrival_rate_per_s, mean_handle_s, servers)
    if arrival_rate_per_s == 0:
        return 0.0
    if servers == 0:
        return 1.0
    load = arrival_rate_per_s * mean_handle_s  # A = λ/μ
    if load >= servers:
        return 1.0
    b = erlang_b(servers=servers, offered_load=load)
    return servers * b / (servers - load * (1.0 - b))


def erlang_c_wait_seconds(*, arrival_rate_per_s: float, mean_handle_s: float, servers: int) -> float:
    """Expected wait in queue (seconds) for someone about to join: C(c, A) / (cμ - λ).

    ``math.inf`` when the load is at or above capacity (ρ ≥ 1) or nobody is serving.
    """
    _check(arrival_rate_per_s, mean_handle_s, servers)
    if arrival_rate_per_s == 0:
        return 0.0
    mu = 1.0 / mean_handle_s
    if servers == 0 or arrival_rate_per_s >= servers * mu:
        return math.inf
    pw = erlang_c_probability_wait(
        arrival_rate_per_s=arrival_rate_per_s, mean_handle_s=mean_handle_s, servers=servers
    )
    return pw / (servers * mu - arrival_rate_per_s)


def erlang_c_service_level(
    *, arrival_rate_per_s: float, mean_handle_s: float, servers: int, within_s: float
) -> float:
    """Probability that an arrival is answered within ``within_s`` seconds."""
    _check(arrival_rate_per_s, mean_handle_s, servers)
    mu = 1.0 / mean_handle_s
    if arrival_rate_per_s == 0:
        return 1.0
    if servers == 0 or arrival_rate_per_s >= servers * mu:
        return 0.0
    pw = erlang_c_probability_wait(
        arrival_rate_per_s=arrival_rate_per_s, mean_handle_s=mean_handle_s, servers=servers
    )
    return 1.0 - pw * math.exp(-(servers * mu - arrival_rate_per_s) * max(0.0, within_s))


def position_wait_seconds(
    *, position: int, servers: int, mean_handle_s: float, busy: int | None = None
) -> float:
    """Expected wait for someone already queued with ``position`` customers ahead of them.

    ``position`` counts the people ahead (0 = next in line). With all c servers busy the
    customer needs position + 1 departures at rate c·μ: (k + 1) / (c·μ) = (k + 1)·(1/μ) / c.
    If ``busy`` is given and a server is free for this customer (busy + position < servers),
    the wait is 0. ``math.inf`` when nobody is serving.
    """
    if position < 0:
        raise ValueError("position must be >= 0")
    if mean_handle_s <= 0 or not math.isfinite(mean_handle_s):
        raise ValueError("mean_handle_s must be a finite number > 0")
    if servers <= 0:
        return math.inf
    if busy is not None and busy + position < servers:
        return 0.0
    return (position + 1) * mean_handle_s / servers
