"""The forms of the sponsor's money pages. Each checks what it can alone and puts the message
by its field; the services check the rest, and their refusals go by the same fields.

A form that moves money carries ``once``: a key made when the form is first
shown and kept when it comes back with a message (conservancy.kernel.submissions).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Self, TypeVar

from flask_wtf.file import FileField
from wtforms import (  # type: ignore[import-untyped]
    BooleanField,
    HiddenField,
    StringField,
    TextAreaField,
)

from conservancy.donations.matching import MatchRequest
from conservancy.donations.models import OfflineMethod, Visibility
from conservancy.donations.offline import OfflineGiftRequest
from conservancy.expenses.service import ExpenseRequest
from conservancy.kernel.submissions import new_key
from conservancy.money import Currency, Money, MoneyError, percent_to_basis_points
from conservancy.projects.models import Campaign, Project
from conservancy.projects.settings import CampaignSettings, ProjectSettings
from conservancy.web.forms import PlainTextForm, RefusingForm
from conservancy.web.public.donate_form import valid_email

T = TypeVar("T")
_NUMBER = re.compile(r"^\d{1,3}(,\d{3})+(\.\d*)?$|^\d*(\.\d*)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NOT_A_NUMBER = "Enter the amount as a number, such as 25.00."
METHODS = {OfflineMethod.CHEQUE: "Cheque", OfflineMethod.WIRE: "Wire transfer"}
GIFT_METHODS = {
    **METHODS,
    OfflineMethod.STOCK: "Stock (shares the sponsor sold)",
    OfflineMethod.DAF: "Grant from a donor-advised fund",
}
VISIBILITIES = {
    Visibility.PUBLIC: "Name shown publicly",
    Visibility.PROJECT: "Name shown to the project's treasurers only",
    Visibility.ANONYMOUS: "Anonymous (the sponsor's tax records keep the name)",
}


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def parse_money(text: str | None, currency: Currency) -> Money:
    """An amount staff typed (``1,234.50``, ``$25``); ValueError says what is wrong with it."""
    cleaned = (text or "").strip()
    if currency is Currency.USD:
        cleaned = cleaned.removeprefix("$").strip()
    if not cleaned:
        raise ValueError("Enter an amount.")
    if cleaned.startswith("-"):
        raise ValueError("An amount cannot be negative.")
    if not _NUMBER.match(cleaned) or not cleaned.strip(".,"):
        raise ValueError(NOT_A_NUMBER)
    if "." in cleaned and len(cleaned.rsplit(".", 1)[1]) > currency.minor_units:
        raise ValueError("Use at most two decimals (whole cents), such as 25.50.")
    try:
        money = Money(Decimal(cleaned.replace(",", "").rstrip(".") or "0"), currency)
    except (InvalidOperation, MoneyError):
        raise ValueError(NOT_A_NUMBER) from None
    if money.minor == 0:
        raise ValueError("An amount must be more than zero.")
    return money


def parse_day(text: str | None) -> date:
    cleaned = (text or "").strip()
    if not cleaned:
        raise ValueError("Give the date.")
    try:
        if not _DATE.match(cleaned):
            raise ValueError
        return date.fromisoformat(cleaned)
    except ValueError:
        raise ValueError("Give the date as year-month-day, such as 2026-03-05.") from None


class MoneyForm(RefusingForm):
    """A form whose refusals (the service's) go by the field they name, or above the form."""

    once = HiddenField(filters=[_strip])

    def begin(self) -> Self:
        """The form as first shown: with a fresh key."""
        self.once.data = new_key()
        return self

    def _money(self, field: Any, currency: Currency) -> Money | None:
        try:
            return parse_money(field.data, currency)
        except ValueError as exc:
            field.errors.append(str(exc))
            return None

    def _day(self, field: Any) -> date | None:
        try:
            return parse_day(field.data)
        except ValueError as exc:
            field.errors.append(str(exc))
            return None

    def _method(self, allowed: dict[OfflineMethod, str] = METHODS) -> OfflineMethod | None:
        field = self._fields["method"]
        if field.data not in {m.value for m in allowed}:
            field.errors.append("Choose " + " or ".join(v.lower() for v in allowed.values()) + ".")
            return None
        return OfflineMethod(field.data)


class OfflineGiftForm(MoneyForm):
    project = StringField("Project", filters=[_strip])
    amount = StringField("Amount", filters=[_strip])
    received_on = StringField("Date received", filters=[_strip])
    method = StringField("How it came", filters=[_strip])
    reference = StringField(
        "Cheque number, wire reference, shares given or donor-advised fund", filters=[_strip]
    )
    name = StringField("Donor's name", filters=[_strip])
    email = StringField("Donor's e-mail address", filters=[_strip])
    address = TextAreaField("Donor's postal address", filters=[_strip])
    visibility = StringField("How the donor's name may be shown", filters=[_strip])
    thank_you = BooleanField("The donor asked for the project's thank-you gift")

    projects: dict[str, Project] = {}
    chosen: Project | None = None
    gift: OfflineGiftRequest | None = None

    def begin(self) -> Self:
        super().begin()
        self.method.data = OfflineMethod.CHEQUE.value
        self.visibility.data = Visibility.PUBLIC.value
        return self

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        self.chosen = self.projects.get(self.project.data or "")
        if self.chosen is None:
            self.project.errors.append("Choose the project the gift is for.")
        currency = Currency(self.chosen.currency) if self.chosen else Currency.USD
        amount = self._money(self.amount, currency)
        received = self._day(self.received_on)
        method = self._method(GIFT_METHODS)
        if not self.reference.data:
            self.reference.errors.append(
                "Give the cheque's number, the wire's reference as the bank shows it, "
                "the shares given, or the donor-advised fund's name."
            )
        if not self.name.data:
            self.name.errors.append("Give the donor's name as the receipt should show it.")
        elif len(self.name.data) > 200:
            self.name.errors.append("A name is at most 200 characters.")
        if self.email.data and not valid_email(self.email.data):
            self.email.errors.append("Enter an e-mail address such as ada@example.org, or none.")
        if len(self.address.data or "") > 1000:
            self.address.errors.append("An address is at most 1000 characters.")
        if self.visibility.data not in {v.value for v in Visibility}:
            self.visibility.errors.append("Choose how the donor's name may be shown.")
        if self.errors or amount is None or received is None or method is None:
            return False
        self.gift = OfflineGiftRequest(
            amount=amount,
            received_on=received,
            method=method,
            reference=self.reference.data,
            name=self.name.data,
            email=self.email.data or None,
            address=self.address.data or None,
            visibility=Visibility(self.visibility.data),
            thank_you=bool(self.thank_you.data),
        )
        return True


class MatchForm(MoneyForm):
    """A company's matching gift of the gift whose page it is on (donations.matching)."""

    # Ids of their own: the refund form on the same page has fields of the same names.
    company = StringField("Company", filters=[_strip], id="match-company")
    amount = StringField("Amount", filters=[_strip], id="match-amount")
    received_on = StringField("Date received", filters=[_strip], id="match-received_on")
    method = StringField("How it came", filters=[_strip], id="match-method")
    reference = StringField(
        "Cheque number or wire reference", filters=[_strip], id="match-reference"
    )
    address = TextAreaField("The company's postal address", filters=[_strip], id="match-address")

    currency = Currency.USD
    match: MatchRequest | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        amount = self._money(self.amount, self.currency)
        received = self._day(self.received_on)
        method = self._method()
        if not self.company.data:
            self.company.errors.append("Give the company's name as its receipt should show it.")
        elif len(self.company.data) > 200:
            self.company.errors.append("A name is at most 200 characters.")
        if not self.reference.data:
            self.reference.errors.append("Give the cheque's number or the wire's reference.")
        if len(self.address.data or "") > 1000:
            self.address.errors.append("An address is at most 1000 characters.")
        if self.errors or amount is None or received is None or method is None:
            return False
        self.match = MatchRequest(
            company=self.company.data,
            amount=amount,
            received_on=received,
            method=method,
            reference=self.reference.data,
            address=self.address.data or None,
        )
        return True


class RefundForm(MoneyForm):
    """A refund: to the card for a card gift; for an offline gift, from the bank, by cheque
    or wire, on a date (``offline``)."""

    amount = StringField("Amount to refund", filters=[_strip])
    reason = TextAreaField("Reason", filters=[_strip])
    method = StringField("Sent back by", filters=[_strip])
    reference = StringField("Cheque number or wire reference", filters=[_strip])
    refunded_on = StringField("Date sent", filters=[_strip])
    # No refund in one click: staff tick this first (it cannot be undone).
    confirm = BooleanField("Yes, send this money back to the donor")

    offline = False
    currency = Currency.USD
    money: Money | None = None
    day: date | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        self.money = self._money(self.amount, self.currency)
        if not self.reason.data:
            self.reason.errors.append("Say why the money goes back; the audit log keeps it.")
        elif len(self.reason.data) > 500:
            self.reason.errors.append("A reason is at most 500 characters.")
        if self.offline:
            self._method()
            self.day = self._day(self.refunded_on)
            if not self.reference.data:
                self.reference.errors.append("Give the cheque's number or the wire's reference.")
        if not self.confirm.data:
            self.confirm.errors.append("Tick this to confirm the refund: it cannot be undone.")
        return not self.errors


class ExpenseForm(MoneyForm):
    project = StringField("Paid from the fund of", filters=[_strip])
    amount = StringField("Amount", filters=[_strip])
    payee = StringField("Payee", filters=[_strip])
    category = StringField("Category", filters=[_strip])
    function = StringField("Form 990 Part IX column", filters=[_strip])
    function_choices = (
        ("", "The category's (program service for a new category)"),
        ("program", "Program service"),
        ("management", "Management and general"),
        ("fundraising", "Fundraising"),
    )
    paid_on = StringField("Date paid", filters=[_strip])
    description = TextAreaField("Description", filters=[_strip])
    invoice = FileField("Invoice")

    projects: dict[str, Project] = {}
    chosen: Project | None = None
    expense: ExpenseRequest | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        self.chosen = self.projects.get(self.project.data or "")
        if self.chosen is None:
            self.project.errors.append("Choose the project whose fund pays.")
        currency = Currency(self.chosen.currency) if self.chosen else Currency.USD
        amount = self._money(self.amount, currency)
        paid_on = self._day(self.paid_on)
        if not self.payee.data:
            self.payee.errors.append("Give the payee: who was paid.")
        if not self.category.data:
            self.category.errors.append("Give a category, such as Travel or Hosting.")
        if (self.function.data or "") not in dict(self.function_choices):
            self.function.errors.append("Choose one of the columns listed.")
        upload = self.invoice.data
        data = upload.read() if upload is not None and hasattr(upload, "read") else b""
        if not data:
            self.invoice.errors.append("Attach the invoice: a PDF, PNG or JPEG file.")
        if self.errors or amount is None or paid_on is None:
            return False
        self.expense = ExpenseRequest(
            amount=amount,
            payee=self.payee.data,
            category=self.category.data,
            paid_on=paid_on,
            description=self.description.data or "",
            invoice=data,
            function=self.function.data or None,
        )
        return True


class ProjectForm(RefusingForm):
    name = StringField("Name", filters=[_strip])
    blurb = TextAreaField("Blurb", filters=[_strip])
    primary_colour = StringField("Main colour", filters=[_strip])
    accent_colour = StringField("Accent colour", filters=[_strip])
    suggested = StringField("Suggested amounts", filters=[_strip])
    fee_rate = StringField("Sponsorship fee (percent)", filters=[_strip])
    active = BooleanField("Takes donations: its donation page is open")
    public_expenses = BooleanField("Its public page lists the expenses paid")
    thank_you_description = StringField("Thank-you gift", filters=[_strip])
    thank_you_value = StringField("Its fair market value", filters=[_strip])
    thank_you_minimum = StringField("For gifts of at least", filters=[_strip])

    currency = Currency.USD
    wanted: ProjectSettings | None = None

    @classmethod
    def showing(cls, project: Project) -> ProjectForm:
        """The form filled in with the project's settings as they are."""
        form = cls(formdata=None)
        form.currency = Currency(project.currency)
        form.name.data = project.name
        form.blurb.data = project.blurb
        form.primary_colour.data = project.primary_colour
        form.accent_colour.data = project.accent_colour
        form.suggested.data = ", ".join(str(m.amount) for m in project.suggested)
        form.fee_rate.data = f"{Decimal(project.fee_rate_bp).scaleb(-2):f}"
        form.active.data = project.active
        form.public_expenses.data = project.public_expenses
        form.thank_you_description.data = project.thank_you_description or ""
        value, minimum = project.thank_you_value, project.thank_you_minimum
        form.thank_you_value.data = str(value.amount) if value is not None else ""
        form.thank_you_minimum.data = str(minimum.amount) if minimum is not None else ""
        return form

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        suggested = []
        for part in (self.suggested.data or "").replace(";", ",").split():
            for text in filter(None, part.split(",")):
                try:
                    suggested.append(parse_money(text, self.currency))
                except ValueError as exc:
                    self.suggested.errors.append(f"{text}: {exc}")
                    break
        try:
            fee_rate = percent_to_basis_points((self.fee_rate.data or "").removesuffix("%").strip())
        except MoneyError:
            self.fee_rate.errors.append(
                "The fee is a percentage from 0 to 100, with at most two decimals, such as 7.5."
            )
            fee_rate = 0
        value = self._optional_money(self.thank_you_value, allow_zero=True)
        minimum = self._optional_money(self.thank_you_minimum)
        if self.errors:
            return False
        self.wanted = ProjectSettings(
            name=self.name.data or "",
            blurb=self.blurb.data or "",
            primary_colour=self.primary_colour.data or "",
            accent_colour=self.accent_colour.data or "",
            suggested=tuple(suggested),
            fee_rate_bp=fee_rate,
            active=bool(self.active.data),
            public_expenses=bool(self.public_expenses.data),
            thank_you_description=self.thank_you_description.data or None,
            thank_you_value=value,
            thank_you_minimum=minimum,
        )
        return True

    def _optional_money(self, field: Any, *, allow_zero: bool = False) -> Money | None:
        if not field.data:
            return None
        if allow_zero and field.data.strip("$0. ") == "" and any(c == "0" for c in field.data):
            return Money.zero(self.currency)
        try:
            return parse_money(field.data, self.currency)
        except ValueError as exc:
            field.errors.append(str(exc))
            return None


class CampaignForm(RefusingForm):
    """A campaign's name, goal and days. Its fields are named ``campaign-…``: the project's
    page shows this form beside the settings form, whose ``name`` is the project's."""

    name = StringField("Name", filters=[_strip])
    goal = StringField("Goal", filters=[_strip])
    starts_on = StringField("First day", filters=[_strip])
    ends_on = StringField("Last day", filters=[_strip])

    PREFIX = "campaign"
    currency = Currency.USD
    wanted: CampaignSettings | None = None

    @classmethod
    def sent(cls, currency: Currency) -> CampaignForm:
        """The form as the browser sent it; the goal is read in ``currency``."""
        form = cls(prefix=cls.PREFIX)
        form.currency = currency
        return form

    @classmethod
    def new(cls, currency: Currency, today: date) -> CampaignForm:
        """An empty form for a campaign that starts today."""
        form = cls(formdata=None, prefix=cls.PREFIX)
        form.currency = currency
        form.starts_on.data = today.isoformat()
        return form

    @classmethod
    def showing(cls, campaign: Campaign) -> CampaignForm:
        """The form filled in with the campaign as it is."""
        form = cls(formdata=None, prefix=cls.PREFIX)
        form.currency = Currency(campaign.currency)
        form.name.data = campaign.name
        form.goal.data = str(campaign.goal.amount)
        form.starts_on.data = campaign.starts_on.isoformat()
        form.ends_on.data = campaign.ends_on.isoformat()
        return form

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        goal = _parsed(self.goal, lambda text: parse_money(text, self.currency))
        starts_on = _parsed(self.starts_on, parse_day)
        ends_on = _parsed(self.ends_on, parse_day)
        if self.errors or goal is None or starts_on is None or ends_on is None:
            return False
        self.wanted = CampaignSettings(
            name=self.name.data or "", goal=goal, starts_on=starts_on, ends_on=ends_on
        )
        return True


def _parsed(field: Any, parse: Callable[[str | None], T]) -> T | None:
    """``parse(field.data)``, or None with its ValueError's message by the field."""
    try:
        return parse(field.data)
    except ValueError as exc:
        field.errors.append(str(exc))
        return None


class LogoForm(PlainTextForm):
    logo = FileField("Logo")

    data_bytes: bytes = b""

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        upload = self.logo.data
        # Read one byte past the limit: enough to know a file is too large.
        self.data_bytes = (
            upload.read(1024 * 1024 + 1) if upload is not None and hasattr(upload, "read") else b""
        )
        if not self.data_bytes:
            self.logo.errors.append("Choose a logo file: PNG, JPEG or WebP.")
        return not self.errors
