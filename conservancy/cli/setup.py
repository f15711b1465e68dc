from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Collection
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import click
from click.core import ParameterSource
from sqlalchemy.orm import Session

from conservancy.cli.common import open_runtime
from conservancy.infra.config import (
    DEMO_STRIPE_KEY,
    DEMO_STRIPE_PORT,
    DEMO_WEBHOOK_SECRET,
    Environment,
    Settings,
)
from conservancy.infra.db import migrate
from conservancy.kernel import clock
from conservancy.kernel.errors import Conflict
from conservancy.money import Currency, Money
from conservancy.projects.models import Campaign, Project
from conservancy.projects.service import add_project, get_sponsor, set_up_sponsor
from conservancy.staff.models import Role


def _ask(value: str | None, option: str, prompt: str) -> str:
    if value:
        return value
    if sys.stdin.isatty():
        answer: str = click.prompt(prompt)
        return answer
    raise click.UsageError(f"{option} is required (no terminal to ask on)")


def run_init(settings: Settings, name: str | None, ein: str | None, address: str | None) -> bool:
    """Migrate, create the books, record the sponsor. Returns True if anything changed."""
    migrate(settings.database_url)
    with open_runtime(settings) as rt:
        with rt.sessions() as session:
            existing = get_sponsor(session)
            if existing is None:
                name = _ask(name, "--sponsor-name", "Sponsor's legal name")
                ein = _ask(ein, "--ein", "Sponsor's EIN (12-3456789)")
                address = _ask(address, "--address", "Sponsor's postal address")
            else:  # what was not given stays as it is
                name = name or existing.legal_name
                ein = ein or existing.ein
                address = address or existing.address
            sponsor, created = set_up_sponsor(
                session,
                legal_name=name,
                ein=ein,
                address=address,
                time_zone=settings.timezone.key,
                books_open_on=clock.today(settings.timezone).replace(month=1, day=1),
            )
            books_created = rt.ledger.create_skeleton(sponsor.legal_name)
            session.commit()
        posted = rt.post_ledger().posted
    return created or books_created or posted > 0


