"""The treasurer's donors page, read from the totals kept as gifts change, says what adding up
the gifts says: after gifts, refunds, a cheque, a donor hiding and showing their name, and
on every page, wherever the "Anonymous" line falls."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import select

from conservancy.donations.models import Donation, Donor, DonorTotal, Gift, Visibility
from conservancy.infra.db import alembic_config
from conservancy.portal.service import set_visibility
from conservancy.projects import fund
from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from tests.factories import cheque, refund, settled_gift, with_project

Line = tuple[str, int, str, date, date, bool]  # name, gifts, given, first, last, public


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return with_project(with_project(runtime), "sugar", "Sugar Labs")


def added_up(rt: Runtime, slug: str = "twisted") -> list[Line]:
    """The donors page worked out here from the gifts themselves: one line per donor named,
    one for every gift made anonymously; biggest first, Anonymous before its equals, then
    donors in the order they came."""
    groups: dict[int, list[Gift]] = defaultdict(list)
    names: dict[int, str] = {}
    public: dict[int, bool] = defaultdict(bool)
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == slug)).one()
        gifts = session.scalars(
            select(Gift).join(Donation).where(Donation.project_id == project.id)
        ).all()
        for gift in gifts:
            donation = gift.donation
            anonymous = donation.visibility is Visibility.ANONYMOUS
            key = 0 if anonymous else donation.donor_id
            groups[key].append(gift)
            names[key] = "Anonymous" if anonymous else session.get_one(Donor, key).name
            public[key] |= donation.visibility is Visibility.PUBLIC and not anonymous
    lines = []
    for key, group in groups.items():
        given = sum(g.project_settled_minor - g.reversed_settled_minor for g in group)
        days = [g.settled_on for g in group]
        line = (names[key], len(group), f"{given / 100:.2f}", min(days), max(days), public[key])
        lines.append((-given, key, line))
    return [line for _, _, line in sorted(lines)]


def page_lines(rt: Runtime, page: int, slug: str = "twisted") -> tuple[list[Line], bool]:
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == slug)).one()
        lines, more = fund.donors(session, project, page)
    return [
        (x.name, x.gifts, str(x.given.amount), x.first_on, x.last_on, x.shown_publicly)
        for x in lines
    ], more


def every_page(rt: Runtime, slug: str = "twisted") -> list[Line]:
    found, page, more = [], 1, True
    while more:
        lines, more = page_lines(rt, page, slug)
        assert lines or page == 1, f"page {page} is empty and another was promised"
        found += lines
        page += 1
    return found


def at(day: int) -> datetime:
    return datetime(2026, 3, day, 15, 0, tzinfo=UTC)


def test_the_page_agrees_with_the_gifts_through_refunds_cheques_and_changes_of_name(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fund, "DONORS_PER_PAGE", 3)  # pages of three: many pages, many edges
    rng = random.Random(20261207)
    visibilities = list(Visibility)
    gifts: list[int] = []
    for i in range(24):
        who = rng.randrange(9)
        gifts.append(
            settled_gift(
                rt,
                email=f"donor{who}@example.org",
                name=f"Donor {who}",
                amount=f"{rng.choice([10, 20, 20, 35, 50, 75])}.00",
                visibility=rng.choice(visibilities),
                slug=rng.choice(["twisted", "twisted", "sugar"]),
                at=at(1 + i),
                post=False,
            )
        )
        if i % 6 == 5:
            assert every_page(rt) == added_up(rt), f"after gift {i}"
    # Refunds, in part and in full, and a cheque from a donor who also gave by card.
    refund(rt, gifts[0], "5.00", "re_part")
    refund(rt, gifts[1], "10.00", "re_part_2")
    with rt.sessions() as session:
        whole = session.get_one(Gift, gifts[2])
        amount = f"{whole.project_minor / 100 + whole.general_minor / 100:.2f}"
    refund(rt, gifts[2], amount, "re_whole")
    cheque(rt, "Donor 3", "500.00", date(2026, 3, 28), email="donor3@example.org")
    assert every_page(rt) == added_up(rt)
    assert every_page(rt, "sugar") == added_up(rt, "sugar")

    # Donors hide their name and show it again, from their portal.
    with rt.sessions() as session:
        donations = session.scalars(select(Donation).order_by(Donation.id)).all()
        for donation in donations[::3]:
            set_visibility(session, donation.donor_id, donation.id, Visibility.ANONYMOUS)
        for donation in donations[1::4]:
            set_visibility(session, donation.donor_id, donation.id, Visibility.PUBLIC)
        session.commit()
    assert every_page(rt) == added_up(rt)
    assert every_page(rt, "sugar") == added_up(rt, "sugar")
    assert any(line[0] == "Anonymous" for line in every_page(rt))


def test_the_anonymous_line_takes_its_place_by_its_total_on_whichever_page(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fund, "DONORS_PER_PAGE", 2)
    for who, amount in (("Ada", "90.00"), ("Bob", "70.00"), ("Cy", "50.00"), ("Dee", "50.00")):
        settled_gift(rt, email=f"{who}@example.org", name=who, amount=amount, post=False)
    for who, amount in (("Eve", "30.00"), ("Fay", "20.00")):  # 50.00 made anonymously
        settled_gift(
            rt,
            email=f"{who}@example.org",
            name=who,
            amount=amount,
            visibility=Visibility.ANONYMOUS,
            post=False,
        )

    first, more = page_lines(rt, 1)
    assert [line[0] for line in first] == ["Ada", "Bob"]
    assert more
    second, more = page_lines(rt, 2)
    # Anonymous's 50.00 ties with Cy's and Dee's, and comes before them.
    assert [(line[0], line[2]) for line in second] == [("Anonymous", "50.00"), ("Cy", "50.00")]
    assert more
    third, more = page_lines(rt, 3)
    assert [line[0] for line in third] == ["Dee"]
    assert not more
    assert second[0][1] == 2
    assert second[0][5] is False


def test_the_migration_counts_the_gifts_already_settled(rt: Runtime) -> None:
    settled_gift(rt, email="ada@example.org", name="Ada", amount="40.00", post=False)
    settled_gift(
        rt,
        email="bob@example.org",
        name="Bob",
        amount="15.00",
        visibility=Visibility.ANONYMOUS,
        post=False,
    )
    before = every_page(rt)
    config = alembic_config(rt.settings.database_url)
    rt.engine.dispose()
    command.downgrade(config, "0020")
    command.upgrade(config, "head")

    with rt.sessions() as session:
        assert len(session.scalars(select(DonorTotal)).all()) == 2
    assert every_page(rt) == before == added_up(rt)


@pytest.mark.postgresql
def test_gifts_of_one_donor_settled_at_once_are_all_counted(rt: Runtime) -> None:
    """Eight gifts of one donor to one project, each settled in its own transaction at the
    same moment (as the settler's threads do): the donor's line counts all eight."""
    if not rt.settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    settled_gift(rt, email="ada@example.org", name="Ada", amount="10.00", post=False)
    start = threading.Barrier(8)
    failed: list[BaseException] = []

    def give(i: int) -> None:
        try:
            start.wait(timeout=30)
            settled_gift(rt, email="ada@example.org", name="Ada", amount=f"{i + 1}.00", post=False)
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=give, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failed == []
    assert every_page(rt) == added_up(rt)
    [line] = every_page(rt)
    assert line[:3] == ("Ada", 9, "46.00")  # 10.00 + 1.00 + 2.00 + ... + 8.00
