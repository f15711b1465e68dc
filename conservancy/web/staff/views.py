"""Staff sign-in: password, then a code or a security key where set up; one-time links; the
user's own account (two-factor sign-in, security keys, password).

What a failed sign-in says, and how long it takes, is the same for an unknown
address and a wrong password (see conservancy.staff.sign_in). Between the
password and the code, the signed cookie holds only the user's id and the
time (good for CODE_WAIT); the session itself starts once the code is right.
Signing in starts a fresh cookie session, so nothing set before carries over.
Links are used by a POST from the page they open: a mail scanner's GET does
not use them up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import segno
from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as web_session
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from conservancy.background.jobs import Job
from conservancy.kernel import clock
from conservancy.projects.service import get_sponsor
from conservancy.staff import passwords, recovery, security_keys, service, sign_in, totp
from conservancy.staff.models import TokenPurpose
from conservancy.staff.passwords import BadPassword
from conservancy.staff.permissions import Staff, is_sponsor_staff, must_enrol
from conservancy.staff.service import LinkRefused
from conservancy.staff.sign_in import SignInRefused, TooManyAttempts
from conservancy.web.auth import (
    SESSION_KEY,
    current_session_id,
    current_user,
    load_signed_in,
    require_roles,
    safe_next,
    sign_in_rules,
    totp_keys,
)
from conservancy.web.browser_sessions import end_sessions
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.headers import allow_own_scripts
from conservancy.web.staff.forms import (
    ChangePasswordForm,
    CodeForm,
    EmailForm,
    NewPasswordForm,
    NewSecurityKeyForm,
    RemoveSecurityKeyForm,
    SecurityKeyForm,
    SignInCodeForm,
    SignInForm,
)

bp = Blueprint("staff", __name__)
bp.before_app_request(load_signed_in)

PENDING_KEY = "staff_pending"  # {"user": id, "at": unix time, "next": path or None}


bp.after_request(never_cached)


@bp.app_template_global()
def recovery_codes_missing() -> bool:
    """Whether the signed-in user has two-factor on and no unused recovery code: they
    enrolled before codes existed, or used every one. Staff pages then say so, with
    the way to make them, until they do; nothing is refused meanwhile (a prompt that
    locked them out would be worse than the gap it closes). Asked by the staff layout
    only, so a page without it makes no query."""
    staff = current_user()
    if staff is None or not staff.two_factor or request.endpoint == "staff.two_factor":
        return False
    return recovery.remaining(db(), staff.id) == 0


def home_for(staff: Staff) -> str:
    if must_enrol(staff):
        return url_for("staff.two_factor")
    if is_sponsor_staff(staff):
        return url_for("staff_admin.home")
    return url_for("staff.treasurer_index")


# -- password, then code -------------------------------------------------------------------


@bp.get("/sign-in", endpoint="sign_in")
def sign_in_page() -> ResponseReturnValue:
    staff = current_user()
    if staff is not None:
        return redirect(home_for(staff), code=303)
    return _page("staff/sign_in.html", form=SignInForm(), next=safe_next(request.args.get("next")))


@bp.post("/sign-in")
def sign_in_submit() -> ResponseReturnValue:
    form, target = SignInForm(), safe_next(request.args.get("next"))
    if not form.validate_on_submit():
        return _page("staff/sign_in.html", form=form, next=target), 400
    session, rt, now = db(), runtime(), clock.now()
    key = rt.settings.web_secret_key().encode()
    try:
        # behind a proxy, remote_addr: see conservancy.donations.abuse
        sign_in.admit(session, key=key, address=request.remote_addr, email=form.email.data, now=now)
        accepted = sign_in.check_password(
            session,
            key=key,
            email=form.email.data,
            password=form.password.data,
            now=now,
            rules=sign_in_rules(),
            address=request.remote_addr,
        )
    except (SignInRefused, TooManyAttempts) as exc:
        session.commit()  # the failure counts toward the delays, and is in the log
        return _page(
            "staff/sign_in.html", form=form, next=target, refusal=str(exc)
        ), exc.http_status
    end_sessions(session, now)  # a donor's this browser held too
    session.commit()
    if accepted.session_token is None:
        web_session[PENDING_KEY] = {
            "user": accepted.user_id,
            "at": now.timestamp(),
            "next": target,
        }
        return redirect(url_for("staff.code"), code=303)
    return _signed_in(accepted.session_token, target)


def _pending() -> dict[str, Any] | None:
    pending = web_session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("user"), int):
        return None
    at = pending.get("at", 0)
    age = clock.now().timestamp() - (at if isinstance(at, int | float) else 0)
    if not 0 <= age < sign_in.CODE_WAIT.total_seconds():
        web_session.pop(PENDING_KEY, None)
        return None
    return pending


@bp.get("/sign-in/code")
def code() -> ResponseReturnValue:
    pending = _pending()
    if pending is None:
        flash("Please sign in with your e-mail address and password first.")
        return redirect(url_for("staff.sign_in"), code=303)
    return _code_page(pending, SignInCodeForm())


def _code_page(
    pending: dict[str, Any],
    form: SignInCodeForm,
    status: int = 200,
    key_error: str | None = None,
) -> ResponseReturnValue:
    """The second step: a code, and a security key's button for a user with keys (a new
    challenge for it each time the page is shown)."""
    session = db()
    user = service.get_user(session, pending["user"])
    rp = _relying_party()
    options = None
    if user.security_keys and rp.usable:
        options = security_keys.sign_in_options(session, user, rp, clock.now())
        session.commit()
    if user.totp_secret is None:  # a key and recovery codes only
        form.code.label.text = "Recovery code"
    body = _page(
        "staff/code.html",
        form=form,
        totp=user.totp_secret is not None,
        key_options=options,
        key_error=key_error,
    )
    return allow_own_scripts(make_response(body, status))


@bp.post("/sign-in/security-key")
def security_key_submit() -> ResponseReturnValue:
    pending = _pending()
    if pending is None:
        flash("That took too long: please sign in again.")
        return redirect(url_for("staff.sign_in"), code=303)
    form = SecurityKeyForm()
    if not form.validate_on_submit():
        return _code_page(pending, SignInCodeForm(formdata=None), 400, form.credential.errors[0])
    session = db()
    try:
        token = sign_in.check_security_key(
            session,
            key=runtime().settings.web_secret_key().encode(),
            user_id=pending["user"],
            credential=form.credential.data,
            rp=_relying_party(),
            now=clock.now(),
            rules=sign_in_rules(),
            address=request.remote_addr,
        )
    except security_keys.KeyRefused as exc:
        session.commit()  # the failure counts toward the delays, and is in the log
        return _code_page(pending, SignInCodeForm(formdata=None), 400, str(exc))
    except SignInRefused as exc:  # made to wait, or no longer a user who can sign in
        session.commit()
        web_session.pop(PENDING_KEY, None)
        return _page("staff/sign_in.html", form=SignInForm(), refusal=str(exc)), exc.http_status
    session.commit()
    return _signed_in(token, safe_next(pending.get("next")))


def _relying_party() -> security_keys.RelyingParty:
    sponsor = get_sponsor(db())
    name = sponsor.legal_name if sponsor else "conservancy"
    return security_keys.RelyingParty.of(runtime().settings, name)


@bp.post("/sign-in/code")
def code_submit() -> ResponseReturnValue:
    pending = _pending()
    if pending is None:
        flash("That took too long: please sign in again.")
        return redirect(url_for("staff.sign_in"), code=303)
    form = SignInCodeForm()
    if not form.validate_on_submit():
        return _code_page(pending, form, 400)
    session = db()
    try:
        token = sign_in.check_code(
            session,
            key=runtime().settings.web_secret_key().encode(),
            user_id=pending["user"],
            code=form.code.data,
            now=clock.now(),
            rules=sign_in_rules(),
            keys=totp_keys(),
            address=request.remote_addr,
            password_accepted_at=datetime.fromtimestamp(pending["at"], UTC),
        )
    except sign_in.CodeRefused as exc:
        session.commit()
        form.code.errors.append(str(exc))
        return _code_page(pending, form, 400)
    except SignInRefused as exc:  # made to wait, or no longer a user who can sign in
        session.commit()
        web_session.pop(PENDING_KEY, None)
        return _page("staff/sign_in.html", form=SignInForm(), refusal=str(exc)), exc.http_status
    left = (
        recovery.remaining(session, pending["user"])
        if recovery.looks_like_code(form.code.data)
        else None
    )
    session.commit()
    answer = _signed_in(token, safe_next(pending.get("next")))
    if left is not None:  # after _signed_in, which starts a fresh cookie session
        flash(
            f"You signed in with a recovery code; it will not work again. {left} of your "
            "recovery codes remain: make new ones from your two-factor page if you need them."
        )
    return answer


def _signed_in(token: str, target: str | None) -> ResponseReturnValue:
    web_session.clear()
    web_session[SESSION_KEY] = token
    load_signed_in()
    staff = current_user()
    assert staff is not None
    if must_enrol(staff):
        return redirect(url_for("staff.two_factor"), code=303)
    return redirect(target or home_for(staff), code=303)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    session = db()
    end_sessions(session, clock.now())  # a donor's this browser held too
    session.commit()
    flash("You are signed out.")
    return redirect(url_for("staff.sign_in"), code=303)


# -- one-time links: the first password, a reset --------------------------------------------


@bp.get("/sign-in/link/<token>")
def invitation(token: str) -> ResponseReturnValue:
    return _link_page(token, TokenPurpose.INVITE, NewPasswordForm())


@bp.post("/sign-in/link/<token>")
def invitation_submit(token: str) -> ResponseReturnValue:
    return _use_link(token, TokenPurpose.INVITE)


@bp.get("/password-reset")
def reset() -> ResponseReturnValue:
    return _page("staff/reset.html", form=EmailForm())


@bp.post("/password-reset")
def reset_submit() -> ResponseReturnValue:
    form = EmailForm()
    if not form.validate_on_submit():
        return _page("staff/reset.html", form=form), 400
    session, rt, now = db(), runtime(), clock.now()
    try:
        sign_in.admit(
            session,
            key=rt.settings.web_secret_key().encode(),
            address=request.remote_addr,
            email=form.email.data,
            now=now,
            limits=sign_in.RESET_LIMITS,
        )
    except TooManyAttempts as exc:
        session.commit()
        return _page("staff/reset.html", form=form, refusal=str(exc)), exc.http_status
    # The same answer, and no mail, for an address that is nobody's.
    sign_in.request_password_reset(
        session, email=form.email.data, base_url=rt.settings.base_url, now=now
    )
    session.commit()
    rt.jobs.enqueue(Job.DELIVER)
    return _page("staff/reset_sent.html", email=form.email.data)


@bp.get("/password-reset/<token>")
def reset_link(token: str) -> ResponseReturnValue:
    return _link_page(token, TokenPurpose.RESET, NewPasswordForm())


@bp.post("/password-reset/<token>")
def reset_link_submit(token: str) -> ResponseReturnValue:
    return _use_link(token, TokenPurpose.RESET)


def _link_page(token: str, purpose: TokenPurpose, form: NewPasswordForm) -> ResponseReturnValue:
    user = service.link_user(db(), token, purpose, clock.now())
    if user is None:
        return _page("staff/link_refused.html", message=str(LinkRefused())), 400
    action = url_for(
        "staff.invitation_submit" if purpose is TokenPurpose.INVITE else "staff.reset_link_submit",
        token=token,
    )
    status = 400 if form.errors else 200
    return _page(
        "staff/set_password.html", form=form, user=user, action=action, purpose=purpose.value
    ), status


def _use_link(token: str, purpose: TokenPurpose) -> ResponseReturnValue:
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return _link_page(token, purpose, form)
    session = db()
    try:
        sign_in.set_password_with_link(
            session,
            token,
            purpose,
            form.password.data,
            clock.now(),
            key=runtime().settings.web_secret_key().encode(),
        )
    except BadPassword as exc:
        session.rollback()
        form.password.errors.append(str(exc))
        return _link_page(token, purpose, form)
    except LinkRefused as exc:
        session.rollback()
        return _page("staff/link_refused.html", message=str(exc)), 400
    session.commit()
    web_session.clear()
    flash("Your password is set. Sign in with your e-mail address and your new password.")
    return redirect(url_for("staff.sign_in"), code=303)


# -- the user's own account --------------------------------------------------------------------


@bp.route("/account/two-factor", methods=["GET", "POST"])
@require_roles(enrolled=False)
def two_factor(staff: Staff) -> ResponseReturnValue:
    """Two-factor sign-in: the authenticator app (set up here while it is off), the
    security keys, the recovery codes."""
    session = db()
    user = service.get_user(session, staff.id)
    if user.totp_secret is not None:
        if request.method == "POST":  # on already: there is nothing to confirm
            return redirect(url_for("staff.two_factor"), code=303)
        return _two_factor_page(staff)
    form = CodeForm()
    if request.method == "GET":
        return _two_factor_page(staff, code_form=form)
    if form.validate_on_submit():
        codes = sign_in.confirm_enrolment(session, staff, form.code.data, clock.now(), totp_keys())
        if codes is not None:
            session.commit()
            load_signed_in()
            updated = current_user() or staff
            if not codes:  # they had a security key, and their recovery codes, already
                flash("Your authenticator app is set up: signing in can use its codes too.")
                return redirect(url_for("staff.two_factor"), code=303)
            flash("Two-factor sign-in is on: from now on, signing in asks for a code.")
            # Shown in this answer only, never stored in clear nor in the cookie.
            return _page("staff/recovery_codes.html", codes=codes, next=home_for(updated))
        form.code.errors.append(
            "That code does not match. Check that your app shows the account added from "
            "this page, and type the code it shows now."
        )
    return _two_factor_page(staff, code_form=form, status=400)


def _two_factor_page(
    staff: Staff,
    *,
    code_form: CodeForm | None = None,
    key_form: NewSecurityKeyForm | None = None,
    remove_form: tuple[int, RemoveSecurityKeyForm] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The two-factor page; ``code_form`` when the authenticator app is not set up."""
    session, now = db(), clock.now()
    user = service.get_user(session, staff.id)
    rp = _relying_party()
    key_options = security_keys.registration_options(session, user, rp, now) if rp.usable else None
    context: dict[str, Any] = {}
    if code_form is not None:
        secret = sign_in.enrolment_secret(session, staff.id, totp_keys())
        uri = totp.provisioning_uri(secret, account=staff.email, issuer=rp.name)
        svg = segno.make(uri, error="m").svg_inline(
            scale=4, dark="#1d2433", title="QR code for your authenticator app"
        )
        context.update(
            form=code_form,
            secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            uri=uri,
            qr=Markup(svg),  # noqa: S704 - drawn here from our own URI, escaped by segno
        )
    session.commit()
    body = _page(
        "staff/two_factor.html" if code_form is not None else "staff/two_factor_on.html",
        required=must_enrol(staff),
        keys=security_keys.keys_of(session, staff.id),
        key_options=key_options,
        key_form=key_form or NewSecurityKeyForm(formdata=None),
        remove_form=remove_form,
        remaining=recovery.remaining(session, staff.id),
        **context,
    )
    return allow_own_scripts(make_response(body, status))


