"""The sponsor's own pages: ``/admin/`` and the users and the audit log.

Only sponsor staff reach ``/admin/``; a treasurer gets 404 (see
conservancy.web.auth). Users are an admin's alone; bookkeepers and auditors
read the audit log. A one-time link shown here is shown once, in the answer to
the POST that made it; it is never put in the (client-side) session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from conservancy.background.jobs import Job
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError
from conservancy.ledger.books import BooksLoading
from conservancy.projects.models import Project
from conservancy.projects.public import sponsor_overview
from conservancy.projects.service import get_sponsor
from conservancy.staff import audit, service
from conservancy.staff.models import AuditEntry, Role, StaffUser, TokenPurpose
from conservancy.staff.permissions import Area, Staff, can_read
from conservancy.web.auth import current_user, require_area, require_roles
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.staff.forms import ActiveForm, AddUserForm, DeliveryForm, RoleForm

bp = Blueprint("staff_admin", __name__, url_prefix="/admin")


@dataclass(frozen=True)
class Section:
    """A part of the sponsor's pages, listed on ``/admin/`` for those who may read it."""

    title: str
    endpoint: str
    area: Area
    about: str


# Pages built elsewhere add a line here; a section whose endpoint the app does not
# have (yet) is not listed.
SECTIONS: list[Section] = [
    Section("Users", "staff_admin.users", Area.USERS, "Who may sign in, and with which roles."),
    Section("Audit log", "staff_admin.audit_log", Area.AUDIT, "Every change staff made."),
    Section(
        "Projects' pages",
        "staff.treasurer_index",
        Area.PROJECTS,
        "Each member project as its treasurers see it.",
    ),
]


bp.after_request(never_cached)


@bp.get("/")
@require_roles(Role.ADMIN, Role.BOOKKEEPER, Role.AUDITOR)
def home(staff: Staff) -> ResponseReturnValue:
    endpoints = set(current_app.view_functions)
    sections = [s for s in SECTIONS if s.endpoint in endpoints and can_read(staff, s.area)]
    overview, loading = None, False
    if can_read(staff, Area.BOOKS):
        rt = runtime()
        try:
            overview = sponsor_overview(
                rt.books.current(),
                list(db().scalars(select(Project).order_by(Project.name))),
                clock.today(rt.settings.timezone),
                rt.books.closed.saved(),
            )
        except BooksLoading:
            loading = True  # the page says the figures are on their way
    return _page("staff/admin_home.html", sections=sections, overview=overview, loading=loading)


# -- users --------------------------------------------------------------------------------------


@bp.get("/users")
@require_area(Area.USERS)
def users(staff: Staff) -> ResponseReturnValue:
    return _users_page(AddUserForm(formdata=None))


@bp.post("/users")
@require_area(Area.USERS, change=True)
def add_user(staff: Staff) -> ResponseReturnValue:
    session = db()
    form = AddUserForm()
    form.slugs = _slugs()
    if not form.validate_on_submit():
        return _users_page(form), 400
    try:
        added = service.add_user(
            session,
            staff,
            email=form.email.data,
            role=form.role.data,
            project=form.project.data or None,
            name=form.name.data or None,
        )
    except DomainError as exc:
        session.rollback()
        form.email.errors.append(str(exc))
        return _users_page(form), 400
    user = added.user
    said = _added(added)
    if user.password_hash is not None:
        session.commit()
        flash(f"{said} They sign in with their password as before.")
        return redirect(url_for("staff_admin.user", user_id=user.id), code=303)
    return _send_link(staff, user, form.delivery.data, said)


@bp.get("/users/<int:user_id>")
@require_area(Area.USERS)
def user(staff: Staff, user_id: int) -> ResponseReturnValue:
    return _user_page(service.get_user(db(), user_id))


@bp.post("/users/<int:user_id>/roles")
@require_area(Area.USERS, change=True)
def add_role(staff: Staff, user_id: int) -> ResponseReturnValue:
    session = db()
    target = service.get_user(session, user_id)
    form = RoleForm()
    form.slugs = _slugs()
    if not form.validate_on_submit():
        return _user_page(target, role_form=form), 400
    try:
        service.add_role(session, staff, user_id, form.role.data, form.project.data or None)
    except DomainError as exc:
        session.rollback()
        form.role.errors.append(str(exc))
        return _user_page(service.get_user(session, user_id), role_form=form), 400
    session.commit()
    flash(f"Added the role to {target.email}.")
    return redirect(url_for("staff_admin.user", user_id=user_id), code=303)


@bp.post("/users/<int:user_id>/roles/<int:role_id>/remove")
@require_area(Area.USERS, change=True)
def remove_role(staff: Staff, user_id: int, role_id: int) -> ResponseReturnValue:
    session = db()  # CSRF is checked for every POST (CSRFProtect): the button has no fields
    try:
        target = service.remove_role(session, staff, user_id, role_id)
    except service.BadUser as exc:
        session.rollback()
        return _user_page(service.get_user(session, user_id), problem=str(exc)), 400
    session.commit()
    flash(f"Removed the role from {target.email}.")
    return redirect(url_for("staff_admin.user", user_id=user_id), code=303)


