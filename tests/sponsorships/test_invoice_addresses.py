"""Issue 16, finding 6: an invoice's public page goes by an unguessable token, not by its
sequential number, so nobody can walk through the invoices (and their pay links)."""

from __future__ import annotations

import re
import urllib.parse
from datetime import timedelta

from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.infra.db import alembic_config
from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.sponsorships.aging import remind
from conservancy.sponsorships.models import SponsorshipInvoice
from conservancy.standin import StandIn
from tests import factories
from tests.admin.pages import signed_in
from tests.giving.conftest import LiveServer
from tests.portal.donor import mails_to
from tests.receipts.pdfs import pdf_text
from tests.sponsorships.sponsors import gold_level, invoice, signed_up

FORM = "/donate/twisted/sponsor"


def _address(rt: Runtime, number: str) -> str:
    """The invoice's public page, as the sponsor is sent it."""
    with rt.sessions() as session:
        body = session.scalar(
            select(MailMessage.body).where(MailMessage.key == f"sponsorship-invoice-{number}")
        )
    assert body is not None, "the invoice was not mailed"
    found = re.search(r"https?://\S+/donate/twisted/sponsor/\S+", body)
    assert found, f"the invoice's e-mail carries no address to pay it at:\n{body}"
    return urllib.parse.urlsplit(found.group(0)).path


