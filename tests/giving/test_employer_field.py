"""The donation form's optional employer, for a matching gift: stored with the donation,
trimmed; too long or with control characters, refused by its field with nothing written."""

from __future__ import annotations

from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.models import Frequency
from conservancy.donations.service import DonationRefused, DonationRequest, record_donation
from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from tests.factories import usd
from tests.giving.test_donate_form import (
    FORM,
    donate,
    message_by,
    pending_donations,
    written,
)
from tests.giving.test_donate_form import client as client  # the page's fixtures
from tests.giving.test_donate_form import rt as rt

TODAY = date(2026, 3, 1)


def test_the_form_asks_for_an_employer_for_a_matching_gift(client: FlaskClient) -> None:
    page = client.get(FORM).text

    assert '<label for="employer">Employer (for a matching gift)</label>' in page
    assert 'name="employer"' in page


def test_the_employer_is_stored_trimmed_with_the_donation(rt: Runtime, client: FlaskClient) -> None:
    answer = donate(client, employer="  Initech Corp  ")

    assert answer.status_code == 303
    [donation] = pending_donations(rt)
    assert donation.employer == "Initech Corp"


def test_no_employer_is_none(rt: Runtime, client: FlaskClient) -> None:
    assert donate(client, employer="   ").status_code == 303

    assert pending_donations(rt)[0].employer is None


@pytest.mark.parametrize(
    ("employer", "message"),
    [
        pytest.param("x" * 201, "at most 200 characters", id="too-long"),
        # Control characters are every form's (conservancy.web.forms), with its wording.
        pytest.param("Initech\nCorp", "may not contain control characters", id="line-break"),
        pytest.param("Initech\x00Corp", "may not contain control characters", id="nul"),
        pytest.param("Initech\u202eproC", "on one line", id="bidi-override"),
    ],
)
def test_a_bad_employer_comes_back_by_its_field_and_writes_nothing(
    rt: Runtime, client: FlaskClient, employer: str, message: str
) -> None:
    before = written(rt)

    page = donate(client, employer=employer)

    assert page.status_code == 400
    assert message in message_by(page, "employer")
    assert written(rt) == before


def test_two_hundred_characters_are_taken(rt: Runtime, client: FlaskClient) -> None:
    assert donate(client, employer="x" * 200).status_code == 303

    assert pending_donations(rt)[0].employer == "x" * 200


def test_the_service_refuses_what_the_form_would(rt: Runtime) -> None:
    with rt.sessions() as session:
        project = session.scalars(select(Project)).one()
        request = DonationRequest(
            amount=usd("25.00"),
            frequency=Frequency.ONCE,
            name="Ada Lovelace",
            email="ada@example.org",
            employer="Initech\r\nBcc: x@example.org",
        )
        with pytest.raises(DonationRefused) as refused:
            record_donation(session, project, request, maximum=usd("100000.00"), today=TODAY)
    assert refused.value.field == "employer"
