"""Setting up the sponsor and adding member projects, with their accounts in the books."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.kernel.errors import Conflict, DomainError
from conservancy.ledger import accounts
from conservancy.ledger.entries import Open, Transaction
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import record_absent
from conservancy.projects.models import Project, Sponsor

EIN = re.compile(r"^\d{2}-\d{7}$")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class BadSponsorDetails(DomainError):
    pass


class BadProject(DomainError):
    pass


def open_accounts(
    session: Session, names: list[str], opened_on: date, *, function: str | None = None
) -> int:
    """Record an Open for each account not yet opened. Returns how many were new.
    ``function``: an expense account's Part IX column, where its default does not do."""
    return record_absent(
        session,
        [
            Open(
                ref=f"open:{name}",
                date=opened_on,
                account=name,
                meta=accounts.open_metadata(name, function),
            )
            for name in names
        ],
    )


def opened_on(session: Session, account: str) -> date | None:
    """The date the books open ``account`` on, if the application opened it."""
    return session.scalar(
        select(LedgerOutbox.entry_on).where(LedgerOutbox.ref == f"open:{account}")
    )


def open_needed_accounts(session: Session, entries: Iterable[Transaction]) -> None:
    """Open each account the books open only when needed (``accounts.opened_when_needed``:
    exchange differences, dispute losses) that one of ``entries`` posts to, dated with the
    fund's other accounts (or, if the app did not open those, the entry)."""
    for entry in entries:
        for posting in entry.postings:
            fund = accounts.fund_of(posting.account)
            if fund is None or not accounts.opened_when_needed(posting.account):
                continue
            opened = opened_on(session, accounts.donations(fund)) or entry.date
            open_accounts(session, [posting.account], min(opened, entry.date))


def get_sponsor(session: Session) -> Sponsor | None:
    return session.scalar(select(Sponsor).order_by(Sponsor.id).limit(1))


def set_up_sponsor(
    session: Session,
    *,
    legal_name: str,
    ein: str,
    address: str,
    time_zone: str,
    books_open_on: date,
) -> tuple[Sponsor, bool]:
    """Record the sponsor and open its accounts. Returns (sponsor, created)."""
    legal_name, ein, address = legal_name.strip(), ein.strip(), address.strip()
    if not legal_name:
        raise BadSponsorDetails("the sponsor's legal name is empty")
    if not EIN.match(ein):
        raise BadSponsorDetails(f"{ein!r} is not an EIN: use the form 12-3456789")
    if not address:
        raise BadSponsorDetails("the sponsor's address is empty")
    sponsor = get_sponsor(session)
    created = sponsor is None
    if sponsor is None:
        sponsor = Sponsor(legal_name=legal_name, ein=ein, address=address, time_zone=time_zone)
        session.add(sponsor)
    elif (sponsor.legal_name, sponsor.ein, sponsor.address) != (legal_name, ein, address):
        raise Conflict(
            f"the sponsor is already set up as {sponsor.legal_name} ({sponsor.ein}); "
            "change its details on the admin pages"
        )
    open_accounts(session, accounts.sponsor_accounts(), books_open_on)
    session.flush()
    return sponsor, created


def add_project(
    session: Session,
    *,
    slug: str,
    name: str,
    fund: str | None = None,
    fee_rate_bp: int = 1000,
    opened_on: date,
) -> Project:
    """Add a member project and open its fund's accounts."""
    if not SLUG.match(slug):
        raise BadProject(f"{slug!r} cannot be a slug: use lower-case letters, digits and dashes")
    name = " ".join(name.split())
    if not name:
        raise BadProject("the project's name is empty")
    fund = fund or _fund_from_name(name)
    try:
        accounts.check_fund_name(fund)
    except accounts.BadFundName as exc:
        raise BadProject(str(exc)) from None
    if fund == accounts.GENERAL:
        raise BadProject("General is the sponsor's own fund; choose another account name")
    if not 0 <= fee_rate_bp <= 10000:
        raise BadProject("the fee rate must be from 0 to 100 percent")
    if session.scalar(select(Project.id).where(Project.slug == slug)) is not None:
        raise Conflict(f"a project with the slug {slug!r} already exists")
    if session.scalar(select(Project.id).where(Project.fund == fund)) is not None:
        raise Conflict(f"the fund {fund!r} already belongs to another project")
    project = Project(slug=slug, name=name, fund=fund, fee_rate_bp=fee_rate_bp)
    session.add(project)
    open_accounts(session, accounts.fund_accounts(fund), opened_on)
    session.flush()
    return project


def _fund_from_name(name: str) -> str:
    """``"Sugar Labs"`` -> ``"SugarLabs"``; the caller checks the result."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    fund = "".join(w[:1].upper() + w[1:] for w in words)
    return fund if fund[:1].isalpha() else f"P{fund}"


def active_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).where(Project.active).order_by(Project.name)))
