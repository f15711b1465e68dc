from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import cast

from flask import Flask, Response, abort, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from conservancy.infra import resources
from conservancy.infra.config import Environment, Settings
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError
from conservancy.payments.gateway import GatewayError
from conservancy.projects.models import Sponsor
from conservancy.projects.service import get_sponsor
from conservancy.receipts.document import long_date
from conservancy.runtime import Runtime
from conservancy.web import plain_text
from conservancy.web.context import db

log = logging.getLogger(__name__)


class _Site(Flask):
    def send_static_file(self, filename: str) -> Response:
        # static/ is the package conservancy.static (conservancy.infra.resources): its __init__.py
        # and __pycache__ are Python's, not the site's.
        if filename.startswith("__"):
            abort(404)
        return super().send_static_file(filename)


def build_app(settings: Settings | None, runtime: Runtime | None) -> Flask:
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    runtime = runtime or Runtime.from_settings(settings)
    app = _Site(
        "conservancy",
        template_folder=str(resources.templates()),
        static_folder=str(resources.static()),
    )
    app.config.update(
        SECRET_KEY=settings.web_secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["conservancy"] = runtime
    from conservancy.staff.totp_keys import check_stored

    check_stored(runtime.engine, settings)  # a wrong or missing CONSERVANCY_TOTP_KEYS stops here
    settings.require_stripe()  # production without Stripe's key or signing secret stops here

    @app.before_request
    def _request_started() -> None:
        runtime.traffic.started()
        g.counted_in_traffic = True

    @app.before_request
    def _address_is_plain_text() -> None:
        # Slugs, tokens, numbers and search words reach queries, and PostgreSQL answers a
        # NUL with an error (conservancy.web.plain_text; forms check their own fields). No
        # path here has a control character: such a path is an unknown page. A query
        # string only looks things up, and its words arrive without them: a search for
        # "Ada<NUL>" is one for "Ada", and next=<NUL>//evil.example is //evil.example,
        # which the sign-in refuses as another site, as a browser would read it.
        found = request.view_args or {}
        if any(isinstance(v, str) and plain_text.has_control(v) for v in found.values()):
            abort(404)
        pairs = list(request.args.items(multi=True))
        if any(plain_text.has_control(name + value) for name, value in pairs):
            request.args = ImmutableMultiDict(
                (plain_text.without_controls(n), plain_text.without_controls(v)) for n, v in pairs
            )

    @app.teardown_request
    def _request_finished(_exc: BaseException | None) -> None:
        if g.pop("counted_in_traffic", False):
            runtime.traffic.finished()

    if settings.proxy_hops:
        # Behind nginx: the client's address and scheme are the proxy's headers, trusted
        # for exactly that many proxies (the rate limits count per client address).
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    csrf = CSRFProtect(app)
    from conservancy.web import headers

    headers.install(app)

    from conservancy.web.public import pages as public

    app.register_blueprint(public.bp)
    from conservancy.web.public import donate

    app.register_blueprint(donate.bp)
    from conservancy.web.public import sponsor

    app.register_blueprint(sponsor.bp)
    from conservancy.web.portal import views as portal

    app.register_blueprint(portal.bp)
    from conservancy.web.staff import admin as staff_admin
    from conservancy.web.staff import views as staff

    app.register_blueprint(staff.bp)
    app.register_blueprint(staff_admin.bp)
    from conservancy.web.staff import files
    from conservancy.web.staff import money as admin_money

    app.register_blueprint(admin_money.bp)
    from conservancy.web.staff import sponsorships as admin_sponsorships

    app.register_blueprint(admin_sponsorships.bp)
    from conservancy.web.staff import reports as admin_reports

    app.register_blueprint(admin_reports.bp)
    app.register_blueprint(files.bp)
    from conservancy.web.staff import reconcile

    app.register_blueprint(reconcile.bp)
    from conservancy.web.staff import bank

    app.register_blueprint(bank.bp)
    from conservancy.web.staff import spending as staff_spending
    from conservancy.web.treasurer import spending
    from conservancy.web.treasurer import views as treasurer

    app.register_blueprint(treasurer.bp)
    app.register_blueprint(spending.bp)
    app.register_blueprint(spending.details_bp)
    app.register_blueprint(staff_spending.bp)
    from conservancy.web.api import views as api

    app.register_blueprint(api.bp)
    from conservancy.web.stripe import webhook as stripe_hooks

    app.register_blueprint(stripe_hooks.bp)
    csrf.exempt(stripe_hooks.bp)  # Stripe signs its requests instead
    if settings.env is Environment.DEMO:
        from conservancy.web.public import demo

        app.register_blueprint(demo.bp)
    _register_errors(app)
    _site_context(app, runtime)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    _start_books(runtime)
    return app


def _start_books(runtime: Runtime) -> None:
    """At start-up: post what a crash left pending, then serve the books from a snapshot."""
    if not runtime.ledger.exists():
        log.warning("no books at %s: run 'conservancy init'", runtime.ledger.root)
        return
    try:
        runtime.post_ledger()
    except Exception:
        log.exception(
            "posting pending ledger entries at start-up failed; 'conservancy ledger sync' retries"
        )
    runtime.books.start(isolated=True)


def _site_context(app: Flask, runtime: Runtime) -> None:
    """What every page's frame (templates/base.html) shows: the sponsor's name and the
    address to write to, on pages whose view passes no sponsor (staff pages, errors)."""

    def site_sponsor() -> Sponsor | None:
        if "site_sponsor" not in g:
            # Read in the request's own session: a second one would wait for SQLite's write
            # lock, which the request's holds. A session a failed statement left unusable (the
            # error page after it) leaves the frame unnamed, not the page broken.
            try:
                g.site_sponsor = get_sponsor(db())
            except SQLAlchemyError as exc:  # what failed before is logged where it failed
                log.warning(
                    "the page frame goes without the sponsor's name: %s", type(exc).__name__
                )
                g.site_sponsor = None
        return cast("Sponsor | None", g.site_sponsor)

    @app.template_filter("local_time")
    def _local_time(moment: datetime | None) -> str:
        return clock.shown(moment, runtime.settings.timezone) if moment else ""

    app.add_template_filter(long_date, "long_date")  # "March 4, 2026", as on receipts

    @app.template_filter("plain_json")
    def _plain_json(value: object) -> str:
        # A value as JSON for people to read (the audit log's before and after): the page's
        # escaping makes it safe, not \\u003c escapes, which "<b>" would read as.
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    @app.context_processor
    def _frame() -> dict[str, object]:
        return {"site_sponsor": site_sponsor, "contact_address": runtime.settings.sender_address}


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> tuple[str, int]:
        return render_template(
            "errors/error.html",
            code=400,
            message="This form has expired. Please go back, reload the page and try again.",
        ), 400

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> tuple[str, int]:
        return render_template(
            "errors/error.html", code=exc.http_status, message=str(exc)
        ), exc.http_status

    @app.errorhandler(GatewayError)
    def _gateway(exc: GatewayError) -> tuple[str, int]:
        # A page that did not catch it: worded for anyone, as for a donor (the message
        # itself may quote Stripe, with its ids, and is for the log).
        log.warning("a payment processor error reached the page: %s", exc)
        contact = app.extensions["conservancy"].settings.sender_address
        message = exc.for_donor("nothing was done", contact)
        return render_template("errors/error.html", code=exc.http_status, message=message), (
            exc.http_status
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[str, int]:
        code = exc.code or 500
        return render_template("errors/error.html", code=code, message=exc.description), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[str, int]:
        log.exception("unhandled error")
        return render_template(
            "errors/error.html",
            code=500,
            message="Something went wrong on our side. Please try again in a few minutes.",
        ), 500
