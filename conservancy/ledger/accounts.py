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


def payable(fund: str) -> str:
    """What the sponsor owes on the fund's approved spending requests until it pays them
    (SPEC section 11). Not the fund's own account: the expense already left the fund's
    balance when the request was approved; this is the bank's, waiting to go."""
    return f"Liabilities:Payable:{fund}"


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


# --- Form 990 Part VIII: which line each income account's revenue belongs on -----------
#
# The ``open`` of every ``Income:*`` account carries ``form-990-line`` (SPEC section 11):
# the Part VIII line of its revenue. The accounts the app opens get it when they are
# opened; books written before it, and accounts staff open by these same names, fall back
# to DEFAULT_LINES by the account's last part; any other income account must say, and
# ``ledger check`` names one that does not. ``form-990-exchange-line`` (optional) names the
# line of the fair market value of what donors and corporate sponsors got back for
# payments to the account, when they got more than token items (reports.form990).

FORM_990_LINE = "form-990-line"
FORM_990_EXCHANGE_LINE = "form-990-exchange-line"
# Not revenue of the sponsor at all: money moving between its own funds (the sponsorship
# fee a project pays the sponsor's General fund), which Part VIII leaves out.
BETWEEN_FUNDS = "between-funds"

PART_VIII_LINES: dict[str, str] = {
    "1a": "Federated campaigns",
    "1b": "Membership dues",
    "1c": "Fundraising events (contributions)",
    "1d": "Related organizations",
    "1e": "Government grants (contributions)",
    "1f": "All other contributions, gifts, grants and similar amounts",
    "2a": "Program service revenue (a)",
    "2b": "Program service revenue (b)",
    "2c": "Program service revenue (c)",
    "2d": "Program service revenue (d)",
    "2e": "Program service revenue (e)",
    "2f": "All other program service revenue",
    "3": "Investment income (interest, dividends and similar amounts)",
    "4": "Income from investment of tax-exempt bond proceeds",
    "5": "Royalties",
    "6a": "Gross rents",
    "7a": "Gross amount from sales of assets other than inventory",
    "8a": "Gross income from fundraising events",
    "9a": "Gross income from gaming activities",
    "10a": "Gross sales of inventory",
    "11a": "Other revenue (a)",
    "11b": "Other revenue (b)",
    "11c": "Other revenue (c)",
    "11d": "All other revenue",
}
CONTRIBUTION_LINES = frozenset({"1a", "1b", "1c", "1d", "1e", "1f"})
ACCOUNT_LINES_IN_ORDER = (*PART_VIII_LINES, BETWEEN_FUNDS)
ACCOUNT_LINES = frozenset(ACCOUNT_LINES_IN_ORDER)
# Where the value of benefits given back goes when the account does not say: from a
# fundraising event's gifts to the event's gross income; from any other gift or
# sponsorship to other revenue (a thank-you item is no program service of the sponsor).
EVENT_EXCHANGE_LINE = "8a"
OTHER_EXCHANGE_LINE = "11a"

# By the account's last part (``Income:<Fund>:<kind>``): the app's own accounts, and a
# few names staff use for what is plainly one line.
DEFAULT_LINES: dict[str, str] = {
    "Donations": "1f",
    # A qualified sponsorship payment (IRC 513(i)) is a contribution; what the sponsor got
    # beyond acknowledgement is split off to the exchange line (reports.form990).
    "Sponsorships": "1f",
    "Government-Grants": "1e",
    "Interest": "3",
    "Dividends": "3",
}


def default_form_990_line(account: str) -> str | None:
    """The Part VIII line an income account takes when its ``open`` names none."""
    if account == SPONSORSHIP_FEE_INCOME:
        return BETWEEN_FUNDS
    if not account.startswith("Income:") or fund_of(account) is None:
        return None
    return DEFAULT_LINES.get(account.split(":")[-1])


def open_metadata(account: str, function: str | None = None) -> tuple[tuple[str, str], ...]:
    """What the app writes on the ``open`` of an account it opens: an income account's
    Part VIII line, an expense account's function (``function``, else its default)."""
    if account.startswith("Expenses:"):
        chosen = function or default_function(account)
        return () if chosen is None else ((FUNCTION, chosen),)
    line = default_form_990_line(account)
    return () if line is None else ((FORM_990_LINE, line),)


def exchange_line(contribution_line: str, given: str | None = None) -> str:
    """The line of the benefits' value split off a payment booked on ``contribution_line``."""
    if given is not None:
        return given
    return EVENT_EXCHANGE_LINE if contribution_line == "1c" else OTHER_EXCHANGE_LINE


