"""Stripe's latency, kept by the stand-in when asked: every API call answered that late,
calls in flight together waiting side by side, the control addresses at once.

The waits asserted are lower bounds (a call cannot come back before its latency), and one
generous upper bound that only a stand-in holding its lock through the wait would break:
six calls of 0.4 s in flight together end long before 2.4 s, the time they take one by one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
import stripe
from click.testing import CliRunner

from conservancy.cli.stripe import stripe as stripe_commands
from conservancy.standin import StandIn

KEY = "sk_test_latency"


@pytest.fixture
def slow() -> Iterator[StandIn]:
    with StandIn(latency_ms=400) as running:
        yield running


def client(standin: StandIn) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": standin.url}, max_network_retries=0)


def timed_call(standin: StandIn) -> float:
    started = time.monotonic()
    client(standin).v1.events.list()
    return time.monotonic() - started


def test_every_api_call_is_answered_the_latency_late(slow: StandIn) -> None:
    assert [timed_call(slow) >= 0.4 for _ in range(2)] == [True, True]
    # A write, and one Stripe refuses: it is answered as late.
    refused = time.monotonic()
    with pytest.raises(stripe.InvalidRequestError, match="No such charge"):
        client(slow).v1.refunds.create(params={"charge": "ch_missing"})
    assert time.monotonic() - refused >= 0.4


def test_calls_in_flight_together_wait_side_by_side(slow: StandIn) -> None:
    took: list[float] = []
    threads = [threading.Thread(target=lambda: took.append(timed_call(slow))) for _ in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    assert len(took) == 6
    assert min(took) >= 0.4
    assert elapsed < 6 * 0.4, f"six calls took {elapsed:.2f} s: one at a time"


def test_control_addresses_answer_without_the_latency() -> None:
    with StandIn(latency_ms=20_000) as standin:
        started = time.monotonic()
        answer = requests.get(f"{standin.url}/_standin/state", timeout=30)
        assert answer.status_code == 200
        assert time.monotonic() - started < 10  # half of the API's 20 s


def test_the_latency_changes_while_running_and_a_bad_one_changes_nothing() -> None:
    with StandIn() as standin:
        control = f"{standin.url}/_standin/latency"
        assert requests.get(control, timeout=10).json() == {"ms": 0}
        assert requests.post(control, data={"ms": "300"}, timeout=10).json() == {"ms": 300}
        assert requests.get(control, timeout=10).json() == {"ms": 300}
        assert timed_call(standin) >= 0.3

        for bad in ("-1", "fast", "60001", ""):
            answer = requests.post(control, data={"ms": bad}, timeout=10)
            assert answer.status_code == 400, bad
            error = answer.json()["error"]
            assert error["param"] == "ms", bad
            assert error["message"], bad
        assert requests.get(control, timeout=10).json() == {"ms": 300}


def test_the_command_takes_a_latency_and_refuses_a_bad_one_in_one_line() -> None:
    shown = CliRunner().invoke(stripe_commands, ["stand-in", "--help"])
    assert "--latency-ms" in shown.output
    refused = CliRunner().invoke(stripe_commands, ["stand-in", "--latency-ms", "-5"])
    assert refused.exit_code == 2
    assert "--latency-ms" in refused.output
    assert "Traceback" not in refused.output


def test_a_latency_out_of_range_is_refused_when_made() -> None:
    with pytest.raises(ValueError, match="0 to 60000 ms"):
        StandIn(latency_ms=-1)
