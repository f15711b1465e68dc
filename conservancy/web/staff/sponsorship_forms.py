"""The staff forms of corporate sponsorships: a new level, approving or declining a
company's request, a cheque or ACH payment, voiding an open invoice and refunding a
card-paid one."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from wtforms import (  # type: ignore[import-untyped]
    BooleanField,
    HiddenField,
    StringField,
    TextAreaField,
)

from conservancy.kernel.submissions import new_key
from conservancy.money import Currency, Money
from conservancy.sponsorships.models import PaidBy
from conservancy.web.forms import RefusingForm

REQUIRED = "This field is required."
_AMOUNT = re.compile(r"^\d[\d,]*(\.\d{1,2})?$")
PAYMENT_METHODS = {PaidBy.CHEQUE: "Cheque", PaidBy.ACH: "ACH transfer"}


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def parse_money(text: str, currency: Currency = Currency.USD) -> Money:
    """``10,000.00`` as Money; ValueError says what is wrong."""
    cleaned = text.replace("$", "", 1).strip()
    if not _AMOUNT.match(cleaned):
        raise ValueError("Enter an amount such as 10000.00 (at most two decimals).")
    try:
        return Money(Decimal(cleaned.replace(",", "")), currency)
    except (InvalidOperation, ValueError):
        raise ValueError("Enter an amount such as 10000.00.") from None


class LevelForm(RefusingForm):
    project = StringField("Project", filters=[_strip])
    name = StringField("Name", filters=[_strip])
    annual = StringField("Annual amount", filters=[_strip])
    benefits = TextAreaField("Benefits", filters=[_strip])

    def __init__(self, *args: object, slugs: frozenset[str] = frozenset(), **kw: object):
        super().__init__(*args, **kw)
        self.slugs = slugs
        self.money: Money | None = None
        self.benefit_values: list[tuple[str, Money]] = []

    def validate(self, extra_validators: object = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if self.project.data not in self.slugs:
            self.project.errors = [*self.project.errors, "Choose a project."]
            ok = False
        if not self.name.data:
            self.name.errors = [*self.name.errors, REQUIRED]
            ok = False
        try:
            self.money = parse_money(self.annual.data or "")
        except ValueError as exc:
            self.annual.errors = [*self.annual.errors, str(exc)]
            ok = False
        for number, line in enumerate((self.benefits.data or "").splitlines(), start=1):
            if not line.strip():
                continue
            description, _, value = line.rpartition("|")
            try:
                if not description.strip():
                    raise ValueError("write the description, a bar, then its value")
                self.benefit_values.append((description.strip(), parse_money(value)))
            except ValueError as exc:
                self.benefits.errors = [
                    *self.benefits.errors,
                    f"Line {number}: {exc} (such as: Conference pass | 500.00).",
                ]
                ok = False
        return ok


class PaymentForm(RefusingForm):
    method = StringField("Paid by", filters=[_strip])
    received_on = StringField("Received on", filters=[_strip])
    reference = StringField("Reference", filters=[_strip])

    def __init__(self, *args: object, **kw: object):
        super().__init__(*args, **kw)
        self.paid_by: PaidBy | None = None
        self.day: date | None = None

    def validate(self, extra_validators: object = None) -> bool:
        ok: bool = super().validate(extra_validators)
        try:
            self.paid_by = PaidBy(self.method.data or "")
            if self.paid_by not in PAYMENT_METHODS:
                raise ValueError
        except ValueError:
            self.method.errors = [*self.method.errors, "Choose cheque or ACH transfer."]
            ok = False
        try:
            self.day = date.fromisoformat(self.received_on.data or "")
        except ValueError:
            self.received_on.errors = [*self.received_on.errors, "Enter a date (YYYY-MM-DD)."]
            ok = False
        if len(self.reference.data or "") > 100:
            self.reference.errors = [*self.reference.errors, "At most 100 characters."]
            ok = False
        return ok


class VoidForm(RefusingForm):
    reason = TextAreaField("Reason", filters=[_strip])

    def validate(self, extra_validators: object = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if not self.reason.data:
            self.reason.errors = [*self.reason.errors, "Say why the invoice is voided."]
            ok = False
        elif len(self.reason.data) > 500:
            self.reason.errors = [*self.reason.errors, "At most 500 characters."]
            ok = False
        return ok


class InvoiceRefundForm(RefusingForm):
    # The form's own key (conservancy.kernel.submissions): sent twice, it refunds once.
    once = HiddenField(filters=[_strip])
    amount = StringField("Amount", filters=[_strip])
    reason = TextAreaField("Reason", filters=[_strip])
    # No refund in one click: staff tick this first (it cannot be undone).
    confirm = BooleanField("Yes, send this money back to the sponsor's card")

    def begin(self) -> InvoiceRefundForm:
        """The form as first shown: with a fresh key."""
        self.once.data = new_key()
        return self

    def __init__(self, *args: object, currency: Currency = Currency.USD, **kw: object):
        super().__init__(*args, **kw)
        self.currency = currency
        self.money: Money | None = None

    def validate(self, extra_validators: object = None) -> bool:
        ok: bool = super().validate(extra_validators)
        try:
            self.money = parse_money(self.amount.data or "", self.currency)
            if self.money.minor <= 0:
                raise ValueError("A refund must be more than zero.")
        except ValueError as exc:
            self.amount.errors = [*self.amount.errors, str(exc)]
            ok = False
        if not self.reason.data:
            self.reason.errors = [*self.reason.errors, "Say why the money goes back."]
            ok = False
        elif len(self.reason.data) > 500:
            self.reason.errors = [*self.reason.errors, "At most 500 characters."]
            ok = False
        if not self.confirm.data:
            self.confirm.errors = [
                *self.confirm.errors,
                "Tick this to confirm the refund: it cannot be undone.",
            ]
            ok = False
        return ok


class ApproveForm(RefusingForm):
    # The form's own key (conservancy.kernel.submissions): sent twice, it issues one invoice.
    once = HiddenField(filters=[_strip])
    starts_on = StringField("Sponsorship starts on", filters=[_strip])

    def __init__(self, *args: object, **kw: object):
        super().__init__(*args, **kw)
        self.day: date | None = None

    def begin(self) -> ApproveForm:
        self.once.data = new_key()
        return self

    def validate(self, extra_validators: object = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if self.starts_on.data:
            try:
                self.day = date.fromisoformat(self.starts_on.data)
            except ValueError:
                self.starts_on.errors = [*self.starts_on.errors, "Enter a date (YYYY-MM-DD)."]
                ok = False
        return ok


class StopRenewalForm(RefusingForm):
    """Only its CSRF token: stopping twice is refused by the service, not repeated."""


class DeclineForm(RefusingForm):
    once = HiddenField(filters=[_strip])
    reason = TextAreaField("Reason", filters=[_strip])

    def begin(self) -> DeclineForm:
        self.once.data = new_key()
        return self

    def validate(self, extra_validators: object = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if not self.reason.data:
            self.reason.errors = [*self.reason.errors, "Say why the request is declined."]
            ok = False
        elif len(self.reason.data) > 500:
            self.reason.errors = [*self.reason.errors, "At most 500 characters."]
            ok = False
        return ok