@bp.post("/account/two-factor/security-keys")
@require_roles(enrolled=False)
def add_security_key(staff: Staff) -> ResponseReturnValue:
    """Register a security key, from its answer to the two-factor page's challenge."""
    form = NewSecurityKeyForm()
    session, now = db(), clock.now()
    code_form = None if service.get_user(session, staff.id).totp_secret else CodeForm(formdata=None)
    if not form.validate_on_submit():
        return _two_factor_page(staff, code_form=code_form, key_form=form, status=400)
    first = not staff.two_factor
    try:
        key = security_keys.register(
            session,
            staff,
            _relying_party(),
            name=form.name.data,
            credential=form.credential.data,
            now=now,
        )
    except security_keys.KeyRefused as exc:
        session.rollback()
        form.credential.errors.append(str(exc))
        return _two_factor_page(staff, code_form=code_form, key_form=form, status=400)
    codes = recovery.make_codes(session, staff.id, now) if first else None
    session.commit()
    load_signed_in()
    updated = current_user() or staff
    if codes is not None:
        flash(f"Your security key “{key.name}” is added: from now on, signing in asks for it.")
        # Shown in this answer only, never stored in clear nor in the cookie.
        return _page("staff/recovery_codes.html", codes=codes, next=home_for(updated))
    flash(f"Your security key “{key.name}” is added.")
    return redirect(url_for("staff.two_factor"), code=303)


