"""The donation form: what a donor typed, parsed into a DonationRequest, or a message by each field.

The amount is a choice of the project's suggested amounts (radio buttons styled
as buttons) plus an "Other amount" box; whatever is typed in the box wins, so the
form works without JavaScript. Radio groups are plain text fields here and the
template draws the radios: every value is checked below, with messages a donor
can act on, rather than WTForms' "Not a valid choice".

The donor may give in US dollars (the default), euros, pounds or Canadian
dollars. The currency is chosen by a link (``?currency=EUR``) that draws the
whole page in it, buttons and limits included, so that no button ever shows one
currency and charges another; the form then carries it in a hidden field, which
is checked like every other. Limits are the same figures in every currency
(see :func:`conservancy.donations.service.limits`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import (  # type: ignore[import-untyped]
    BooleanField,
    HiddenField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length  # type: ignore[import-untyped]

from conservancy.donations.fees import schedule_for
from conservancy.donations.models import Donation, Frequency, Visibility
from conservancy.donations.service import (
    CURRENCIES,
    MINIMUM,
    DonationRefused,
    DonationRequest,
    check_employer,
    check_honoree,
    limits,
)
from conservancy.money import Currency, Money, MoneyError
from conservancy.projects.models import Project
from conservancy.web.forms import PlainTextForm

OTHER = "other"  # the "Other amount" radio's value
GENERIC_ERROR = "We could not accept this form. Please check your details and try again."

# The IRS wants a written acknowledgement, naming the donor, for a contribution
# of 250.00 or more; we ask for the postal address from there on, counting a
# recurring gift's payments over a year.
ACKNOWLEDGEMENT_MINOR = 25_000
PAYMENTS_PER_YEAR = {
    Frequency.ONCE: 1,
    Frequency.WEEKLY: 52,
    Frequency.MONTHLY: 12,
    Frequency.YEARLY: 1,
}
FREQUENCIES = {
    Frequency.ONCE: "Once",
    Frequency.WEEKLY: "Weekly",
    Frequency.MONTHLY: "Monthly",
    Frequency.YEARLY: "Yearly",
}
NOT_A_NUMBER = "Enter the amount as a number, such as 25.00."
_PLAIN_NUMBER = re.compile(r"^[+-]?(?=[\d.,]*\d)[\d,]*(\.\d*)?$")
# One @, a local part without spaces, a domain of letter-or-digit labels with a
# top-level part that is not all digits. Deliberately loose: the receipt e-mail
# is the real test, and no network lookups happen here.
_LOCAL = re.compile(r"^[^\s@\"(),:;<>\[\\\]]+$")
_LABEL = re.compile(r"^[^\W_](?:[\w-]{0,61}[^\W_])?$")


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def parse_amount(text: str, currency: Currency, maximum: Money) -> Money:
    """An amount a donor typed, in ``currency``; ValueError says what is wrong with it."""
    cleaned = text.strip()
    if currency is Currency.USD:
        cleaned = cleaned.replace("$", "", 1).strip()
    if not cleaned:
        raise ValueError("Enter an amount.")
    if not _PLAIN_NUMBER.match(cleaned):
        raise ValueError(NOT_A_NUMBER)
    try:
        value = Decimal(cleaned.replace(",", ""))
    except ArithmeticError:
        raise ValueError(NOT_A_NUMBER) from None
    if value < 0:
        raise ValueError("A gift cannot be negative.")
    if value == 0:
        raise ValueError("A gift must be more than zero.")
    if "." in cleaned and len(cleaned.rsplit(".", 1)[1]) > currency.minor_units:
        raise ValueError("Use at most two decimals (whole cents), such as 25.50.")
    body = cleaned.lstrip("+").rstrip(".")  # "+25." and ".50" are amounts too
    try:
        money = Money.parse(f"0{body}" if body.startswith(".") else body, currency)
    except MoneyError:
        raise ValueError(NOT_A_NUMBER) from None
    minimum = Money.from_minor(MINIMUM.minor, currency)
    if money < minimum:
        raise ValueError(f"The smallest gift we can take is {minimum.format()}.")
    if money > maximum:
        raise ValueError(
            f"The largest gift we take online is {maximum.format()}; "
            "please write to us for larger gifts."
        )
    return money


def offered(code: str | None) -> Currency | None:
    """The currency a donor may give in, from its code (``EUR``, any case); None if not one."""
    return next((c for c in CURRENCIES if c.value == (code or "").strip().upper()), None)


def valid_email(text: str) -> bool:
    if len(text) > 254 or text.count("@") != 1:
        return False
    local, domain = text.split("@")
    if not (0 < len(local) <= 64) or not _LOCAL.match(local):
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    labels = domain.split(".")
    return (
        len(labels) >= 2
        and all(_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()
    )


class DonateForm(PlainTextForm):
    amount = StringField("Amount", filters=[_strip])
    other_amount = StringField("Other amount", filters=[_strip])
    frequency = StringField("How often", filters=[_strip])
    currency = HiddenField(filters=[_strip])
    name = StringField("Your name", [Length(max=200)], filters=[_strip])
    email = StringField("E-mail address", [Length(max=254)], filters=[_strip])
    address = TextAreaField("Postal address", [Length(max=1000)], filters=[_strip])
    visibility = StringField("How we may show your name", filters=[_strip])
    dedication = TextAreaField("Dedication", [Length(max=200)], filters=[_strip])
    honoree_name = StringField("Their name", [Length(max=200)], filters=[_strip])
    honoree_email = StringField("Their e-mail address", [Length(max=254)], filters=[_strip])
    employer = StringField("Employer (for a matching gift)", filters=[_strip])
    cover_fees = BooleanField("Cover the card fees")
    thank_you = BooleanField("Send me the thank-you gift")
    extra_general = StringField("Extra gift", filters=[_strip])
    # A honeypot: hidden from people, filled in by naive bots.
    website = StringField("Leave this field empty", filters=[_strip])

    project: Project
    chosen: Currency  # the currency the page is drawn in and the amounts are read in
    maximum: Money
    gift: Money | None
    extra: Money | None

    @classmethod
    def for_project(
        cls, project: Project, *, maximum: Money, currency: str | None = None
    ) -> DonateForm:
        """The form for ``project``: bound to the request's data if it was posted.

        ``currency`` is the one the donor chose by link (``?currency=EUR``); an unknown
        one draws the page in the project's. A posted form reads its own hidden field.
        """
        form = cls()
        form.project = project
        asked = form.currency.data if form.is_submitted() else currency
        form.chosen = offered(asked) or Currency(project.currency)
        form.maximum = limits(form.chosen, maximum)[1]
        form.gift = form.extra = None
        if not form.is_submitted():
            default = form.default_amount
            form.amount.data = str(default.amount) if default else OTHER
            form.frequency.data = Frequency.ONCE.value
            form.visibility.data = Visibility.PUBLIC.value
            form.currency.data = form.chosen.value
        return form

    @classmethod
    def returning(
        cls,
        project: Project,
        *,
        maximum: Money,
        choices: Mapping[str, list[str]],
        donation: Donation,
    ) -> DonateForm:
        """The form as the donor sent it for ``donation``, back from Stripe's page unpaid:
        their choices as they made them, and their details as the donation holds them."""
        sent = MultiDict(
            [(name, value) for name, values in choices.items() for value in values[:1]]
        )
        sent["name"] = donation.donor_name
        sent["email"] = donation.donor.email or ""
        sent["address"] = donation.donor_address or ""
        sent["dedication"] = donation.dedication or ""
        sent["employer"] = donation.employer or ""
        sent["honoree_name"] = donation.honoree_name or ""
        sent["honoree_email"] = donation.honoree_email or ""
        form = cls(formdata=sent)
        form.project = project
        form.chosen = offered(form.currency.data) or Currency(project.currency)
        form.currency.data = form.chosen.value
        form.maximum = limits(form.chosen, maximum)[1]
        form.gift = form.extra = None
        return form

    # -- what the template shows ------------------------------------------------

    @property
    def currencies(self) -> tuple[Currency, ...]:
        return CURRENCIES

    @property
    def suggested(self) -> list[tuple[str, Money]]:
        """The suggested amounts in the chosen currency, each with the value its radio sends.

        The project's figures, not converted: 25.00 is 25.00 EUR on the page in euros.
        """
        amounts = [Money.from_minor(m.minor, self.chosen) for m in self.project.suggested]
        return [(str(m.amount), m) for m in amounts if m.minor > 0]

    @property
    def thank_you_offered(self) -> bool:
        """The project's thank-you gift, valued in its own currency, goes with gifts in it."""
        return bool(self.project.thank_you_description) and (
            self.chosen.value == self.project.currency
        )

    @property
    def default_amount(self) -> Money | None:
        amounts = [m for _, m in self.suggested]
        return amounts[1] if len(amounts) > 1 else (amounts[0] if amounts else None)

    @property
    def charges(self) -> list[tuple[int, Money, Money]]:
        """For each suggested amount: its radio's number, and what the donor pays each time
        for it, without and with the card fees covered (the fee hint and the button show
        the one the donor picked: site.css)."""
        schedule = schedule_for(self.chosen)
        return [(n, m, schedule.gross_up(m)) for n, (_, m) in enumerate(self.suggested, 1)]

    @property
    def fee_terms(self) -> str:
        """The card fee a covered gift adds, in words: "2.9% plus $0.30"."""
        schedule = schedule_for(self.chosen)
        rate = (schedule.rate * 100).normalize()
        return f"{rate}% plus {schedule.fixed.format()}"

    @property
    def frequencies(self) -> dict[Frequency, str]:
        return FREQUENCIES

    @property
    def acknowledgement_threshold(self) -> Money:
        return Money.from_minor(ACKNOWLEDGEMENT_MINOR, self.chosen)

    # -- parsing ----------------------------------------------------------------

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        self._check_amounts()
        self._check_choices()
        self._check_donor()
        if self.website.data:
            self.form_errors.append(GENERIC_ERROR)
        return not self.errors

    def refuse(self, field: str | None, message: str) -> None:
        """Show a refusal (the service's, or the rate limit's) by its field, or above the form."""
        if field == "amount" and self.other_amount.data:
            field = "other_amount"
        target = self._fields.get(field) if field else None
        (target.errors if target is not None else self.form_errors).append(message)

    def donation_request(self) -> DonationRequest:
        """What the donor asked for; call after validate() returned True."""
        assert self.gift is not None
        return DonationRequest(
            amount=self.gift,
            frequency=Frequency(self.frequency.data),
            name=self.name.data,
            email=self.email.data,
            visibility=Visibility(self.visibility.data),
            address=self.address.data or None,
            dedication=self.dedication.data or None,
            honoree_name=self.honoree_name.data or None,
            honoree_email=self.honoree_email.data or None,
            cover_fees=bool(self.cover_fees.data),
            extra_general=self.extra,
            thank_you=bool(self.thank_you.data),
            employer=self.employer.data or None,
        )

    def _check_amounts(self) -> None:
        if offered(self.currency.data) is None:
            names = [c.value for c in CURRENCIES]
            self.currency.errors.append(
                f"Choose the currency of your gift: {', '.join(names[:-1])} or {names[-1]}."
            )
            return
        chosen = self.amount.data or ""
        field = self.other_amount if self.other_amount.data or chosen == OTHER else self.amount
        if field is self.amount and not chosen:
            field.errors.append("Choose an amount, or type one under Other amount.")
        elif field is self.other_amount and not self.other_amount.data:
            field.errors.append("Type the amount you would like to give.")
        else:
            try:
                self.gift = parse_amount(field.data, self.chosen, self.maximum)
            except ValueError as exc:
                field.errors.append(str(exc))
        extra = self.extra_general.data or ""
        if extra.strip("0.$ "):
            try:
                self.extra = parse_amount(extra, self.chosen, self.maximum)
            except ValueError as exc:
                self.extra_general.errors.append(str(exc))

    def _check_choices(self) -> None:
        if (
            self.thank_you.data
            and self.project.thank_you_description
            and not (self.thank_you_offered)
        ):
            self.form_errors.append(
                f"The {self.project.thank_you_description} comes with gifts in "
                f"{self.project.currency}."
            )
        if self.frequency.data not in {f.value for f in Frequency}:
            self.frequency.errors.append(
                "Choose how often to give: once, weekly, monthly or yearly."
            )
        if self.visibility.data not in {v.value for v in Visibility}:
            self.visibility.errors.append("Choose how we may show your name.")

    def _check_donor(self) -> None:
        if not self.name.data:
            self.name.errors.append("Please tell us your name.")
        if not self.email.data:
            self.email.errors.append("Please give your e-mail address: your receipt goes there.")
        elif not valid_email(self.email.data):
            self.email.errors.append("Enter an e-mail address such as ada@example.org.")
        if not self.address.data and self._yearly_total_minor() >= ACKNOWLEDGEMENT_MINOR:
            self.address.errors.append(
                f"Please give your postal address: for gifts of "
                f"{self.acknowledgement_threshold.format()} or more in a year, your "
                "acknowledgement for tax purposes names you and your address."
            )
        try:
            check_employer(self.employer.data)
        except DonationRefused as exc:
            self.employer.errors.append(str(exc))
        if self.honoree_email.data and not valid_email(self.honoree_email.data):
            self.honoree_email.errors.append(
                "Enter the e-mail address the card goes to, such as grace@example.org."
            )
        else:
            try:
                check_honoree(self.honoree_name.data, self.honoree_email.data, self.dedication.data)
            except DonationRefused as exc:
                self[exc.field or "honoree_email"].errors.append(str(exc))

    def _yearly_total_minor(self) -> int:
        """What this gift comes to over a year, fee cover and extra gift included."""
        if self.gift is None or self.frequency.data not in {f.value for f in Frequency}:
            return 0
        each = schedule_for(self.chosen).gross_up(self.gift) if self.cover_fees.data else self.gift
        extra = self.extra.minor if self.extra else 0
        return (each.minor + extra) * PAYMENTS_PER_YEAR[Frequency(self.frequency.data)]
