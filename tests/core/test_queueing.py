"""Erlang C and position-based wait estimates against a discrete-event simulation of M/M/c.

The simulation is a first-come-first-served queue with c identical servers, Poisson arrivals
and exponential handle times, simulated customer by customer (each arrival takes the server
that frees first). Seeded, so every run is the same; the sample sizes are chosen so that the
simulation's own standard error is well under the 10 % tolerance (heavy load needs far more
customers because the queue length is strongly autocorrelated near ρ = 1).

Tolerance: relative error ≤ 10 %; where the expected wait is tiny (< 5 % of one handle time,
e.g. 20 agents at half load, about 0.03 % of a handle time) relative error is meaningless, and
we require an absolute error under 0.5 % of a handle time instead (under 2 s for a 6-minute chat).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict, deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okwallet.core.queueing import (
    erlang_b,
    erlang_c_probability_wait,
    erlang_c_service_level,
    erlang_c_wait_seconds,
    position_wait_seconds,
    servers_for,
)

MEAN_HANDLE_S = 1.0


def simulate_mmc(*, servers: int, load: float, customers: int, seed: int, warmup: float = 0.05):
    """Mean wait, share of arrivals that waited, and mean wait by number of people ahead."""
    rng = random.Random(seed)
    lam = load * servers / MEAN_HANDLE_S
    mu = 1.0 / MEAN_HANDLE_S
    free_at = [0.0] * servers  # heap: when each server becomes free
    queued_starts: deque[float] = deque()  # start times of earlier customers still waiting
    t = 0.0
    total_wait = 0.0
    waited = 0
    counted = 0
    by_ahead_sum: dict[int, float] = defaultdict(float)
    by_ahead_n: dict[int, int] = defaultdict(int)
    skip = int(customers * warmup)
    expo = rng.expovariate
    for i in range(customers):
        t += expo(lam)
        while queued_starts and queued_starts[0] <= t:
            queued_starts.popleft()
        ahead = len(queued_starts)
        first_free = free_at[0]
        start = first_free if first_free > t else t
        heapq.heapreplace(free_at, start + expo(mu))
        if start > t:
            queued_starts.append(start)  # FCFS: start times never decrease
        if i >= skip:
            wait = start - t
            total_wait += wait
            counted += 1
            if wait > 0:
                waited += 1
                if ahead < 8:
                    by_ahead_sum[ahead] += wait
                    by_ahead_n[ahead] += 1
    by_ahead = {k: by_ahead_sum[k] / by_ahead_n[k] for k in by_ahead_n if by_ahead_n[k] >= 2000}
    return total_wait / counted, waited / counted, by_ahead


def customers_for(load: float) -> int:
    if load >= 0.93:
        return 3_000_000
    if load >= 0.88:
        return 1_000_000
    if load >= 0.75:
        return 400_000
    return 200_000


def assert_agrees(simulated: float, expected: float) -> None:
    if expected < 0.05 * MEAN_HANDLE_S:
        assert abs(simulated - expected) <= 0.005 * MEAN_HANDLE_S, (simulated, expected)
    else:
        assert abs(simulated - expected) <= 0.10 * expected, (simulated, expected)


def check_grid_point(servers: int, load: float) -> None:
    sim_wait, sim_pw, by_ahead = simulate_mmc(
        servers=servers, load=load, customers=customers_for(load), seed=servers * 1000 + int(load * 100)
    )
    lam = load * servers / MEAN_HANDLE_S
    expected = erlang_c_wait_seconds(arrival_rate_per_s=lam, mean_handle_s=MEAN_HANDLE_S, servers=servers)
    assert_agrees(sim_wait, expected)
    pw = erlang_c_probability_wait(arrival_rate_per_s=lam, mean_handle_s=MEAN_HANDLE_S, servers=servers)
    if pw >= 0.05:
        assert abs(sim_pw - pw) <= 0.10 * pw, (sim_pw, pw)
    for ahead, mean in by_ahead.items():
        predicted = position_wait_seconds(position=ahead, servers=servers, mean_handle_s=MEAN_HANDLE_S)
        assert abs(mean - predicted) <= 0.10 * predicted, (ahead, mean, predicted)


@pytest.mark.parametrize(
    ("servers", "load"),
    [(1, 0.5), (1, 0.8), (5, 0.8), (20, 0.5), (20, 0.8), (10, 0.9), (20, 0.95)],
)
def test_erlang_c_wait_agrees_with_simulation(servers, load):
    check_grid_point(servers, load)


FULL_GRID = [(c, rho) for c in (1, 2, 3, 5, 8, 12, 16, 20) for rho in (0.5, 0.7, 0.85, 0.95)]


@pytest.mark.slow
@pytest.mark.parametrize(("servers", "load"), FULL_GRID)
def test_erlang_c_wait_agrees_with_simulation_over_full_grid(servers, load):
    check_grid_point(servers, load)


def test_mm1_wait_matches_closed_form():
    # M/M/1: W_q = ρ / (μ - λ)
    lam, handle = 0.8, 1.0
    assert erlang_c_wait_seconds(arrival_rate_per_s=lam, mean_handle_s=handle, servers=1) == pytest.approx(
        0.8 / (1 - 0.8)
    )
    assert erlang_c_probability_wait(
        arrival_rate_per_s=lam, mean_handle_s=handle, servers=1
    ) == pytest.approx(0.8)


def _erlang_c_factorial(c: int, a: float) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@given(st.integers(min_value=1, max_value=60), st.floats(min_value=0.01, max_value=0.99))
def test_erlang_c_recursion_matches_textbook_formula(servers, rho):
    a = rho * servers
    got = erlang_c_probability_wait(arrival_rate_per_s=a / 300.0, mean_handle_s=300.0, servers=servers)
    assert got == pytest.approx(_erlang_c_factorial(servers, a), rel=1e-9, abs=1e-12)
    assert 0.0 <= got <= 1.0


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0.05, max_value=0.95))
def test_more_agents_never_increase_the_wait(servers, rho):
    lam = rho * servers / 120.0
    w1 = erlang_c_wait_seconds(arrival_rate_per_s=lam, mean_handle_s=120.0, servers=servers)
    w2 = erlang_c_wait_seconds(arrival_rate_per_s=lam, mean_handle_s=120.0, servers=servers + 1)
    assert w2 <= w1


def test_overload_and_no_agents_mean_infinite_wait():
    assert erlang_c_wait_seconds(arrival_rate_per_s=1.0, mean_handle_s=2.0, servers=2) == math.inf
    assert erlang_c_wait_seconds(arrival_rate_per_s=0.1, mean_handle_s=2.0, servers=0) == math.inf
    assert erlang_c_wait_seconds(arrival_rate_per_s=0.0, mean_handle_s=2.0, servers=0) == 0.0
    assert position_wait_seconds(position=3, servers=0, mean_handle_s=60) == math.inf


def test_position_wait_is_k_plus_one_over_c_mu():
    # 4 people ahead, 3 agents, 6-minute chats: (4+1) * 360 / 3 = 600 s
    assert position_wait_seconds(position=4, servers=3, mean_handle_s=360) == pytest.approx(600)
    # a free slot means no wait
    assert position_wait_seconds(position=0, servers=3, mean_handle_s=360, busy=2) == 0.0
    with pytest.raises(ValueError):
        position_wait_seconds(position=-1, servers=3, mean_handle_s=360)


def test_agents_with_concurrency_count_as_their_limit():
    # two agents taking 3 chats each and one taking 1 chat = 7 servers
    assert servers_for([3, 3, 1]) == 7
    assert servers_for([0]) == 1
    w = erlang_c_wait_seconds(arrival_rate_per_s=5 / 300, mean_handle_s=300, servers=servers_for([3, 3, 1]))
    assert w == erlang_c_wait_seconds(arrival_rate_per_s=5 / 300, mean_handle_s=300, servers=7)


def test_service_level_and_erlang_b_bounds():
    sl = erlang_c_service_level(arrival_rate_per_s=0.04, mean_handle_s=180, servers=10, within_s=20)
    assert 0.0 < sl < 1.0
    assert erlang_c_service_level(arrival_rate_per_s=0.0, mean_handle_s=180, servers=1, within_s=0) == 1.0
    assert 0.0 < erlang_b(servers=5, offered_load=3.0) < 1.0