# --- Form 990 Part IX: the function of each expense ------------------------------------
#
# The ``open`` of every ``Expenses:*`` account carries ``function`` (SPEC section 11): the
# column of Part IX its expenses go in, program service, management and general, or
# fundraising. An entry (or one posting of it) may carry its own ``function``, which wins
# over the account's for that entry (a trip that was for a donor meeting). The accounts
# the app opens get theirs when opened, by the judgement an auditor of a fiscal sponsor
# makes (DEFAULT_FUNCTIONS); an expense category staff book through the app is opened as
# program service when it is a project's (a project's spending is the sponsor's program)
# unless they choose otherwise; any other expense account must say, and ``ledger check``
# names one that does not. ``form-990-line`` on an expense account's open names its Part IX
# line (``17`` travel, ``11g`` fees for services, ...); without one it falls to its
# default by name, else to line 24e, all other expenses.

FUNCTION = "function"
PROGRAM, MANAGEMENT, FUNDRAISING = "program", "management", "fundraising"
FUNCTIONS = (PROGRAM, MANAGEMENT, FUNDRAISING)
# The project's sponsorship fee is the sponsor's own income on the other side
# (Income:General:Sponsorship-Fees, between-funds): no expense of the organization.
EXPENSE_FUNCTIONS = frozenset({*FUNCTIONS, BETWEEN_FUNDS})

DEFAULT_FUNCTIONS: dict[str, str] = {
    # Card fees on gifts and the costs of disputed gifts are a cost of raising the
    # contributions they come with: fundraising, not the program the gifts pay for.
    "Payment-Processing": FUNDRAISING,
    "Dispute-Fees": FUNDRAISING,
    "Dispute-Losses": FUNDRAISING,
    # Gains and losses of returning a gift in another currency: the sponsor's finance.
    "Exchange-Differences": MANAGEMENT,
    "Sponsorship-Fees": BETWEEN_FUNDS,
    # What the sponsor's bank charges to keep its account: management and general.
    "Bank-Fees": MANAGEMENT,
}

PART_IX_LINES: dict[str, str] = {
    "1": "Grants and other assistance to domestic organizations and governments",
    "2": "Grants and other assistance to domestic individuals",
    "3": "Grants and other assistance to foreign organizations, governments and individuals",
    "5": "Compensation of current officers, directors, trustees and key employees",
    "7": "Other salaries and wages",
    "8": "Pension plan accruals and contributions",
    "9": "Other employee benefits",
    "10": "Payroll taxes",
    "11a": "Fees for services: management",
    "11b": "Fees for services: legal",
    "11c": "Fees for services: accounting",
    "11d": "Fees for services: lobbying",
    "11e": "Professional fundraising services",
    "11f": "Investment management fees",
    "11g": "Fees for services: other",
    "12": "Advertising and promotion",
    "13": "Office expenses",
    "14": "Information technology",
    "15": "Royalties",
    "16": "Occupancy",
    "17": "Travel",
    "18": "Payments of travel or entertainment expenses for public officials",
    "19": "Conferences, conventions and meetings",
    "20": "Interest",
    "21": "Payments to affiliates",
    "22": "Depreciation, depletion and amortization",
    "23": "Insurance",
    # 24a to 24d are itemized by their description: the app books its card and dispute
    # costs on 24a (DEFAULT_PART_IX_LINES), so 24a says so.
    "24a": "Other expenses: payment processing and dispute costs",
    "24b": "Other expenses (b)",
    "24c": "Other expenses (c)",
    "24d": "Other expenses (d)",
    "24e": "All other expenses",
}
ALL_OTHER_EXPENSES = "24e"
DEFAULT_PART_IX_LINES: dict[str, str] = {
    "Payment-Processing": "24a",  # itemised: "Payment processing fees"
    "Dispute-Fees": "24a",
    "Dispute-Losses": "24a",
    "Travel": "17",
    "Insurance": "23",
    "Advertising": "12",
    "Hosting": "14",
    "Web-Hosting": "14",
    "Contractors": "11g",
    "Legal": "11b",
    "Accounting": "11c",
    "Audit": "11c",
    "Conferences": "19",
    "Rent": "16",
}


def default_function(account: str) -> str | None:
    """The function of an expense account whose ``open`` names none: its default by name;
    else, for a project's account, program service (a project's spending is the sponsor's
    program, as the app opens every category a project books through it; and books opened
    before accounts carried a function stay classed); the sponsor's own fund, General, has
    no default, for management and fundraising both are spent from it."""
    fund = fund_of(account) if account.startswith("Expenses:") else None
    if fund is None:
        return None
    named = DEFAULT_FUNCTIONS.get(account.split(":")[-1])
    if named is not None:
        return named
    return None if fund == GENERAL else PROGRAM


def default_part_ix_line(account: str) -> str:
    return DEFAULT_PART_IX_LINES.get(account.split(":")[-1], ALL_OTHER_EXPENSES)
