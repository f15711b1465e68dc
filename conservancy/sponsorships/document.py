"""What a sponsorship invoice and its acknowledgement say. Pure: no database, no PDF.

The acknowledgement is the sponsor's written acknowledgement for the IRS: a
sponsorship that comes with benefits (a conference pass) is a quid-pro-quo
contribution, deductible only above the fair market value of what was received.
It uses the receipts' rules and wording (conservancy.receipts.document): the
token-item limits, the good-faith estimate and the sentence that only the excess
is deductible, never "fully deductible" when something was given back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from conservancy.money import Money
from conservancy.receipts.document import (
    NO_GOODS_OR_SERVICES,
    Benefit,
    Sponsor,
    benefits_insubstantial,
    deductible_amount,
    total_value,
)

PAYMENT_WORDS = {"card": "Card (Stripe)", "ach": "ACH transfer", "cheque": "Cheque"}


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    number: str
    issued_on: date
    due_on: date
    sponsor: Sponsor
    company_name: str
    contact_name: str
    address: str
    project_name: str
    level_name: str
    amount: Money
    benefits: tuple[Benefit, ...]
    pay_url: str
    cheque_payable_to: str
    period_start: date
    period_end: date
    # A copy drawn again, on this day, to print the invoice's current pay address in
    # place of the numbered one its first PDF printed; nothing else differs.
    reissued_on: date | None = None

    @property
    def title(self) -> str:
        return "Invoice"

    @property
    def benefits_value(self) -> Money:
        return total_value(self.benefits, self.amount.currency)

    @property
    def deductible(self) -> Money:
        return deductible_amount(self.amount, self.benefits, self.issued_on.year)

    def data(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {
            "number": self.number,
            "issued_on": self.issued_on.isoformat(),
            "due_on": self.due_on.isoformat(),
            "amount": str(self.amount.amount),
            "currency": str(self.amount.currency),
            "benefits_value": str(self.benefits_value.amount),
            "project": self.project_name,
            "level": self.level_name,
            "sponsor_ein": self.sponsor.ein,
        }
        if self.reissued_on is not None:
            found["reissued_on"] = self.reissued_on.isoformat()
        return found


@dataclass(frozen=True, slots=True)
class AcknowledgementDocument:
    number: str  # the invoice's
    issued_on: date  # the day of payment
    sponsor: Sponsor
    company_name: str
    address: str
    project_name: str
    level_name: str
    amount: Money
    paid_by: str
    benefits: tuple[Benefit, ...]

    @property
    def title(self) -> str:
        return "Sponsorship acknowledgement"

    @property
    def payment_method(self) -> str:
        return PAYMENT_WORDS.get(self.paid_by, self.paid_by)

    @property
    def benefits_value(self) -> Money:
        return total_value(self.benefits, self.amount.currency)

    @property
    def disclosed_benefits(self) -> tuple[Benefit, ...]:
        if benefits_insubstantial(self.amount, self.benefits, self.issued_on.year):
            return ()
        return self.benefits

    @property
    def deductible(self) -> Money:
        return deductible_amount(self.amount, self.benefits, self.issued_on.year)

    @property
    def purpose_statement(self) -> str:
        sponsor = self.sponsor.legal_name
        return (
            f"This payment was made to {sponsor} to support the work of {self.project_name}, "
            f"one of its fiscally sponsored projects. {sponsor} has full discretion and "
            f"control over the use of all contributed funds and will use this payment for "
            f"the benefit of {self.project_name} in keeping with its charitable purposes."
        )

    @property
    def goods_and_services_statement(self) -> str:
        """The receipts' quid-pro-quo wording, for the sponsorship's benefits."""
        disclosed = self.disclosed_benefits
        if not disclosed:
            return NO_GOODS_OR_SERVICES
        items = "; ".join(
            f"{b.description} (estimated value {b.fair_market_value.format()})" for b in disclosed
        )
        return (
            f"In exchange for this contribution you received: {items}. "
            f"Our good-faith estimate of the fair market value of these goods or services is "
            f"{self.benefits_value.format()}. Only the amount of your contribution in excess "
            f"of that value, {self.deductible.format()}, is deductible for federal income tax "
            f"purposes."
        )

    def data(self) -> dict[str, str | None]:
        return {
            "invoice": self.number,
            "paid_on": self.issued_on.isoformat(),
            "amount": str(self.amount.amount),
            "currency": str(self.amount.currency),
            "benefits_value": str(self.benefits_value.amount),
            "deductible": str(self.deductible.amount),
            "project": self.project_name,
            "sponsor_ein": self.sponsor.ein,
        }
