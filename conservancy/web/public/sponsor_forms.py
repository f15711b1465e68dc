"""The corporate sponsorship sign-up form: a level and the company's details, or a message
by each field that says what to put there."""

from __future__ import annotations

from wtforms import StringField, TextAreaField  # type: ignore[import-untyped]
from wtforms.validators import Length  # type: ignore[import-untyped]

from conservancy.sponsorships.service import SignUp
from conservancy.web.forms import RefusingForm
from conservancy.web.public.donate_form import GENERIC_ERROR, valid_email

CHOOSE_LEVEL = "Choose one of the levels offered."
BAD_EMAIL = "Enter an e-mail address, such as ap@example.com."
# What each empty field asks for: said in the page's words, not "This field is required."
MISSING = {
    "company_name": "Enter the company's name, as the invoice should show it.",
    "contact_name": "Enter the name of the person we should write to.",
    "email": "Enter the e-mail address the invoice should go to.",
    "address": "Enter the billing address for the invoice.",
}


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class SponsorForm(RefusingForm):
    level = StringField("Level", filters=[_strip])
    company_name = StringField("Company name", filters=[_strip], validators=[Length(max=200)])
    contact_name = StringField("Contact name", filters=[_strip], validators=[Length(max=200)])
    email = StringField("E-mail address", filters=[_strip], validators=[Length(max=254)])
    address = TextAreaField("Billing address", filters=[_strip], validators=[Length(max=1000)])
    # A honeypot, as on the donation form: hidden from people, filled in by naive bots.
    website = StringField("Leave this field empty", filters=[_strip])

    def __init__(self, *args: object, level_ids: frozenset[int] = frozenset(), **kw: object):
        super().__init__(*args, **kw)
        self.level_ids = level_ids

    def validate(self, extra_validators: object = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if not (self.level.data or "").isdigit() or int(self.level.data) not in self.level_ids:
            self.level.errors = [*self.level.errors, CHOOSE_LEVEL]
            ok = False
        for name, message in MISSING.items():
            field = self[name]
            if not field.data:
                field.errors = [*field.errors, message]
                ok = False
        if self.email.data and not valid_email(self.email.data):
            self.email.errors = [*self.email.errors, BAD_EMAIL]
            ok = False
        if self.website.data:
            self.form_errors.append(GENERIC_ERROR)
            ok = False
        return ok

    def sign_up(self) -> SignUp:
        return SignUp(
            level_id=int(self.level.data),
            company_name=self.company_name.data,
            contact_name=self.contact_name.data,
            email=self.email.data,
            address=self.address.data,
        )
