"""The web process's courier draws receipts in the pauses between its requests.

A receipt PDF costs several times a webhook's CPU; drawn while a burst of webhooks
comes in, it slowed every one of them (bench/README.md). So the courier waits for a
moment without requests, and a long burst delays receipts but never stops them.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from conservancy.background.courier import Courier, Traffic
from conservancy.receipts.models import Receipt
from conservancy.runtime import Runtime
from tests.factories import settled_gift, with_project
from tests.receipts.pdfs import requires_weasyprint

pytestmark = pytest.mark.background_courier  # its own thread, not the tests' deferred one


def _waiter(traffic: Traffic) -> threading.Event:
    done = threading.Event()

    def wait() -> None:
        traffic.wait_quiet()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return done


def test_a_process_that_serves_no_requests_never_waits() -> None:
    traffic = Traffic(quiet=60, longest=60)
    assert _waiter(traffic).wait(5)


def test_work_waits_while_a_request_is_under_way_and_goes_on_after_a_quiet_moment() -> None:
    traffic = Traffic(quiet=0.2, longest=60)
    traffic.started()
    done = _waiter(traffic)
    assert not done.wait(0.5)  # a request under way: the work waits

    traffic.finished()
    ended = time.monotonic()
    assert done.wait(5)
    assert time.monotonic() - ended >= 0.15  # the quiet moment, not at once


def test_a_burst_that_never_pauses_delays_the_work_but_does_not_stop_it() -> None:
    traffic = Traffic(quiet=0.2, longest=0.5)
    traffic.started()  # never finished
    assert _waiter(traffic).wait(5)


def test_a_request_that_ends_twice_does_not_count_below_zero() -> None:
    traffic = Traffic(quiet=0.0, longest=60)
    traffic.finished()
    traffic.started()
    done = _waiter(traffic)
    assert not done.wait(0.3)
    traffic.finished()
    assert done.wait(5)


def _drawn(rt: Runtime) -> list[bool]:
    with rt.sessions() as session:
        return [path is not None for path in session.scalars(select(Receipt.pdf_path))]


@requires_weasyprint
def test_the_courier_draws_the_receipt_once_the_requests_pause(runtime: Runtime) -> None:
    rt = with_project(runtime)
    rt.traffic.quiet = 0.1
    settled_gift(rt)
    assert _drawn(rt) == [False]

    rt.traffic.started()  # a webhook under way in this process
    rt.courier.kick()
    assert not rt.courier.wait_idle(1.0)
    assert _drawn(rt) == [False]

    rt.traffic.finished()
    assert rt.courier.wait_idle(60)
    assert _drawn(rt) == [True]


@pytest.mark.parametrize("path", ["/", "/no-such-page"])
def test_every_request_is_counted_while_it_runs_and_no_longer(runtime: Runtime, path: str) -> None:
    from conservancy import create_app

    seen: list[int] = []
    app = create_app(runtime=runtime)

    @app.after_request
    def _look(response):  # type: ignore[no-untyped-def]
        seen.append(runtime.traffic.under_way)
        return response

    app.test_client().get(path)
    assert seen == [1]
    assert runtime.traffic.under_way == 0


def test_a_courier_with_a_period_does_work_that_came_due_without_a_kick() -> None:
    """The settler's periodic pass: an event whose try failed comes due again later, and
    nothing kicks the settler for it."""
    due = threading.Event()
    done = threading.Event()

    def work() -> bool:
        if due.is_set():
            done.set()
            due.clear()
        return False

    courier = Courier(work, name="settler", every=0.05)
    courier.kick()
    assert courier.wait_idle(5)
    due.set()  # no kick
    assert done.wait(5)


def test_a_courier_without_a_period_waits_for_a_kick() -> None:
    passes: list[float] = []
    courier = Courier(lambda: bool(passes.append(time.monotonic())), name="courier")
    courier.kick()
    assert courier.wait_idle(5)
    time.sleep(0.3)
    assert len(passes) == 1
