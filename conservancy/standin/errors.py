"""Errors the stand-in answers in Stripe's shape: ``{"error": {"type", "code", "message"}}``."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """A refusal, as Stripe words it. ``remembered`` says whether an idempotency
    key keeps this answer: Stripe keeps the result of any request that started
    executing, but not of one whose parameters failed validation."""

    remembered = True

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type_
        self.code = code
        self.param = param
        self.decline_code = decline_code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        return {"error": error}


class ParameterError(StripeError):
    """The request's parameters are wrong; nothing was attempted."""

    remembered = False


class CardDeclined(StripeError):
    def __init__(self, message: str, decline_code: str) -> None:
        super().__init__(
            message,
            status=402,
            type_="card_error",
            code="card_declined",
            decline_code=decline_code,
        )


def not_found(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        f"No such {kind}: '{object_id}'", status=404, code="resource_missing", param=param
    )
