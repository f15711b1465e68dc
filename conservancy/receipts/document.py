"""The content of a receipt, voiding notice or replacement receipt, and its IRS wording.

Pure: standard library and :mod:`conservancy.money` only. What a receipt must and
must never say is SPEC section 8; the rules are here so that every renderer (PDF
today, perhaps e-mail text later) says the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, NamedTuple, Protocol

from conservancy.money import Currency, Money

ReceiptKind = Literal["receipt", "voiding", "replacement"]
# What was given: money; property (donated shares), described and never valued on a
# receipt, the donor values it; or a donor-advised fund's grant, acknowledged but no
# tax receipt, since the recommending donor took the deduction when giving to the fund.
GiftKind = Literal["money", "property", "daf"]
KINDS: tuple[ReceiptKind, ...] = ("receipt", "voiding", "replacement")

NO_GOODS_OR_SERVICES = "No goods or services were provided in exchange for this contribution."


class TokenItemLimits(NamedTuple):
    """The IRS safe harbours for "insubstantial benefits" in one tax year (USD): the
    figures of Rev. Proc. 90-12 (and 92-49) as the year's revenue procedure adjusts them.

    What a donor gets back is insubstantial, and the whole payment is a contribution, when
    it meets either test:

    * **the 2% test**: the fair market value of all the benefits is at most 2% of the
      payment, and at most ``two_percent_cap``;
    * **the low-cost article test**: the payment is at least ``minimum_payment`` and the
      only benefits are token items bearing the organization's name or logo (mugs,
      stickers, t-shirts) whose cost, together, is at most ``low_cost_article``. The app
      records a benefit's value, not its cost to the sponsor, and tests the value: the
      value of such an item is not below its cost to a charity that buys it in bulk, so
      this can only find fewer token items than the rule allows, never more.
    """

    low_cost_article: Money
    minimum_payment: Money
    two_percent_cap: Money
    source: str  # the revenue procedure that gives the year's figures


def _limits(low_cost: str, minimum: str, cap: str, source: str) -> TokenItemLimits:
    usd = Currency.USD
    return TokenItemLimits(
        Money.parse(low_cost, usd), Money.parse(minimum, usd), Money.parse(cap, usd), source
    )


# Review every autumn when the next revenue procedure is published and add the new year:
# a year missing here gets no safe harbour, so the receipt discloses every benefit, which
# is always accurate if conservative.
TOKEN_ITEM_LIMITS: dict[int, TokenItemLimits] = {
    2024: _limits("13.20", "66.00", "132.00", "Rev. Proc. 2023-34"),
    2025: _limits("13.60", "68.00", "136.00", "Rev. Proc. 2024-40"),
    2026: _limits(
        "14.00",
        "70.00",
        "140.00",
        "Rev. Proc. 2025-32 (figures not yet checked against the published text: confirm "
        "before relying on them)",
    ),
}
TWO_PERCENT = 2  # the 2% test: benefits at most 2% of the payment


_NUMBER = re.compile(r"^\d{4}-\d{6}$")
# Things that must never be printed on a receipt: a social security number or a
# payment-card number (13-19 digits, perhaps grouped by spaces or dashes).
_SSN = re.compile(r"(?<!\d)\d{3}[- ]?\d{2}[- ]?\d{4}(?!\d)")
_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


class ReceiptError(ValueError):
    """A receipt that must not be issued as given."""


def _refuse_identifiers(label: str, text: str | None) -> None:
    if text and (_SSN.search(text) or _CARD.search(text)):
        raise ReceiptError(f"{label} looks like it holds an SSN or a card number")


def long_date(day: date) -> str:
    """``March 5, 2026``: the form a US tax receipt uses."""
    return f"{day:%B} {day.day}, {day.year}"


class SponsorRecord(Protocol):
    """What the database records of the sponsor (conservancy.projects.models.Sponsor)."""

    @property
    def legal_name(self) -> str: ...
    @property
    def ein(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def signatory_name(self) -> str | None: ...
    @property
    def signatory_title(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Sponsor:
    """The letterhead: who the sponsor is, and, where a document asks to be answered (an
    invoice), the e-mail address that answers."""

    legal_name: str
    ein: str
    address: str
    signatory_name: str | None = None
    signatory_title: str | None = None
    contact: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\d{2}-\d{7}", self.ein):
            raise ReceiptError(f"EIN {self.ein!r} is not of the form 12-3456789")

    @classmethod
    def of(cls, sponsor: SponsorRecord, *, contact: str | None = None) -> Sponsor:
        """The letterhead of the sponsor the database records."""
        return cls(
            legal_name=sponsor.legal_name,
            ein=sponsor.ein,
            address=sponsor.address,
            signatory_name=sponsor.signatory_name,
            signatory_title=sponsor.signatory_title,
            contact=contact,
        )


@dataclass(frozen=True, slots=True)
class Benefit:
    """Something the sponsor gave back: a t-shirt, a dinner, a ticket."""

    description: str
    fair_market_value: Money

    def __post_init__(self) -> None:
        if self.fair_market_value.minor < 0:
            raise ReceiptError("a benefit cannot be worth less than nothing")
        _refuse_identifiers("benefit description", self.description)


def total_value(benefits: tuple[Benefit, ...], currency: Currency) -> Money:
    total = Money.zero(currency)
    for benefit in benefits:
        total = total + benefit.fair_market_value
    return total


def benefits_insubstantial(amount: Money, benefits: tuple[Benefit, ...], tax_year: int) -> bool:
    """True when what was given back is insubstantial under that year's IRS safe harbours:
    the 2% test or the low-cost article test (:class:`TokenItemLimits`)."""
    if not benefits:
        return True
    limits = TOKEN_ITEM_LIMITS.get(tax_year)
    if limits is None or amount.currency is not Currency.USD:
        return False
    value = total_value(benefits, amount.currency)
    # In cents, exactly: 100 x value <= 2 x payment is "at most 2% of the payment".
    two_percent = (
        100 * value.minor <= TWO_PERCENT * amount.minor and value <= limits.two_percent_cap
    )
    low_cost = amount >= limits.minimum_payment and value <= limits.low_cost_article
    return two_percent or low_cost


def exchange_value(amount: Money, benefits: tuple[Benefit, ...], tax_year: int) -> Money:
    """What of a payment bought its benefits: nothing when they are insubstantial, else
    their value, never more than the payment. Income, but no contribution."""
    return amount - deductible_amount(amount, benefits, tax_year)


def deductible_amount(amount: Money, benefits: tuple[Benefit, ...], tax_year: int) -> Money:
    """What the donor may deduct: the amount less what they got back, never below zero."""
    if benefits_insubstantial(amount, benefits, tax_year):
        return amount
    rest = amount - total_value(benefits, amount.currency)
    return rest if rest.minor > 0 else Money.zero(amount.currency)


@dataclass(frozen=True, slots=True)
class ReceiptDocument:
    kind: ReceiptKind
    number: str
    issued_on: date
    sponsor: Sponsor
    donor_name: str
    donor_address: str | None
    gift_on: date
    amount: Money
    project_name: str
    payment_method: str
    benefits: tuple[Benefit, ...] = field(default=())
    schedule: str | None = None
    replaces: str | None = None
    reason: str | None = None
    # For a gift in another currency than US dollars: the dollars the sponsor received
    # for ``amount`` at the rate of the gift's day. A US donor deducts dollars, and the
    # IRS values a gift in another currency at its dollar value on the day it was made;
    # the receipt states both. None for a gift in dollars.
    settled: Money | None = None
    gift_kind: GiftKind = "money"
    # For property: what was given ("10 shares of ACME Corp"); for a grant, the fund's name.
    given: str | None = None
    # The employer the donor named for its matching-gift programme (donations.matching).
    employer: str | None = None
    # The donor's dedication ("In memory of ..."), printed with the gift: a tribute gift.
    dedication: str | None = None
    # A copy drawn for a project's treasurers (receipts.issue.project_copy): the project's
    # name. It is not a receipt: the donor's postal address and employer are left out, and
    # the donor is named only as they allowed the project to see them.
    copy_for: str | None = None

    def __post_init__(self) -> None:
        if self.gift_kind != "money":
            if not self.given:
                raise ReceiptError("a gift of property or a grant must say what or whose it is")
            if self.benefits or self.settled is not None:
                raise ReceiptError("a gift of property or a grant has no benefits or conversion")
            _refuse_identifiers("gift description", self.given)
        if self.kind not in KINDS:
            raise ReceiptError(f"unknown receipt kind {self.kind!r}")
        if not _NUMBER.match(self.number):
            raise ReceiptError(f"receipt number {self.number!r} is not of the form 2026-000123")
        if self.kind == "receipt":
            if self.replaces is not None:
                raise ReceiptError("a plain receipt replaces nothing")
        elif self.replaces is None or not _NUMBER.match(self.replaces):
            raise ReceiptError(f"a {self.kind} must name the receipt it voids or replaces")
        elif self.replaces == self.number:
            raise ReceiptError("a receipt cannot void or replace itself")
        if self.kind == "voiding" and not self.reason:
            raise ReceiptError("a voiding notice must say why (refund, dispute)")
        if self.copy_for is not None and (self.donor_address or self.employer):
            raise ReceiptError("a project's copy names no postal address and no employer")
        if self.amount.minor <= 0:
            raise ReceiptError("a receipt is for a positive amount")
        if self.issued_on < self.gift_on:
            raise ReceiptError("a receipt cannot be issued before the gift")
        if not isinstance(self.benefits, tuple):
            raise TypeError("benefits must be a tuple")
        for benefit in self.benefits:
            if benefit.fair_market_value.currency != self.amount.currency:
                raise ReceiptError("benefits must be valued in the gift's currency")
        if self.settled is not None:
            if self.settled.currency is not Currency.USD or self.amount.currency is Currency.USD:
                raise ReceiptError("only a gift in another currency states its US dollar value")
            if self.settled.minor < 0:
                raise ReceiptError("a gift's US dollar value cannot be negative")
            if self.benefits:
                raise ReceiptError("a thank-you gift goes with gifts in US dollars only")
        for label, text in (
            ("donor name", self.donor_name),
            ("donor address", self.donor_address),
            ("payment method", self.payment_method),
            ("project name", self.project_name),
            ("schedule", self.schedule),
            ("reason", self.reason),
            ("employer", self.employer),
        ):
            _refuse_identifiers(label, text)

    # -- amounts -------------------------------------------------------------

    @property
    def benefits_value(self) -> Money:
        """The good-faith estimate of everything given back."""
        return total_value(self.benefits, self.amount.currency)

    @property
    def tax_year(self) -> int:
        return self.gift_on.year

    @property
    def benefits_insubstantial(self) -> bool:
        """True when the benefits are only token items under that year's IRS limits."""
        return benefits_insubstantial(self.amount, self.benefits, self.tax_year)

    @property
    def disclosed_benefits(self) -> tuple[Benefit, ...]:
        """The benefits the receipt must describe and value (none when insubstantial)."""
        return () if self.benefits_insubstantial else self.benefits

    @property
    def deductible(self) -> Money:
        """The amount less the value of what was given back, never below zero."""
        return deductible_amount(self.amount, self.benefits, self.tax_year)

    # -- wording -------------------------------------------------------------

    @property
    def is_tax_receipt(self) -> bool:
        return self.gift_kind != "daf"

    @property
    def states_value(self) -> bool:
        """False for property: its value is the donor's to establish, never the receipt's."""
        return self.gift_kind == "money"

    @property
    def daf_statement(self) -> str | None:
        if self.gift_kind != "daf":
            return None
        return (
            f"This grant was made by {self.given}, a donor-advised fund, on your "
            f"recommendation. This letter is an acknowledgement and not a tax receipt: the "
            f"grant comes from a donor-advised fund, so you may not claim a deduction for it "
            f"(you could do so when you gave to the fund). No goods or services were provided "
            f"in exchange for this grant."
        )

    @property
    def property_statement(self) -> str | None:
        if self.gift_kind != "property":
            return None
        return (
            f"You gave {self.given}. This receipt describes the property and does not state "
            f"its value: the value of donated property is yours to establish for your tax "
            f"return."
        )

    @property
    def title(self) -> str:
        if self.copy_for is not None:
            return f"{self._title} (project's copy)"
        return self._title

    @property
    def _title(self) -> str:
        if self.gift_kind == "daf":
            return {
                "receipt": "Grant acknowledgement (not a tax receipt)",
                "voiding": "Notice of void grant acknowledgement",
                "replacement": "Replacement grant acknowledgement (not a tax receipt)",
            }[self.kind]
        return {
            "receipt": "Donation receipt",
            "voiding": "Notice of void receipt",
            "replacement": "Replacement donation receipt",
        }[self.kind]

    @property
    def purpose_statement(self) -> str:
        """The sponsor is the donee and keeps variance power; the project is the purpose.

        Without the discretion-and-control wording the sponsor would be a mere
        conduit to the project and the gift would not be deductible.
        """
        sponsor = self.sponsor.legal_name
        return (
            f"This gift was made to {sponsor} to support the work of {self.project_name}, "
            f"one of its fiscally sponsored projects. {sponsor} has full discretion and "
            f"control over the use of all contributed funds and will use this gift for the "
            f"benefit of {self.project_name} in keeping with its charitable purposes."
        )

    @property
    def goods_and_services_statement(self) -> str:
        """The IRS quid-pro-quo sentence(s), never "fully deductible"."""
        if not self.disclosed_benefits:
            return NO_GOODS_OR_SERVICES
        items = "; ".join(
            f"{b.description} (estimated value {b.fair_market_value.format()})"
            for b in self.disclosed_benefits
        )
        return (
            f"In exchange for this contribution you received: {items}. "
            f"Our good-faith estimate of the fair market value of these goods or services is "
            f"{self.benefits_value.format()}. Only the amount of your contribution in excess "
            f"of that value, {self.deductible.format()}, is deductible for federal income tax "
            f"purposes."
        )

    @property
    def settled_statement(self) -> str | None:
        """For a gift in another currency: the dollars received, as a US return takes them."""
        if self.settled is None:
            return None
        sponsor = self.sponsor.legal_name
        if self.kind == "voiding":
            return (
                f"The voided receipt stated {self.amount.format()}, which {sponsor} received "
                f"as {self.settled.format()} USD."
            )
        return (
            f"You gave {self.amount.format()}. Our payment processor, Stripe, converted it "
            f"into US dollars on {long_date(self.gift_on)}, and {sponsor} received "
            f"{self.settled.format()} USD. For US federal income tax purposes the value of "
            f"your contribution is {self.settled.format()} USD."
        )

    @property
    def matching_statement(self) -> str | None:
        """What an employer's matching-gift programme asks for: the donee's legal name and
        EIN, and the receipt's number; the date, amount and project are in the table."""
        if not self.employer or self.kind == "voiding" or self.gift_kind == "daf":
            return None
        return (
            f"For a matching gift from {self.employer}: this receipt may be submitted to the "
            f"employer's matching-gift programme. The donee is {self.sponsor.legal_name}, "
            f"EIN {self.sponsor.ein}, a tax-exempt organisation; receipt number "
            f"{self.number}."
        )

    @property
    def schedule_statement(self) -> str | None:
        if not self.schedule:
            return None
        return (
            f"This payment is part of your {self.schedule} recurring gift; "
            f"each payment receives its own receipt."
        )

    @property
    def kind_statement(self) -> str | None:
        """What a voiding notice or replacement says about the earlier receipt."""
        why = f" ({self.reason})" if self.reason else ""
        if self.gift_kind == "daf":
            return self._grant_kind_statement(why)
        if self.kind == "voiding":
            return (
                f"Receipt {self.replaces} for your gift of {self.amount.format()} on "
                f"{long_date(self.gift_on)} is void{why}. Please do not use receipt "
                f"{self.replaces} for your tax records; discard it or keep it with this notice."
            )
        if self.kind == "replacement":
            return (
                f"This receipt replaces receipt {self.replaces}, which is void{why}. "
                f"The amount of your gift is now {self.amount.format()}."
            )
        return None

    def _grant_kind_statement(self, why: str) -> str | None:
        """A grant's acknowledgement was never a tax receipt: its notices say what changed
        without sending anyone to their tax records."""
        if self.kind == "voiding":
            return (
                f"Our acknowledgement {self.replaces} of the grant of {self.amount.format()} "
                f"received on {long_date(self.gift_on)} is void{why}: please discard it, or "
                f"keep it with this notice."
            )
        if self.kind == "replacement":
            return (
                f"This acknowledgement replaces acknowledgement {self.replaces}, which is "
                f"void{why}. The grant now stands at {self.amount.format()}."
            )
        return None

    @property
    def copy_statement(self) -> str | None:
        """What a project's copy says it is, at its top."""
        if self.copy_for is None:
            return None
        return (
            f"A copy for {self.copy_for}'s records of {self._title.lower()} {self.number}, "
            f"which {self.sponsor.legal_name} sent to the donor. It is not a tax receipt. "
            f"The donor is named as they allowed the project to see them; their postal "
            f"address and other private details are left out."
        )

    @property
    def keep_for_records(self) -> str:
        if self.copy_for is not None:
            # Printed by CSS (the page footer), where HTML escapes would show: no names.
            return "A copy for the project, for its records: not a tax receipt."
        if self.gift_kind == "daf":
            return "This acknowledgement is not a tax receipt."
        if self.kind == "voiding":
            return f"Keep this notice with your tax records. Receipt {self.replaces} is void."
        return "Keep this receipt for your tax records."

    def data(self) -> dict[str, str | None]:
        """The machine-readable copy embedded in the PDF as ``receipt.json``.

        Amounts are strings (exact decimals). A voiding notice acknowledges no
        deductible gift, so its deductible is zero.
        """
        deductible = Money.zero(self.amount.currency) if self.kind == "voiding" else self.deductible
        # A gift in another currency also names its US dollar value.
        usd = {"usd_value": str(self.settled.amount)} if self.settled is not None else {}
        if self.gift_kind == "daf":
            deductible = Money.zero(self.amount.currency)
        valued = self.states_value or self.gift_kind == "daf"
        # Stock or a grant also says so, and what (or whose) it was.
        given = {"gift_kind": self.gift_kind, "given": self.given} if self.given else {}
        copy = {"copy_for": self.copy_for} if self.copy_for is not None else {}
        return {
            **usd,
            **given,
            **copy,
            "number": self.number,
            "kind": self.kind,
            "issued_on": self.issued_on.isoformat(),
            "gift_on": self.gift_on.isoformat(),
            "amount": str(self.amount.amount) if valued else None,
            "currency": str(self.amount.currency),
            "benefits_value": str(self.benefits_value.amount),
            "deductible": str(deductible.amount) if self.states_value else None,
            "project": self.project_name,
            "sponsor_ein": self.sponsor.ein,
            "replaces": self.replaces,
            "schedule": self.schedule,
        }