@bp.post("/account/two-factor/security-keys/<int:key_id>/remove")
@require_roles(enrolled=False)
def remove_security_key(staff: Staff, key_id: int) -> ResponseReturnValue:
    """Remove one of the user's keys; it takes their password, as a change of password does."""
    form = RemoveSecurityKeyForm()
    session = db()
    user = service.get_user(session, staff.id)
    if not any(key.id == key_id for key in user.security_keys):
        abort(404)
    code_form = None if user.totp_secret else CodeForm(formdata=None)
    if form.validate_on_submit() and not passwords.verify(user.password_hash, form.password.data):
        form.password.errors.append("That is not your password.")
    if form.errors:
        return _two_factor_page(staff, code_form=code_form, remove_form=(key_id, form), status=400)
    key = security_keys.remove(session, staff, key_id, clock.now())
    session.commit()
    flash(f"Your security key “{key.name}” is removed; it no longer signs you in.")
    return redirect(url_for("staff.two_factor"), code=303)


@bp.post("/account/two-factor/recovery-codes")
@require_roles()
def recovery_codes(staff: Staff) -> ResponseReturnValue:
    """New recovery codes, shown once in this answer; the old ones stop working."""
    if not staff.two_factor:
        return redirect(url_for("staff.two_factor"), code=303)
    session = db()
    codes = sign_in.new_recovery_codes(session, staff, clock.now())
    session.commit()
    return _page("staff/recovery_codes.html", codes=codes, next=home_for(staff))


