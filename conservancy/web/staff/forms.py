"""The forms of the staff pages: each checks what it can by itself and puts the
message by its field. Passwords are never stripped and never shown again."""

from __future__ import annotations

from typing import Any

from wtforms import PasswordField, StringField  # type: ignore[import-untyped]

from conservancy.staff import recovery, security_keys
from conservancy.staff.models import PROJECT_ROLES, Role
from conservancy.staff.passwords import MAX_LENGTH, MIN_LENGTH
from conservancy.web.forms import PlainTextForm
from conservancy.web.public.donate_form import valid_email


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _need_email(field: Any, missing: str) -> None:
    if not field.data:
        field.errors.append(missing)
    elif not valid_email(field.data):
        field.errors.append("Enter an e-mail address such as ada@example.org.")


class SignInForm(PlainTextForm):
    email = StringField("E-mail address", filters=[_strip])
    password = PasswordField("Password")

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        _need_email(self.email, "Please give the e-mail address of your account.")
        if not self.password.data:
            self.password.errors.append("Please give your password.")
        return not self.errors


class CodeForm(PlainTextForm):
    code = StringField("Code", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        digits = (self.code.data or "").replace(" ", "")
        if not digits:
            self.code.errors.append("Please type the six-digit code your authenticator app shows.")
        elif len(digits) != 6 or not digits.isdigit():
            self.code.errors.append("The code is six digits, such as 123456.")
        return not self.errors


class SignInCodeForm(PlainTextForm):
    """The second step of signing in: a six-digit code, or a recovery code."""

    code = StringField("Code", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        typed = self.code.data or ""
        digits = typed.replace(" ", "")
        if not digits:
            self.code.errors.append("Please type the six-digit code your authenticator app shows.")
        elif not (len(digits) == 6 and digits.isdigit()) and not recovery.looks_like_code(typed):
            self.code.errors.append(
                "The code is six digits, such as 123456, or a recovery code such as abcd-efgh-ijkm."
            )
        return not self.errors


class SecurityKeyForm(PlainTextForm):
    """A security key's answer, put in ``credential`` by static/security-keys.js."""

    credential = StringField("Security key")

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        if not self.credential.data:
            self.credential.errors.append(
                "Your browser sent no answer from a security key. Security keys need "
                "JavaScript; try again, or use another way."
            )
        return not self.errors


class NewSecurityKeyForm(SecurityKeyForm):
    name = StringField("Name of the key", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        problem = security_keys.check_name(self.name.data or "")
        if problem is not None:
            self.name.errors.append(problem)
        return not self.errors


class RemoveSecurityKeyForm(PlainTextForm):
    password = PasswordField("Your password")

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        if not self.password.data:
            self.password.errors.append("Please give your password to remove a key.")
        return not self.errors


class EmailForm(PlainTextForm):
    email = StringField("E-mail address", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        _need_email(self.email, "Please give the e-mail address of your account.")
        return not self.errors


class NewPasswordForm(PlainTextForm):
    """A new password, typed twice. The service also refuses the user's own e-mail address."""

    password = PasswordField("New password")
    confirm = PasswordField("The same password again")

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        password = self.password.data or ""
        if len(password) < MIN_LENGTH:
            self.password.errors.append(
                f"Use at least {MIN_LENGTH} characters; a few words make a good one."
            )
        elif len(password) > MAX_LENGTH:
            self.password.errors.append(f"Use at most {MAX_LENGTH} characters.")
        elif password != (self.confirm.data or ""):
            self.confirm.errors.append("The two passwords are not the same.")
        return not self.errors


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password")

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        if not self.current.data:
            self.current.errors.append("Please give your current password.")
        return not self.errors


class RoleForm(PlainTextForm):
    """A role, and the project when it is a treasurer's. ``slugs`` are the projects there are."""

    role = StringField("Role", filters=[_strip])
    project = StringField("Project", filters=[_strip])

    slugs: frozenset[str] = frozenset()

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        roles = {r.value for r in Role}
        if self.role.data not in roles:
            self.role.errors.append("Choose a role.")
        elif self.role.data in {r.value for r in PROJECT_ROLES}:
            if not self.project.data:
                self.project.errors.append(f"Choose the project this {self.role.data} belongs to.")
            elif self.project.data not in self.slugs:
                self.project.errors.append("Choose one of the projects.")
        elif self.project.data:
            self.project.errors.append(
                "Only a treasurer or a member belongs to a project; "
                "leave this empty for other roles."
            )
        return not self.errors


class AddUserForm(RoleForm):
    email = StringField("E-mail address", filters=[_strip])
    name = StringField("Name", filters=[_strip])
    delivery = StringField("Sign-in link", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        _need_email(self.email, "Please give the new user's e-mail address.")
        if len(self.name.data or "") > 200:
            self.name.errors.append("A name is at most 200 characters.")
        if self.delivery.data not in {"show", "mail"}:
            self.delivery.errors.append("Choose whether to show the link here or e-mail it.")
        return not self.errors


class DeliveryForm(PlainTextForm):
    delivery = StringField("Sign-in link", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        if self.delivery.data not in {"show", "mail"}:
            self.delivery.errors.append("Choose whether to show the link here or e-mail it.")
        return not self.errors


class ActiveForm(PlainTextForm):
    active = StringField("Active", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        if self.active.data not in {"0", "1"}:
            self.active.errors.append("Choose to deactivate or to activate.")
        return not self.errors
