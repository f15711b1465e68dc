"""Text from a browser is plain text: every text field of every form refuses control
characters by itself (tabs and line breaks too, except in a multi-line box), and no
address with one in it reaches a query."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import TextAreaField  # type: ignore[import-untyped]

import conservancy
from conservancy.runtime import Runtime
from tests import factories
from tests.admin.pages import signed_in
from tests.snapshot import snapshot

ONE_LINE = "This field may not contain control characters, tabs or line breaks."
LINES = "This field may not contain control characters (line breaks and tabs are fine)."
# A NUL (what PostgreSQL refuses), ESC, DEL, a C1 control, a lone surrogate; then what
# only a multi-line box may hold.
NEVER = ["\x00", "\x1b", "\x7f", "\x9b", "\ud800"]
ONLY_IN_A_BOX = ["\t", "\n", "\r\n"]


def _all_subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def every_form() -> list[type[FlaskForm]]:
    """Every form class the package defines, wherever it is: a new one is found too."""
    for module in pkgutil.walk_packages(conservancy.__path__, "conservancy."):
        importlib.import_module(module.name)
    found = {c for c in _all_subclasses(FlaskForm) if c.__module__.startswith("conservancy.")}
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def sent(form_class: type[FlaskForm], text: str) -> FlaskForm:
    """The form as the browser sent it, with ``Ada{text}Lovelace`` in every field."""
    names = [field.name for field in form_class(formdata=None, meta={"csrf": False})]
    formdata = MultiDict(dict.fromkeys(names, f"Ada{text}Lovelace"))
    return form_class(formdata=formdata, meta={"csrf": False})


@pytest.fixture(scope="module")
def bare_app() -> Flask:
    """Forms need an application to be made in; these need nothing of it."""
    return Flask(__name__)


def test_the_walk_finds_the_public_and_staff_forms() -> None:
    """The test below would pass on an empty list: it must not be one."""
    names = {c.__name__ for c in every_form()}
    assert {
        "DonateForm",
        "LinkRequestForm",
        "SignInForm",
        "SponsorForm",
        "ProjectForm",
        "OfflineGiftForm",
        "ExpenseForm",
        "LevelForm",
        "PaymentForm",
        "PeriodForm",
    } <= names


@pytest.mark.parametrize("text", NEVER + ONLY_IN_A_BOX, ids=repr)
def test_every_text_field_of_every_form_refuses_control_characters(
    bare_app: Flask, text: str
) -> None:
    let_through, refused_in_a_box, checked = [], [], 0
    with bare_app.test_request_context():
        for form_class in every_form():
            form = sent(form_class, text)
            for field in form:
                if not isinstance(field.data, str) or field.short_name == "csrf_token":
                    continue  # a tick box or a file: not text
                checked += 1
                in_a_box = isinstance(field, TextAreaField)
                field.validate(form)
                if in_a_box and text in ONLY_IN_A_BOX:
                    if field.errors or text not in field.data:
                        refused_in_a_box.append(f"{form_class.__name__}.{field.short_name}")
                elif (LINES if in_a_box else ONE_LINE) not in field.errors or text in field.data:
                    let_through.append(f"{form_class.__name__}.{field.short_name}")
    assert checked > 60  # every text field of some thirty forms: about a hundred
    assert let_through == []
    assert refused_in_a_box == []


def test_a_refused_value_comes_back_as_it_may_be_sent_again(bare_app: Flask) -> None:
    from conservancy.web.public.donate_form import DonateForm

    with bare_app.test_request_context():
        form = sent(DonateForm, "\t\x00")
    assert form.name.data == "Ada Lovelace"
    assert form.address.data == "Ada\tLovelace"


# -- addresses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/donate/twist%00ed",
        "/donate/twisted%00/sponsor",
        "/donate/twisted/sponsor/INV-2026%1b0001",
        "/api/v1/projects/twisted%00/summary",
        "/api/v1/projects/twisted%7f/button.svg",
        "/portal/sign-in/abc%00def",
    ],
)
def test_an_address_with_a_control_character_is_not_found(
    runtime: Runtime, client: FlaskClient, path: str
) -> None:
    """A slug or token with a NUL used to reach a query, a 500 on PostgreSQL."""
    with runtime.sessions() as session:
        factories.project(session)
        session.commit()
    before = snapshot(runtime)

    page = client.get(path)

    assert page.status_code == 404
    assert "Traceback" not in page.text
    assert snapshot(runtime) == before


def test_a_search_with_a_control_character_looks_for_the_words_without_it(
    runtime: Runtime, app: Flask
) -> None:
    """The staff gift search used to send a NUL to the database: a 500 on PostgreSQL."""
    rt = factories.with_project(runtime)
    factories.settled_gift(rt, email="ada@example.org")
    staff = signed_in(app, rt, "bookkeeper")

    page = staff.get("/admin/gifts?q=ada@example.org%00")

    assert page.status_code == 200
    assert "1 gift for “ada@example.org”" in page.text
