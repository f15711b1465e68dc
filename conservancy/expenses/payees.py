"""How to pay the people who file spending requests, and their Form W-9, kept sealed.

A requester enters their payment details once (and changes them when they must): their
legal name and federal tax classification, taxpayer identification number, address, and
how to be paid (ACH to a bank account, a cheque to the address, or a wire), certifying the
W-9's statements. A contractor's invoice is never paid before that (the sponsor reports
what it paid them on Form 1099-NEC: conservancy.reports.form1099).

The TIN and the bank account number are sealed with CONSERVANCY_PAYEE_KEYS (Fernet, as
TOTP secrets are: conservancy.staff.totp_keys says why) and only their last four digits
are shown or logged; they are opened only to write the bank's ACH file and the 1099 list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.expenses import nacha
from conservancy.expenses.models import PaymentDetails, PayMethod, TaxClass
from conservancy.expenses.requests import Problem, RequestRefused
from conservancy.infra.config import Settings, SettingsError
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

TIN_KINDS = ("ssn", "ein")
ACCOUNT_TYPES = ("checking", "savings")
_NINE_DIGITS = re.compile(r"\d{3}-?\d{2}-?\d{4}|\d{2}-?\d{7}")


class PayeeKeys:
    """Seals and opens payees' numbers; the first key seals, any of them opens."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._newest = Fernet(keys[0])
        self._all = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def of(cls, settings: Settings) -> PayeeKeys:
        return cls(settings.payee_key_list())

    def seal(self, number: str) -> str:
        return self._all.encrypt(number.encode("ascii")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._all.decrypt(sealed.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SettingsError(
                "CONSERVANCY_PAYEE_KEYS opens no stored payee number: was a key removed?"
            ) from None

    def is_current(self, sealed: str) -> bool:
        """Whether ``sealed`` is sealed with the newest key already."""
        try:
            self._newest.decrypt(sealed.encode("ascii"))
        except InvalidToken:
            return False
        return True


@dataclass(frozen=True)
class DetailsAsked:
    legal_name: str
    tax_class: str
    tin_kind: str
    tin: str  # as typed; blank keeps the one on file
    address: str
    method: str
    routing_number: str = ""
    account_number: str = ""  # blank keeps the one on file
    account_type: str = "checking"
    certified: bool = False


def reseal_all(session: Session, keys: PayeeKeys) -> tuple[int, int]:
    """Seal every stored TIN and account number with the newest key; flushes. Returns how
    many numbers were sealed anew and how many were already. Raises SettingsError, changing
    nothing, when a number opens with no key."""
    resealed = current = 0
    rows = session.scalars(
        select(PaymentDetails).order_by(PaymentDetails.id).with_for_update()
    ).all()
    for row in rows:
        for field in ("tin_sealed", "account_sealed"):
            sealed = getattr(row, field)
            if sealed is None:
                continue
            if keys.is_current(sealed):
                current += 1
            else:
                setattr(row, field, keys.seal(keys.open(sealed)))
                resealed += 1
    session.flush()
    return resealed, current


def details_of(session: Session, user_id: int) -> PaymentDetails | None:
    return session.scalar(select(PaymentDetails).where(PaymentDetails.user_id == user_id))


def save_details(
    session: Session, staff: Staff, asked: DetailsAsked, *, keys: PayeeKeys, today: date
) -> PaymentDetails:
    """Save the signed-in user's payment details and W-9; flushes. Raises RequestRefused
    with every problem by its field, writing nothing."""
    found = details_of(session, staff.id)
    problems: list[Problem] = []
    name = " ".join(asked.legal_name.split())
    if not name or len(name) > 200:
        problems.append(Problem("legal_name", "Give your legal name, as your tax return has it."))
    if asked.tax_class not in {t.value for t in TaxClass}:
        problems.append(Problem("tax_class", "Choose your federal tax classification."))
    if asked.tin_kind not in TIN_KINDS:
        problems.append(Problem("tin_kind", "Choose a social security number or an EIN."))
    tin = asked.tin.strip()
    digits = re.sub(r"\D", "", tin)
    if tin and (not _NINE_DIGITS.fullmatch(tin) or digits == "0" * 9):
        problems.append(Problem("tin", "A taxpayer identification number has nine digits."))
    elif not tin and found is None:
        problems.append(Problem("tin", "Give your taxpayer identification number."))
    address = asked.address.strip()
    if not address or len(address) > 1000:
        problems.append(Problem("address", "Give your address, as the W-9 asks for it."))
    if asked.method not in {m.value for m in PayMethod}:
        problems.append(Problem("method", "Choose how to be paid."))
    routing, account = asked.routing_number.strip(), re.sub(r"[\s-]", "", asked.account_number)
    by_bank = asked.method in (PayMethod.ACH.value, PayMethod.WIRE.value)
    if by_bank:
        try:
            nacha.check_routing(routing)
        except nacha.AchRefused:
            problems.append(
                Problem("routing_number", "A routing number has nine digits; check it again.")
            )
        if account and not re.fullmatch(r"\d{4,17}", account):
            problems.append(Problem("account_number", "An account number has 4 to 17 digits."))
        elif not account and (found is None or found.account_sealed is None):
            problems.append(Problem("account_number", "Give the account number."))
        if asked.account_type not in ACCOUNT_TYPES:
            problems.append(Problem("account_type", "Choose checking or savings."))
    if not asked.certified:
        problems.append(Problem("certified", "Certify the statements of Form W-9 to be paid."))
    if problems:
        raise RequestRefused(problems)
    before = _state(found) if found is not None else None
    details = found or PaymentDetails(user_id=staff.id)
    details.legal_name = name
    details.tax_class = TaxClass(asked.tax_class)
    details.tin_kind = asked.tin_kind
    if digits:
        details.tin_sealed, details.tin_last4 = keys.seal(digits), digits[-4:]
    details.address = address
    details.method = PayMethod(asked.method)
    details.routing_number = routing if by_bank else None
    if not by_bank:
        details.account_sealed = details.account_last4 = details.account_type = None
    else:
        if account:
            details.account_sealed, details.account_last4 = keys.seal(account), account[-4:]
        details.account_type = asked.account_type
    details.w9_certified_on = today
    session.add(details)
    session.flush()
    audit.record(
        session,
        staff,
        "payee.details-saved",
        ("payment_details", details.id),
        before=before,
        after=_state(details),
    )
    return details


def _state(details: PaymentDetails) -> dict[str, object]:
    """What the audit log keeps: never a whole number, only its last four digits."""
    return {
        "legal_name": details.legal_name,
        "tax_class": details.tax_class.value,
        "tin": f"{details.tin_kind} ending {details.tin_last4}",
        "method": details.method.value,
        "account": f"ending {details.account_last4}" if details.account_last4 else "",
        "w9_certified_on": details.w9_certified_on.isoformat(),
    }


def masked_tin(details: PaymentDetails) -> str:
    return ("***-**-" if details.tin_kind == "ssn" else "**-***") + details.tin_last4