def _csrf(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


MOVED = "Our payment address has changed"


def test_an_old_numbered_address_answers_the_same_neutral_page_for_any_number(
    giving_runtime: Runtime, giving_app: Flask
) -> None:
    """Invoices drawn before the tokens print /donate/<slug>/sponsor/<number>. A sponsor
    following one learns where to go; nobody counting learns whether a number exists."""
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    client = giving_app.test_client()
    year = number.split("-")[1]

    pages = {
        path: client.get(path)
        for path in (
            f"{FORM}/{number}",  # issued
            f"{FORM}/INV-{year}-0002",  # the next one: not issued
            f"{FORM}/INV-2019-0417",
            f"{FORM}/{number.lower()}",
        )
    }

    texts = {page.text for page in pages.values()}
    assert len(texts) == 1, "the page differs between numbers"
    [text] = texts
    assert all(page.status_code == 200 for page in pages.values())
    assert MOVED in text
    assert "use the address in the latest e-mail we sent you" in " ".join(text.split())
    assert rt.settings.sender_address in text
    for detail in (number, "10,000", "Acme", "Gold", "Pay $", "csrf_token", "/pay"):
        assert detail not in text, detail

    returned = {client.get(f"{path}?paid=1").text for path in pages}
    assert len(returned) == 1
    assert "If you have just paid a sponsorship invoice by card, thank you" in returned.pop()

    paying = client.post(f"{FORM}/{number}/pay", data={"csrf_token": _csrf(client, FORM)})
    assert paying.status_code == 404
    assert invoice(rt, number).checkout_session_id is None  # no payment was started


def test_the_mailed_address_shows_the_invoice_and_pays_it_by_card(
    giving_runtime: Runtime, giving_app: Flask, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    address = _address(rt, number)
    client = giving_app.test_client()

    assert number not in address
    page = client.get(address)
    assert page.status_code == 200
    assert "Pay $10,000.00 by card" in page.text
    paying = client.post(f"{address}/pay", data={"csrf_token": _csrf(client, address)})
    assert paying.status_code == 303
    session_id = urllib.parse.urlsplit(paying.location).path.rsplit("/", 1)[-1]
    assert invoice(rt, number).checkout_session_id == session_id


def test_a_wrong_token_or_another_projects_address_is_not_found(
    giving_runtime: Runtime, giving_app: Flask
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    with rt.sessions() as session:
        factories.project(session, "sugar", "Sugar Labs")  # another project, also active
        session.commit()
    address = _address(rt, number)
    token = address.rsplit("/", 1)[1]
    client = giving_app.test_client()
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert client.get(address).status_code == 200
    for path in (
        f"{FORM}/{wrong}",
        f"{FORM}/{'x' * len(token)}",
        f"{FORM}/{token[:-1]}",
        address.replace("/twisted/", "/sugar/"),
    ):
        assert client.get(path).status_code == 404, path
        paying = client.post(f"{path}/pay", data={"csrf_token": _csrf(client, FORM)})
        assert paying.status_code == 404, path


def test_the_invoices_email_and_pdf_carry_its_token_address_not_its_number(
    giving_runtime: Runtime,
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    address = _address(rt, number)
    rt.deliver()

    found = invoice(rt, number)
    assert found.pdf_path is not None
    text = pdf_text((rt.settings.receipts_dir / found.pdf_path).read_bytes())
    assert f"{rt.settings.base_url}{address}" in "".join(text.split())
    assert f"/sponsor/{number}" not in text
    assert len(address.rsplit("/", 1)[1]) >= 32  # 192 random bits, not a count


def test_staff_see_the_address_the_sponsor_was_sent_on_the_invoices_page(
    giving_runtime: Runtime, giving_app: Flask
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    address = _address(rt, number)

    staff = signed_in(giving_app, rt, "bookkeeper")
    page = staff.get(f"/admin/sponsorships/invoices/{number}")

    assert page.status_code == 200
    assert f"{rt.settings.base_url}{address}" in page.text


def test_invoices_issued_before_the_tokens_each_get_their_own_on_upgrade(
    giving_runtime: Runtime,
) -> None:
    """Migration 0015: an invoice issued before it has no token; the upgrade gives each one."""
    rt = giving_runtime
    level_id = gold_level(rt)
    numbers = [signed_up(rt, level_id, company) for company in ("Acme", "Globex")]
    issued = [invoice(rt, n).public_token for n in numbers]
    config = alembic_config(rt.settings.database_url)
    rt.engine.dispose()

    command.downgrade(config, "0015-1")  # as the books were before the tokens
    command.upgrade(config, "head")

    with rt.sessions() as session:
        tokens = [
            session.scalar(
                select(SponsorshipInvoice.public_token).where(SponsorshipInvoice.number == n)
            )
            for n in numbers
        ]
    assert all(t is not None and re.fullmatch(r"[A-Za-z0-9_-]{32}", t) for t in tokens), tokens
    assert len(set(tokens)) == 2
    assert set(tokens).isdisjoint(issued)  # drawn afresh, not kept from somewhere


def test_an_invoice_drawn_before_the_tokens_is_reissued_with_its_token_address_and_reminded_so(
    giving_runtime: Runtime,
) -> None:
    """Migration 0019 marks the PDFs drawn until then (they may print the numbered
    address); each open invoice gets a reissued copy printing its token address, which
    reminders attach and whose address they give. The first copy stays as it was."""
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    address = _address(rt, number)
    rt.deliver()
    first = invoice(rt, number)
    assert first.pdf_path is not None
    first_bytes = (rt.settings.receipts_dir / first.pdf_path).read_bytes()
    config = alembic_config(rt.settings.database_url)
    rt.engine.dispose()
    command.downgrade(config, "0017")  # the books as they were before this change
    command.upgrade(config, "head")

    rt.deliver()

    reissued = invoice(rt, number)
    assert reissued.pdf_path == f"sponsorships/{reissued.year}/{number}-reissued.pdf"
    assert (rt.settings.receipts_dir / first.pdf_path).read_bytes() == first_bytes
    text = pdf_text((rt.settings.receipts_dir / reissued.pdf_path).read_bytes())
    flat = "".join(text.split())
    assert f"{rt.settings.base_url}{address}" in flat
    assert f"/sponsor/{number}" not in flat
    assert "Reissued copy" in text
    assert "$10,000.00" in text  # otherwise the same invoice

    with rt.sessions() as session:
        assert remind(session, reissued.due_on + timedelta(days=1), rt.settings.base_url) == [
            number
        ]
        session.commit()
    rt.deliver()
    [sent] = mails_to(rt, "wile@acme.example", "sponsorship-reminder-*.eml")
    body = sent.get_body(("plain",))
    assert body is not None
    assert f"{rt.settings.base_url}{address}" in body.get_content()
    assert "the one printed on that copy no longer works" in " ".join(body.get_content().split())
    [attached] = list(sent.iter_attachments())
    attached_text = "".join(pdf_text(attached.get_content()).split())
    assert f"{rt.settings.base_url}{address}" in attached_text


def test_a_new_invoices_reminder_gives_its_address_and_attaches_its_first_copy(
    giving_runtime: Runtime,
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    address = _address(rt, number)
    rt.deliver()
    found = invoice(rt, number)

    with rt.sessions() as session:
        remind(session, found.due_on + timedelta(days=1), rt.settings.base_url)
        session.commit()
        [attachment, body] = session.execute(
            select(MailMessage.attachment_path, MailMessage.body).where(
                MailMessage.key.like("sponsorship-reminder-%")
            )
        ).one()

    assert attachment == found.pdf_path
    assert f"{rt.settings.base_url}{address}" in body
    assert "no longer works" not in body
    assert invoice(rt, number).pdf_reissue_due is False
