"""Who is signed in as staff, and the guards every staff page puts before its view.

Before each request (:func:`load_signed_in`, registered by the staff
blueprint) the session id in Flask's signed cookie is looked up once
(:func:`conservancy.staff.sign_in.signed_in`); :func:`current_user` then
answers from ``g``. The guards pass the signed-in :class:`Staff` to the view
as its first argument:

    @bp.get("/treasurer/<slug>/")
    @treasurer_page
    def dashboard(staff: Staff, project: Project) -> ResponseReturnValue: ...

    @bp.get("/admin/gifts")
    @require_area(Area.GIFTS)
    def gifts(staff: Staff) -> ResponseReturnValue: ...

What each answers:

- nobody signed in: 303 to ``/sign-in?next=<this page>``;
- an admin or bookkeeper without two-factor sign-in: 303 to ``/account/two-factor``;
- a treasurer asking for a sponsor page or another project's: 404, exactly
  as for a page that does not exist (to them, it does not);
- sponsor staff (admin, bookkeeper, auditor) asking for what their role
  does not allow: 403.

The rules themselves live in :mod:`conservancy.staff.permissions`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, NoReturn, ParamSpec

from flask import abort, g, redirect, request, url_for
from flask import session as web_session
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from conservancy.kernel import clock
from conservancy.projects.models import Project
from conservancy.staff import sign_in
from conservancy.staff.models import Role
from conservancy.staff.permissions import (
    Area,
    Staff,
    can_change,
    can_read,
    can_see_project,
    is_sponsor_staff,
    must_enrol,
)
from conservancy.staff.totp_keys import TotpKeys
from conservancy.web.context import db, runtime

P = ParamSpec("P")
StaffView = Callable[Concatenate[Staff, P], ResponseReturnValue]
View = Callable[P, ResponseReturnValue]

SESSION_KEY = "staff_session"


def load_signed_in() -> None:
    """Find the staff session of this request's cookie, if any; an ended one is forgotten."""
    token = web_session.get(SESSION_KEY)
    g.staff, g.staff_session_id = None, None
    if not isinstance(token, str):
        return
    session = db()
    found = sign_in.signed_in(session, token, clock.now(), sign_in_rules())
    session.commit()  # the time it was last used, or that it ended
    if found is None:
        web_session.pop(SESSION_KEY, None)
        return
    g.staff, g.staff_session_id = found.staff, found.session_id


def sign_in_rules() -> sign_in.SignInRules:
    """The sponsor's settings for staff sessions and lock-out (CONSERVANCY_STAFF_*)."""
    return sign_in.SignInRules.of(runtime().settings)


def totp_keys() -> TotpKeys:
    """The keys that seal staff TOTP secrets (CONSERVANCY_TOTP_KEYS)."""
    return TotpKeys.of(runtime().settings)


def current_user() -> Staff | None:
    """The signed-in staff user of this request, or None."""
    staff = g.get("staff")
    return staff if isinstance(staff, Staff) else None


def current_session_id() -> int | None:
    found = g.get("staff_session_id")
    return found if isinstance(found, int) else None


def deny(staff: Staff) -> NoReturn:
    """Refuse a signed-in user: 404 for whoever is not sponsor staff (the page is not
    theirs to know of), 403 for sponsor staff whose role does not allow it."""
    if not is_sponsor_staff(staff):
        abort(404)
    abort(403, "Your role does not allow this. An admin can change your roles.")


def require_roles(*roles: Role, enrolled: bool = True) -> Callable[[StaffView[P]], View[P]]:
    """The view is for signed-in users with one of ``roles`` (any role, if none is named).

    ``enrolled=False`` lets in an admin or bookkeeper who has not set up two-factor
    sign-in yet: only for the pages that do that, and for signing out.
    """

    def decorate(view: StaffView[P]) -> View[P]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            staff = current_user()
            if staff is None:
                return redirect(url_for("staff.sign_in", next=_here()), code=303)
            if enrolled and must_enrol(staff):
                return redirect(url_for("staff.two_factor"), code=303)
            if roles and not staff.roles & set(roles):
                deny(staff)
            return view(staff, *args, **kwargs)

        return wrapper

    return decorate


def require_area(area: Area, *, change: bool = False) -> Callable[[StaffView[P]], View[P]]:
    """The view reads ``area`` (or, with ``change``, changes it): see permissions.READS."""
    allowed = can_change if change else can_read

    def decorate(view: StaffView[P]) -> View[P]:
        @require_roles()
        @functools.wraps(view)
        def checked(staff: Staff, /, *args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            if not allowed(staff, area):
                deny(staff)
            return view(staff, *args, **kwargs)

        return checked

    return decorate


def require_project(staff: Staff, slug: str) -> Project:
    """The project ``slug`` if ``staff`` may see it; 404 otherwise, as for no such project."""
    project = db().scalar(select(Project).where(Project.slug == slug))
    if project is None or not can_see_project(staff, project):
        abort(404)
    return project


def treasurer_page(
    view: Callable[Concatenate[Staff, Project, P], ResponseReturnValue],
) -> Callable[..., ResponseReturnValue]:
    """For views under ``/treasurer/<slug>/``: the view gets the user and the project
    (``slug`` is consumed), or the request ends as :func:`require_project` says."""

    @require_roles()
    @functools.wraps(view)
    def wrapper(staff: Staff, /, *args: Any, slug: str, **kwargs: Any) -> ResponseReturnValue:
        return view(staff, require_project(staff, slug), *args, **kwargs)

    return wrapper


def _here() -> str:
    return request.full_path.rstrip("?") if request.method == "GET" else request.path


def safe_next(target: str | None) -> str | None:
    """A ``next`` address to go on to after signing in: a path on this site, or None.

    Checked as a browser will read it (the WHATWG URL parser): it drops tabs and line
    breaks anywhere, trims control characters and spaces at both ends, and takes a
    backslash for a slash. So ``/%09/evil.example`` (a tab, once decoded) is
    ``//evil.example`` to a browser,
    another site, and refused here; what is accepted is the address as the browser sees
    it, with no control character left to break the ``Location`` header.
    """
    if not target:
        return None
    seen = target.strip("".join(map(chr, range(0x21)))).translate(_TAB_OR_NEWLINE)
    if not seen.startswith("/") or seen[1:2] in ("/", "\\"):
        return None
    if "\\" in seen or any(ord(c) < 0x20 or ord(c) == 0x7F for c in seen):
        return None
    return seen


# What a browser removes from anywhere in an address before reading it.
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")
