"""Gunicorn's access log, without the secrets a request line can carry.

Sign-in links and password resets carry their token in the path
(``/portal/sign-in/<token>``, ``/staff/password-reset/<token>``), and so does a
sponsorship invoice's public address (``/donate/<slug>/sponsor/<token>``); the page
after one names it again in its Referer. Whoever reads the log must not be able to
sign in, or open an invoice, with it: each such path segment is written as
``[token]``, and query strings (which a provider may add) are never written.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# The segment after each address that takes a secret token in its path.
_TOKEN = re.compile(r"(/(?:sign-in/link|sign-in|password-reset|sponsor)/)[^/?#\s]+")
# Client, time, request without its query, status, bytes, seconds, user agent.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(f)s" "%(a)s"'

# Request headers a format may name: who the client was, behind the proxy.
_CLIENT_HEADERS = frozenset({"{x-forwarded-for}i", "{x-real-ip}i"})


def redact(target: str) -> str:
    """A path or URL as it may be logged: no query string, no token."""
    without_query = target.split("?", 1)[0].split("#", 1)[0]
    return _TOKEN.sub(r"\1[token]", without_query)


class RedactingLogger(Logger):  # type: ignore[misc]
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact(atoms.get("U") or "-")
        atoms["q"] = "-"
        atoms["r"] = f"{atoms.get('m')} {atoms['U']} {atoms.get('H')}"
        atoms["f"] = redact(atoms.get("f") or "-")
        for key in [k for k in atoms if k.startswith("{") and k not in _CLIENT_HEADERS]:
            # Other headers (cookies, Stripe's signature) are never logged, whatever the format.
            atoms[key] = "-"
        return atoms