@bp.post("/users/<int:user_id>/active")
@require_area(Area.USERS, change=True)
def set_active(staff: Staff, user_id: int) -> ResponseReturnValue:
    session = db()
    form = ActiveForm()
    if not form.validate_on_submit():
        return _user_page(
            service.get_user(session, user_id), problem=" ".join(form.errors.get("active", []))
        ), 400
    try:
        target = service.set_active(session, staff, user_id, form.active.data == "1", clock.now())
    except service.BadUser as exc:
        session.rollback()
        return _user_page(service.get_user(session, user_id), problem=str(exc)), 400
    session.commit()
    flash(
        f"{target.email} can sign in again."
        if target.active
        else f"{target.email} is deactivated and signed out everywhere."
    )
    return redirect(url_for("staff_admin.user", user_id=user_id), code=303)


@bp.post("/users/<int:user_id>/link")
@require_area(Area.USERS, change=True)
def new_link(staff: Staff, user_id: int) -> ResponseReturnValue:
    session = db()
    target = service.get_user(session, user_id)
    form = DeliveryForm()
    if not form.validate_on_submit() or not target.active:
        problem = (
            "Activate this user first." if not target.active else "Choose how to give the link."
        )
        return _user_page(target, problem=problem), 400
    return _send_link(staff, target, form.delivery.data, "")


@bp.post("/users/<int:user_id>/two-factor/reset")
@require_area(Area.USERS, change=True)
def reset_two_factor(staff: Staff, user_id: int) -> ResponseReturnValue:
    session = db()
    target = service.reset_two_factor(session, staff, user_id)
    session.commit()
    flash(f"{target.email} sets up two-factor sign-in again when they next sign in.")
    return redirect(url_for("staff_admin.user", user_id=user_id), code=303)


def _send_link(staff: Staff, user: StaffUser, delivery: str, said: str) -> ResponseReturnValue:
    """Make a sign-in link for ``user``, then show it once or mail it; commits."""
    session, rt = db(), runtime()
    link = service.issue_link(
        session, staff, user, TokenPurpose.INVITE, base_url=rt.settings.base_url, now=clock.now()
    )
    if delivery == "mail":
        sponsor = get_sponsor(session)
        service.mail_invitation(
            session, user, link, sponsor=sponsor.legal_name if sponsor else "our fiscal sponsor"
        )
        session.commit()
        rt.jobs.enqueue(Job.DELIVER)
        sent = f"A sign-in link is on its way to {user.email}; it works once, within 72 hours."
        flash(f"{said} {sent}".strip())
        return redirect(url_for("staff_admin.user", user_id=user.id), code=303)
    session.commit()
    return _user_page(user, notice=said, link=link)


def _added(added: service.Added) -> str:
    who = added.user.email
    if added.created:
        return f"Added {who}."
    if added.reactivated:
        return f"{who} is active again, with the new role."
    if added.role_added:
        return f"Added the role to {who}."
    return f"{who} already had that role; nothing changed."


# -- the audit log ------------------------------------------------------------------------------


@bp.get("/audit")
@require_area(Area.AUDIT)
def audit_log(staff: Staff) -> ResponseReturnValue:
    session = db()
    user_id = _number(request.args.get("user"))
    page = audit.entries(session, page=_number(request.args.get("page")) or 1, user_id=user_id)
    people = session.execute(select(StaffUser.id, StaffUser.email).order_by(StaffUser.email)).all()
    return _page(
        "staff/audit.html",
        page=page,
        user_id=user_id,
        people=people,
        changes=changes,
        when=_when,
    )


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 10 else None


def changes(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """Each field of ``entry`` that differs between before and after: (field, was, became)."""
    before, after = entry.before or {}, entry.after or {}
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _when(entry: AuditEntry) -> str:
    return clock.shown(entry.at, runtime().settings.timezone)


# -- pages --------------------------------------------------------------------------------------


def _slugs() -> frozenset[str]:
    return frozenset(db().scalars(select(Project.slug)))


def _projects() -> list[Project]:
    return list(db().scalars(select(Project).order_by(Project.name)))


def _users_page(form: AddUserForm) -> str:
    return _page(
        "staff/users.html",
        users=service.list_users(db()),
        form=form,
        projects=_projects(),
        roles=list(Role),
        role_label=service.role_label,
    )


def _user_page(
    user: StaffUser,
    *,
    role_form: RoleForm | None = None,
    problem: str | None = None,
    notice: str | None = None,
    link: str | None = None,
) -> str:
    recent = audit.entries(db(), user_id=user.id)
    return _page(
        "staff/user.html",
        user=user,
        role_form=role_form or RoleForm(formdata=None),
        problem=problem,
        notice=notice,
        link=link,
        projects=_projects(),
        roles=list(Role),
        role_label=service.role_label,
        recent=recent.entries[:10],
        changes=changes,
        when=_when,
    )


def _page(template: str, **context: Any) -> str:
    return render_template(template, sponsor=get_sponsor(db()), staff=current_user(), **context)