@bp.route("/account/password", methods=["GET", "POST"])
@require_roles()
def password(staff: Staff) -> ResponseReturnValue:
    form = ChangePasswordForm()
    if request.method == "GET":
        return _page("staff/password.html", form=form)
    if not form.validate_on_submit():
        return _page("staff/password.html", form=form), 400
    session = db()
    session_id = current_session_id()
    assert session_id is not None
    try:
        sign_in.change_password(
            session, staff, session_id, form.current.data, form.password.data, clock.now()
        )
    except sign_in.WrongPassword as exc:
        session.rollback()
        form.current.errors.append(str(exc))
        return _page("staff/password.html", form=form), 400
    except BadPassword as exc:
        session.rollback()
        form.password.errors.append(str(exc))
        return _page("staff/password.html", form=form), 400
    session.commit()
    flash("Your password is changed. Any other browser signed in as you is signed out.")
    return redirect(home_for(staff), code=303)


# -- treasurers' projects ------------------------------------------------------------------------


@bp.get("/treasurer/")
@require_roles()
def treasurer_index(staff: Staff) -> ResponseReturnValue:
    projects = service.projects_for(db(), staff)
    return _page("staff/treasurer_index.html", projects=projects)


def _page(template: str, **context: Any) -> str:
    return render_template(
        template,
        sponsor=get_sponsor(db()),
        staff=current_user(),
        **context,
    )
