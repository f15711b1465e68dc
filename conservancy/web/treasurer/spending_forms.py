"""The spending request form: who to pay, why, and its lines, each with an optional receipt.

The lines are a FieldList named ``lines-<n>-<field>``, so a refusal of line ``n``
(``conservancy.expenses.requests.Problem``) lands by its own field. The page runs no
script: "Add a line" sends the form back and it comes back one row longer.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_wtf.file import FileField
from wtforms import (  # type: ignore[import-untyped]
    FieldList,
    FormField,
    StringField,
    TextAreaField,
)
from wtforms import Form as PlainForm

from conservancy.expenses.models import RequestKind
from conservancy.expenses.payees import DetailsAsked
from conservancy.expenses.requests import LineAsked, Problem, RequestAsked
from conservancy.money import Currency, Money, MoneyError
from conservancy.web.forms import PlainTextForm, refuse_control_characters

LINES_SHOWN = 3  # blank rows on a new form
MOST_ROWS = 20  # "Add a line" stops here; a longer request is two requests


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class LineForm(PlainForm):  # type: ignore[misc]
    """One line. A sub-form: the request's form holds the CSRF token."""

    category = StringField("Category", filters=[_strip])
    description = StringField("What it was", filters=[_strip])
    spent_on = StringField("Day spent", filters=[_strip])  # an <input type=date>'s ISO day
    amount = StringField("Amount", filters=[_strip])
    receipt = FileField("Receipt")

    def process(self, *args: Any, **kwargs: Any) -> None:
        super().process(*args, **kwargs)
        refuse_control_characters(self)


KINDS = (
    (RequestKind.REIMBURSEMENT.value, "A reimbursement: I paid, and have the receipts"),
    (RequestKind.INVOICE.value, "An invoice for work done"),
)


class SpendingForm(PlainTextForm):
    kind = StringField("What is it?", filters=[_strip], default=RequestKind.REIMBURSEMENT.value)
    payee = StringField("Pay to", filters=[_strip])
    purpose = TextAreaField("Business purpose", filters=[_strip])
    lines = FieldList(FormField(LineForm), min_entries=LINES_SHOWN, max_entries=MOST_ROWS)

    def asked(self, currency: Currency) -> RequestAsked | None:
        """What was asked, or None when a line's amount or day cannot be read (then the
        field says so)."""
        lines: list[LineAsked] = []
        readable = True
        for entry in self.lines:
            line = entry.form
            amount = None
            if line.amount.data:
                try:
                    amount = Money.parse(line.amount.data.replace(",", ""), currency)
                except MoneyError:
                    line.amount.errors = ["Write the amount as 12.50."]
                    readable = False
            spent_on = None
            if line.spent_on.data:
                try:
                    spent_on = date.fromisoformat(line.spent_on.data)
                except ValueError:
                    line.spent_on.errors = ["Give the day as on a calendar: 2026-03-05."]
                    readable = False
            upload = line.receipt.data
            data = upload.read() if upload is not None and hasattr(upload, "read") else None
            lines.append(
                LineAsked(
                    category=line.category.data or "",
                    description=line.description.data or "",
                    spent_on=spent_on,
                    amount=amount,
                    receipt=data or None,
                )
            )
        if self.kind.data not in {k.value for k in RequestKind}:
            self.kind.errors = ["Choose what it is."]
            readable = False
        if not readable:
            return None
        return RequestAsked(
            kind=RequestKind(self.kind.data),
            payee=self.payee.data or "",
            purpose=self.purpose.data or "",
            lines=tuple(lines),
        )

    def show(self, problems: list[Problem]) -> list[str]:
        """Put each problem by its field; the ones of the whole request are returned."""
        general: list[str] = []
        for problem in problems:
            if problem.line is not None and problem.line < len(self.lines):
                field = getattr(self.lines[problem.line].form, problem.field, None)
            elif problem.line is None:
                field = getattr(self, problem.field, None)
            else:
                field = None
            if field is None or problem.field == "lines":
                general.append(problem.message)
            else:
                field.errors = [*field.errors, problem.message]
        return general


class DecisionForm(PlainTextForm):
    decision = StringField("Decision", filters=[_strip])  # approve or reject
    comment = TextAreaField("Comment", filters=[_strip])


TAX_CLASSES = (
    ("individual", "Individual, sole proprietor or single-member LLC"),
    ("partnership", "Partnership"),
    ("c-corporation", "C corporation"),
    ("s-corporation", "S corporation"),
    ("trust", "Trust or estate"),
    ("llc-c", "LLC taxed as a C corporation"),
    ("llc-s", "LLC taxed as an S corporation"),
    ("llc-p", "LLC taxed as a partnership"),
)
METHODS = (
    ("ach", "Bank transfer (ACH) to my account"),
    ("cheque", "A cheque mailed to my address"),
    ("wire", "A wire to my account"),
)


class PaymentDetailsForm(PlainTextForm):
    """Form W-9's data and how to be paid. The numbers are never shown back."""

    legal_name = StringField("Legal name", filters=[_strip])
    tax_class = StringField("Federal tax classification", filters=[_strip])
    tin_kind = StringField("Taxpayer identification number", filters=[_strip])
    tin = StringField("Number", filters=[_strip])
    address = TextAreaField("Address", filters=[_strip])
    method = StringField("How to pay you", filters=[_strip])
    routing_number = StringField("Routing number", filters=[_strip])
    account_number = StringField("Account number", filters=[_strip])
    account_type = StringField("Account type", filters=[_strip])
    certified = StringField("Certification", filters=[_strip])

    def asked(self) -> DetailsAsked:
        return DetailsAsked(
            legal_name=self.legal_name.data or "",
            tax_class=self.tax_class.data or "",
            tin_kind=self.tin_kind.data or "",
            tin=self.tin.data or "",
            address=self.address.data or "",
            method=self.method.data or "",
            routing_number=self.routing_number.data or "",
            account_number=self.account_number.data or "",
            account_type=self.account_type.data or "checking",
            certified=self.certified.data == "y",
        )


def show_problems(form: Any, problems: list[Problem], fields: tuple[str, ...]) -> str | None:
    """Put each of ``problems`` about one of ``fields`` by that field of ``form``; the rest
    together, for the box above the form (None if there is none)."""
    general = []
    for problem in problems:
        if problem.field in fields:
            field = form[problem.field]
            field.errors = [*field.errors, problem.message]
        else:
            general.append(problem.message)
    return " ".join(general) or None


class PaymentRunForm(PlainTextForm):
    method = StringField("Pay by", filters=[_strip])


class PaidForm(PlainTextForm):
    paid_on = StringField("Paid on", filters=[_strip])
    first_cheque = StringField("First cheque's number", filters=[_strip])


class InviteForm(PlainTextForm):
    email = StringField("E-mail address", filters=[_strip])
    name = StringField("Name", filters=[_strip])


class RemoveForm(PlainTextForm):
    """Removing a member: nothing but the CSRF token."""
