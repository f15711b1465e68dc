"""Domain errors. Each carries a message fit to show a person; the web and the
CLI map them to an HTTP status or an exit code in one place each."""


class DomainError(Exception):
    """Something a user asked for that the rules do not allow."""

    http_status = 400


class NotFound(DomainError):
    http_status = 404


class Conflict(DomainError):
    http_status = 409
