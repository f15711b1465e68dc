"""The demo stays set up when it starts again, Stripe's side included: a gift given before a
restart is refunded after it, from the admin's gift page, through the demo's own stand-in."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from conservancy.cli.setup import DEMO_ADMIN
from conservancy.kernel import clock
from conservancy.staff import totp
from tests.foundation.test_demo import CONSERVANCY, STARTUP_LIMIT, demo_env, free_port
from tests.giving.test_donate_form import VALID

pytestmark = pytest.mark.slow

GIFT = {**VALID, "amount": "50.00"}  # the donation form's valid gift, of 50.00


@contextmanager
def running_demo(root: Path) -> Iterator[tuple[str, str]]:
    """``conservancy demo`` in ``root`` on free ports, until the block ends; yields the site's
    address and its stand-in's."""
    port, stripe_port = free_port(), free_port()
    log = root / f"demo-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(CONSERVANCY), "demo", "--port", str(port), "--stripe-port", str(stripe_port)],
            cwd=root,
            env=demo_env(root),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the demo exited with {process.returncode}:\n{log.read_text()}")
            try:
                if requests.get(f"{base}/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the demo did not answer on port {port}:\n{log.read_text()}")
            time.sleep(0.2)
        yield base, f"http://127.0.0.1:{stripe_port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    assert found, f"no {name} field on the page"
    return found.group(1)


def give(base: str) -> None:
    """The donation form, then the stand-in's checkout page paid with the test card."""
    donor = requests.Session()
    form = donor.get(f"{base}/donate/twisted", timeout=30).text
    sent = donor.post(
        f"{base}/donate/twisted",
        data={**GIFT, "csrf_token": field(form, "csrf_token")},
        allow_redirects=False,
        timeout=30,
    )
    assert sent.status_code == 303, sent.text
    checkout = sent.headers["Location"]  # the stand-in's hosted checkout page
    assert "Pay" in donor.get(checkout, timeout=30).text
    paid = requests.post(
        f"{checkout}/pay",
        data={"card_number": "4242424242424242"},
        allow_redirects=False,
        timeout=30,
    )
    assert paid.status_code == 303, paid.text


def settled_gift(root: Path) -> tuple[int, str]:
    """The gift's id and charge, once the stand-in's webhook has been booked."""
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        with sqlite3.connect(root / "instance" / "conservancy.db") as db:
            rows = db.execute("SELECT id, charge_id FROM gifts").fetchall()
        if rows:
            [(gift_id, charge_id)] = rows
            return int(gift_id), str(charge_id)
        time.sleep(0.2)
    pytest.fail("the gift's webhook was not booked")


def signed_in_admin(base: str) -> requests.Session:
    """The demo admin, signed in with the printed password and an authenticator set up."""
    admin = requests.Session()
    page = admin.get(f"{base}/sign-in", timeout=30).text
    email, password = DEMO_ADMIN
    answer = admin.post(
        f"{base}/sign-in",
        data={"email": email, "password": password, "csrf_token": field(page, "csrf_token")},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.headers["Location"] == "/account/two-factor", answer.text
    page = admin.get(f"{base}/account/two-factor", timeout=30).text
    found = re.search(r'<code class="staff-secret">([A-Z2-7 ]+)</code>', page)
    assert found
    code = totp.code_for(found.group(1).replace(" ", ""), totp.step_at(clock.now()))
    enrolled = admin.post(
        f"{base}/account/two-factor",
        data={"code": code, "csrf_token": field(page, "csrf_token")},
        allow_redirects=False,
        timeout=30,
    )
    assert enrolled.status_code == 200, enrolled.text  # the recovery codes, shown once
    assert "Your recovery codes" in enrolled.text
    return admin


def test_a_gift_given_before_the_demo_restarts_is_refunded_after_it(tmp_path: Path) -> None:
    with running_demo(tmp_path) as (base, _):
        give(base)
        gift_id, charge_id = settled_gift(tmp_path)
    assert (tmp_path / "instance" / "stripe-standin.json").is_file()

    with running_demo(tmp_path) as (base, stand_in):  # on other ports, from the file
        admin = signed_in_admin(base)
        page = f"{base}/admin/gifts/{gift_id}"
        shown = admin.get(page, timeout=30).text
        refunded = admin.post(
            f"{page}/refund",
            data={
                "amount": "20.00",
                "reason": "Asked by the donor",
                "confirm": "y",
                "csrf_token": field(shown, "csrf_token"),
                "once": field(shown, "once"),
            },
            timeout=30,
        )
        assert refunded.status_code == 200, refunded.text  # the gift page, after the redirect
        assert "Refunded $20.00." in refunded.text
        assert "$30.00 of $50.00" in refunded.text
        state = requests.get(f"{stand_in}/_standin/state", timeout=30).json()
        refunds = [r for r in state["refunds"] if r["charge"] == charge_id]
        assert [r["amount"] for r in refunds] == [2000]
