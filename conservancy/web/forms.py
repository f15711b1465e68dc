"""What the app's forms share."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import TextAreaField  # type: ignore[import-untyped]

from conservancy.web import plain_text


class PlainTextForm(FlaskForm):  # type: ignore[misc]
    """Every form of the app: each text field refuses control characters by itself.

    Checked here, once, as the browser's data is read, so that no form can forget it
    and nothing a form or service does next (a lookup by e-mail, an insert) ever sees
    such a character: PostgreSQL answers a NUL with an error, not a row. A field that
    holds one gets the message by it (its refusal is one of WTForms' process errors,
    so validate() fails), and its value is shown back without it. Multi-line boxes
    (TextAreaField: addresses, dedications, reasons) keep line breaks and tabs; every
    other field refuses them too. The check reads each value after the field's own
    filters: the strip() most fields have already drops a line break or tab at either end
    (a pasted name often brings one), which is harmless, and is kept.
    """

    def process(
        self, formdata: Any = None, obj: Any = None, data: Any = None, **kwargs: Any
    ) -> None:
        super().process(formdata, obj, data=data, **kwargs)
        refuse_control_characters(self, getattr(self.meta, "csrf_field_name", None))


def refuse_control_characters(form: Any, csrf_name: str | None = None) -> None:
    """PlainTextForm's check, for the fields of ``form``; also for a sub-form of a
    FieldList (the lines of a spending request), which is a plain WTForms form."""
    for field in form:
        sent = field.raw_data  # None or []: nothing came from the browser for it
        if not sent or field.short_name == csrf_name or not isinstance(field.data, str):
            continue
        multiline = isinstance(field, TextAreaField)
        message = plain_text.refusal(field.data, multiline=multiline)
        if message is not None:
            field.process_errors.append(message)
            field.data = plain_text.cleaned(field.data, multiline=multiline)


class RefusingForm(PlainTextForm):
    """A form that shows a service's refusal by the field it is about, or above the form."""

    def refuse(self, field: str | None, message: str) -> None:
        target = self._fields.get(field) if field else None
        (target.errors if target is not None else self.form_errors).append(message)


def sent_before(session: Session, location: str) -> Response:
    """A once-only form sent again (conservancy.kernel.submissions): nothing is done twice, and
    the page it leads to says so."""
    session.rollback()
    flash("This form was sent before and acted on once; nothing was done again.")
    return redirect(location, code=303)
