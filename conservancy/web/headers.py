"""Headers every answer carries, so that a browser holds our pages to what they are.

- ``Content-Security-Policy``: our pages load only our own styles, images and fonts,
  run no script at all (none is needed: every form works without JavaScript), and may
  not be framed by any site (``frame-ancestors 'none'``: a donation form or a staff page
  inside someone else's page is how clickjacking starts). Style attributes stay allowed
  (``style-src-attr``): the project's brand colours are CSS variables set on elements.
  The pages that use security keys (the staff two-factor page and the sign-in's second
  step) are the one exception: they run our own static/security-keys.js, and so get
  ``script-src 'self'`` (:func:`allow_own_scripts`); still no inline script, none from
  elsewhere, and their forms work without it for everything but the keys.
- ``X-Content-Type-Options: nosniff``: a file is only ever what its type says.
- ``Referrer-Policy: same-origin``: no address of ours (some carry a sign-in token) is
  sent to another site; pages with donors or secrets send none at all (``never_cached``).

A view that sets one of these itself (a logo, an uploaded invoice: ``default-src 'none'``)
keeps its own. HSTS is the TLS terminator's to send (deploy/nginx.conf).
"""

from __future__ import annotations

from flask import Flask, Response

POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "script-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SCRIPT_POLICY = POLICY.replace("script-src 'none'", "script-src 'self'")
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def protect(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def allow_own_scripts(response: Response) -> Response:
    """Let this answer's page run scripts from our own address (and nothing else)."""
    response.headers["Content-Security-Policy"] = SCRIPT_POLICY
    return response


def install(app: Flask) -> None:
    """Every answer of ``app``, error pages included, carries the headers."""
    app.after_request(protect)
