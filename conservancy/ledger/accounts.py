"""The chart of accounts (SPEC section 6).

Each fund is an account component: the sponsor's own unrestricted fund is
``General``, each member project has its own (``Twisted``). A fund's balance
is minus the sum of its ``Income:<Fund>:*``, ``Expenses:<Fund>:*`` and
``Equity:Net-Assets:<Fund>`` postings.
"""

from __future__ import annotations

import re

GENERAL = "General"

STRIPE = "Assets:Stripe"
CHECKING = "Assets:Bank:Checking"
RECEIVABLE_SPONSORSHIPS = "Assets:Receivable:Sponsorships"
SPONSORSHIP_FEE_INCOME = "Income:General:Sponsorship-Fees"

FUND_NAME = re.compile(r"^[A-Z][A-Za-z0-9-]{0,62}$")


class BadFundName(ValueError):
    pass


def check_fund_name(name: str) -> str:
    """A fund name must be a valid Beancount account component."""
    if not FUND_NAME.match(name):
        raise BadFundName(
            f"{name!r} cannot name a fund: use a capital letter, then letters, digits or dashes"
        )
    return name


def donations(fund: str) -> str:
    return f"Income:{fund}:Donations"


def sponsorships(fund: str) -> str:
    return f"Income:{fund}:Sponsorships"


def payment_processing(fund: str) -> str:
    return f"Expenses:{fund}:Payment-Processing"


def sponsorship_fees(fund: str) -> str:
    return f"Expenses:{fund}:Sponsorship-Fees"


def dispute_fees(fund: str) -> str:
    return f"Expenses:{fund}:Dispute-Fees"


def exchange_differences(fund: str) -> str:
    """What a fund gains or loses when Stripe returns a gift in another currency at another
    rate than it came in at. Opened the first time it is needed (donations.settlement)."""
    return f"Expenses:{fund}:Exchange-Differences"


def dispute_losses(fund: str) -> str:
    """Money a dispute took back beyond what remained of a gift: the part already refunded,
    which the cardholder's bank took again. Stripe gives it back when the dispute closes
    (all of the dispute if won, the refunded part if lost), and the entry that books that
    return undoes the loss. Opened the first time it is needed (donations.settlement)."""
    return f"Expenses:{fund}:Dispute-Losses"


def opened_when_needed(account: str) -> bool:
    """A fund account the books open only when an entry first posts to it."""
    fund = fund_of(account)
    return fund is not None and account in {exchange_differences(fund), dispute_losses(fund)}


def net_assets(fund: str) -> str:
    return f"Equity:Net-Assets:{fund}"


def fund_accounts(fund: str) -> list[str]:
    """The accounts every fund has from the day it is opened."""
    check_fund_name(fund)
    return [
        donations(fund),
        sponsorships(fund),
        payment_processing(fund),
        sponsorship_fees(fund),
        dispute_fees(fund),
        net_assets(fund),
    ]


def sponsor_accounts() -> list[str]:
    """The sponsor's own accounts, opened by ``conservancy init``."""
    return [
        STRIPE,
        CHECKING,
        RECEIVABLE_SPONSORSHIPS,
        SPONSORSHIP_FEE_INCOME,
        *fund_accounts(GENERAL),
    ]


def fund_of(account: str) -> str | None:
    """The fund an income, expense or net-assets account belongs to; None for others."""
    parts = account.split(":")
    if parts[0] in {"Income", "Expenses"} and len(parts) >= 3:
        return parts[1]
    if parts[:2] == ["Equity", "Net-Assets"] and len(parts) == 3:
        return parts[2]
    return None


def kind_of(account: str) -> str:
    """What a fund's account records, as statements name it.

    ``Income:Twisted:Donations`` -> ``Donations``, ``Expenses:Twisted:Travel:Air``
    -> ``Travel:Air``, ``Equity:Net-Assets:Twisted`` -> ``Net-Assets``.
    """
    parts = account.split(":")
    if parts[0] in {"Income", "Expenses"} and len(parts) >= 3:
        return ":".join(parts[2:])
    if parts[:2] == ["Equity", "Net-Assets"]:
        return "Net-Assets"
    return account
