"""What the app's forms share."""

from __future__ import annotations

from flask import flash, redirect
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response


class RefusingForm(FlaskForm):  # type: ignore[misc]
    """A form that shows a service's refusal by the field it is about, or above the form."""

    def refuse(self, field: str | None, message: str) -> None:
        target = self._fields.get(field) if field else None
        (target.errors if target is not None else self.form_errors).append(message)


def sent_before(session: Session, location: str) -> Response:
    """A once-only form sent again (conservancy.submissions): nothing is done twice, and
    the page it leads to says so."""
    session.rollback()
    flash("This form was sent before and acted on once; nothing was done again.")
    return redirect(location, code=303)
