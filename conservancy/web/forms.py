"""What the app's forms share."""

from __future__ import annotations

from flask_wtf import FlaskForm


class RefusingForm(FlaskForm):  # type: ignore[misc]
    """A form that shows a service's refusal by the field it is about, or above the form."""

    def refuse(self, field: str | None, message: str) -> None:
        target = self._fields.get(field) if field else None
        (target.errors if target is not None else self.form_errors).append(message)
