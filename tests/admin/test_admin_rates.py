"""The per-second rates of the admin documents (RateMeter, with explicit clocks)."""

from __future__ import annotations

from pondsocket.admin import RateMeter


def test_first_answer_averages_since_the_start() -> None:
    meter = RateMeter(window=10, min_interval=0.5)
    assert meter.rates("c", (50, 0), since=90.0, now=100.0) == (5.0, 0.0)


def test_rate_spans_the_window_of_samples() -> None:
    meter = RateMeter(window=10, min_interval=0.5)
    meter.rates("c", (0,), since=0.0, now=100.0)
    # Polled every second at 20/s for 15 s: the rate is 20/s, not an average since start.
    for second in range(1, 16):
        rate = meter.rates("c", (20 * second,), since=0.0, now=100.0 + second)
    assert rate == (20.0,)
    # Traffic stops: the rate falls as the window slides past the busy samples.
    meter.rates("c", (300,), since=0.0, now=120.0)
    assert meter.rates("c", (300,), since=0.0, now=126.0) == (0.0,)


def test_polls_closer_than_min_interval_add_no_sample() -> None:
    meter = RateMeter(window=10, min_interval=0.5)
    meter.rates("c", (0,), since=0.0, now=100.0)
    assert meter.rates("c", (10,), since=0.0, now=101.0) == (10.0,)
    # 0.1 s later: no new sample, the rate still spans from 100.0.
    assert meter.rates("c", (11,), since=0.0, now=101.1) == (10.0,)


def test_a_counter_that_restarts_never_gives_a_negative_rate() -> None:
    meter = RateMeter()
    meter.rates("c", (100,), since=0.0, now=10.0)
    assert meter.rates("c", (5,), since=0.0, now=12.0) == (0.0,)


def test_keep_only_forgets_closed_keys() -> None:
    meter = RateMeter()
    meter.rates("a", (1,), since=0.0, now=1.0)
    meter.rates("b", (1,), since=0.0, now=1.0)
    meter.keep_only({"b"})
    # "a" starts over: averaged since its own start again.
    assert meter.rates("a", (8,), since=0.0, now=2.0) == (4.0,)