@click.command()
@click.option("--sponsor-name", default=None, help="The sponsor's legal name.")
@click.option("--ein", default=None, help="The sponsor's EIN, 12-3456789.")
@click.option("--address", default=None, help="The sponsor's postal address.")
def init(sponsor_name: str | None, ein: str | None, address: str | None) -> None:
    """Migrate the database, create the books, and record the sponsor. Safe to run again."""
    settings = Settings.from_env()
    changed = run_init(settings, sponsor_name, ein, address)
    click.echo(
        f"{'initialised' if changed else 'already initialised'}: "
        f"books in {settings.ledger_dir}, database {_safe_url(settings.database_url)}"
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A gunicorn configuration file (deploy/gunicorn.conf.py); its bind and workers "
    "apply unless --host, --port or --workers is given.",
)
def serve(host: str, port: int, workers: int, config: Path | None) -> None:
    """Run the web app (under gunicorn where installed)."""
    settings = Settings.from_env()
    settings.web_secret_key()  # refuse to start without one in production
    settings.totp_key_list()  # and without the key of two-factor secrets (admins must enrol)
    settings.require_stripe()  # and without Stripe's key and the webhook's signing secret
    _check_totp_keys(settings)
    ctx = click.get_current_context()
    given = {
        name
        for name in ("host", "port", "workers")
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    binds = [host] if config is None or {"host", "port"} & given else _binds(config)
    for address in binds:
        settings.refuse_open_bind(address)
    serve_app(settings, host, port, workers, config=config, given=given)


def _check_totp_keys(settings: Settings) -> None:
    """One line, here, for keys that open no stored two-factor secret: not a worker that
    gunicorn reports failing to boot."""
    from conservancy.cli.common import open_runtime
    from conservancy.staff.totp_keys import check_stored

    with open_runtime(settings) as rt:
        check_stored(rt.engine, settings)


def _binds(config: Path) -> list[str]:
    """The hosts a gunicorn configuration file binds ("host:port"; unix sockets are local)."""
    bind = runpy.run_path(str(config)).get("bind", ["127.0.0.1:8000"])
    addresses = [bind] if isinstance(bind, str) else list(bind)
    return [a.rsplit(":", 1)[0] for a in addresses if not a.startswith(("unix:", "fd://"))]


def serve_app(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    *,
    config: Path | None = None,
    given: Collection[str] = ("host", "port", "workers"),
) -> None:
    """Serve under gunicorn. ``config``: a gunicorn configuration file, whose settings
    apply except the bind and the workers the command line ``given`` names."""
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # pragma: no cover - gunicorn is a dependency, but optional in spirit
        from conservancy import create_app

        create_app(settings).run(host=host, port=port, threaded=True)
        return

    from conservancy.web.access_log import ACCESS_LOG_FORMAT, RedactingLogger

    class App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            self.cfg.set("logger_class", RedactingLogger)
            if config is None:
                return
            from_file = runpy.run_path(str(config))
            keep = {"bind"} if {"host", "port"} & set(given) else set()
            keep |= {"workers"} if "workers" in given else set()
            for name, value in from_file.items():
                if name in self.cfg.settings and name not in keep:
                    self.cfg.set(name, value)

        def load(self) -> object:
            from conservancy import create_app

            return create_app(settings)

    App().run()


DEMO_PROJECTS = [
    (
        "twisted",
        "Twisted",
        "Twisted",
        "An event-driven networking engine written in Python, since 2002.",
    ),
    ("inkscape", "Inkscape", "Inkscape", "Professional vector graphics, free for everyone."),
    (
        "sugar-labs",
        "Sugar Labs",
        "SugarLabs",
        "A learning platform that children love, on any computer.",
    ),
    ("mercurial", "Mercurial", "Mercurial", "A fast, scalable distributed version control system."),
]
DEMO_SPONSOR = (
    "Demo Software Freedom Conservancy, Inc.",
    "12-3456789",
    "137 Montague St Ste 380\nBrooklyn, NY 11201-3548",
)


def seed_demo(settings: Settings) -> None:
    """The demo sponsor, its projects, and the Twisted fund drive. Safe to run again."""
    run_init(settings, *DEMO_SPONSOR)
    today = clock.today(settings.timezone)
    with open_runtime(settings) as rt:
        with rt.sessions() as session:
            for slug, name, fund, blurb in DEMO_PROJECTS:
                try:
                    project = add_project(
                        session,
                        slug=slug,
                        name=name,
                        fund=fund,
                        opened_on=today.replace(month=1, day=1),
                    )
                except Conflict:
                    continue
                project.blurb = blurb
                if slug == "twisted":
                    project.thank_you_description = "Twisted t-shirt"
                    project.thank_you_value_minor = 30_00
                    project.thank_you_minimum_minor = 100_00
                    session.add(
                        Campaign(
                            project=project,
                            name="The Twisted fund drive",
                            goal_minor=5_000_000,
                            starts_on=today - timedelta(days=14),
                            ends_on=today + timedelta(days=46),
                        )
                    )
                    session.flush()
                    _demo_sponsorship_levels(session, project)
            session.commit()
            _demo_treasurer(session)
            _demo_member(session)
            _demo_admin(session)
        rt.post_ledger()


# What Twisted offers companies: a name, the annual amount, and each benefit with its
# fair market value (a logo has none; conference passes have theirs).
DEMO_LEVELS = [
    (
        "Gold",
        10_000_00,
        [("Logo on twistedmatrix.com", 0), ("Two passes to the Twisted conference", 500_00)],
    ),
    ("Silver", 2_500_00, [("Logo on twistedmatrix.com", 0)]),
]


def _demo_sponsorship_levels(session: Session, project: Project) -> None:
    """Twisted's sponsorship levels, so the demo's sponsor sign-up has something to offer."""
    from conservancy.sponsorships.service import add_level
    from conservancy.staff import audit

    for name, annual_minor, benefits in DEMO_LEVELS:
        add_level(
            session,
            audit.COMMAND_LINE,
            project,
            name=name,
            annual=Money.from_minor(annual_minor, Currency.USD),
            benefits=[(text, Money.from_minor(value, Currency.USD)) for text, value in benefits],
        )


# The demo's Stripe stand-in keeps its state in this file of the instance folder.
DEMO_STANDIN_STATE = "stripe-standin.json"

# The demo's people sign in with these passwords (demo only: they are printed).
DEMO_TREASURER = ("treasurer@twisted.example", "twisted demo treasurer")
DEMO_ADMIN = ("admin@sponsor.example", "sponsor demo admin")
DEMO_MEMBER = ("member@twisted.example", "twisted demo member")


def _demo_treasurer(session: Session) -> None:
    """A treasurer of Twisted with a known password, so the demo shows the treasurer's pages."""
    _demo_user(session, DEMO_TREASURER, Role.TREASURER, "Demo treasurer", project="twisted")


def _demo_member(session: Session) -> None:
    """A member of Twisted with a known password, who asks to be paid for what they spent."""
    _demo_user(session, DEMO_MEMBER, Role.MEMBER, "Demo member", project="twisted")


def _demo_admin(session: Session) -> None:
    """A sponsor admin with a known password, so the demo shows the sponsor's pages.

    Like every admin, they set up an authenticator app when they first sign in
    (the sign-in leads there); that is kept when the demo starts again.
    """
    _demo_user(session, DEMO_ADMIN, Role.ADMIN, "Demo admin")


def _demo_user(
    session: Session,
    credentials: tuple[str, str],
    role: Role,
    name: str,
    *,
    project: str | None = None,
) -> None:
    """A user with ``role`` and a known password, added once: a later run changes nothing."""
    from conservancy.staff import audit, passwords
    from conservancy.staff.service import add_user, find_user

    email, password = credentials
    if find_user(session, email) is not None:
        return
    user = add_user(session, audit.COMMAND_LINE, email=email, role=role, project=project).user
    user.name = name
    user.password_hash = passwords.hash_password(password)
    session.commit()


def demo_sign_ins(port: int) -> list[str]:
    """What ``conservancy demo`` prints about signing in as its treasurer and its admin."""
    sign_in = f"http://127.0.0.1:{port}/sign-in"
    return [
        f"  treasurer of Twisted: {sign_in}  ({DEMO_TREASURER[0]}, password: {DEMO_TREASURER[1]})",
        f"  member of Twisted (spending requests): {sign_in}  "
        f"({DEMO_MEMBER[0]}, password: {DEMO_MEMBER[1]})",
        f"  sponsor admin: {sign_in}  ({DEMO_ADMIN[0]}, password: {DEMO_ADMIN[1]}; "
        "set up an authenticator app at the first sign-in)",
    ]


@click.command()
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--stripe-port", default=DEMO_STRIPE_PORT, show_default=True, type=int)
def demo(port: int, stripe_port: int) -> None:
    """A demo sponsor and projects, the Stripe stand-in, and the site, all on 127.0.0.1."""
    from conservancy.standin import StandIn, StateFileError

    os.environ.setdefault("CONSERVANCY_ENV", "demo")
    settings = Settings.from_env()
    if settings.env is Environment.PRODUCTION:
        raise click.UsageError("the demo does not run with CONSERVANCY_ENV=production")
    standin = StandIn(
        port=stripe_port,
        webhook_url=f"http://127.0.0.1:{port}/stripe/webhook",
        webhook_secret=DEMO_WEBHOOK_SECRET,
        # Beside the demo's database, so gifts made before a restart can still be refunded
        # and changed: Stripe remembers them, and so does the stand-in.
        state_file=(settings.instance_dir / DEMO_STANDIN_STATE).resolve(),
    )
    try:
        stripe_url = standin.start()
    except OSError as exc:
        raise click.ClickException(
            f"cannot start the Stripe stand-in on port {stripe_port}: {exc.strerror}"
        ) from None
    except StateFileError as exc:
        raise click.ClickException(
            f"the Stripe stand-in's state: {exc} (remove the file to start the stand-in afresh)"
        ) from None
    settings = replace(
        settings,
        base_url=f"http://127.0.0.1:{port}",
        stripe_secret_key=DEMO_STRIPE_KEY,
        stripe_webhook_secret=DEMO_WEBHOOK_SECRET,
        stripe_api_base=stripe_url,
    )
    seed_demo(settings)
    click.echo(f"conservancy demo: http://127.0.0.1:{port}/  (Ctrl-C to stop)")
    click.echo(f"  Stripe stand-in: {stripe_url}/_standin/  (pay with card 4242 4242 4242 4242)")
    click.echo(
        f"  the books: {settings.ledger_dir.resolve()}/  and http://127.0.0.1:{port}/demo/books"
    )
    click.echo(
        f"  receipts and sign-in links by mail: http://127.0.0.1:{port}/demo/mail  "
        f"(donor portal: http://127.0.0.1:{port}/portal)"
    )
    for line in demo_sign_ins(port):
        click.echo(line)
    from conservancy import create_app

    try:
        create_app(settings).run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)
    finally:
        standin.stop()
