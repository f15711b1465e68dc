"""Each kind of money movement, made the way its people make it: donors and companies through
the public pages and Stripe's checkout page, staff through the sponsor's pages, Stripe's own
doings (renewals, disputes, payouts) through the stand-in's control addresses."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from PIL import Image
from pypdf import PdfWriter

from tests.integration.browser import Browser, location
from tests.integration.site import Site

PAYS = "4242424242424242"
PAYS_FROM_FRANCE = "4000002500000003"  # a card issued abroad: Stripe's 1.5% more


@dataclass(frozen=True)
class CardGift:
    """A gift paid on Stripe's checkout page, as Stripe and the sponsor's pages know it."""

    email: str
    session: str
    charge: str
    subscription: str | None
    page: str  # the staff's page of its first payment: /admin/gifts/<id>


def give(
    site: Site,
    admin: Browser,
    slug: str,
    amount: str,
    *,
    name: str,
    email: str,
    currency: str = "USD",
    frequency: str = "once",
    card: str = PAYS,
    **more: str,
) -> CardGift:
    """A donor's gift on the project's page: the form, then Stripe's checkout page."""
    donor = Browser(site.url)
    page = donor.get(f"/donate/{slug}" + (f"?currency={currency}" if currency != "USD" else ""))
    fields = {
        "amount": "other",
        "other_amount": amount,
        "frequency": frequency,
        "name": name,
        "email": email,
        **more,
    }
    checkout = location(donor.submit(donor.form(page, f"/donate/{slug}"), fields))
    assert checkout.startswith(f"{site.stripe_url}/"), checkout
    session_id = checkout.rstrip("/").rsplit("/", 1)[1]
    thanks = location(donor.submit(donor.form(donor.get(checkout), "/pay"), {"card_number": card}))
    assert f"/donate/{slug}/thanks" in thanks
    donor.get(thanks)
    session = site.stripe_api(f"checkout/sessions/{session_id}")
    subscription = session.get("subscription")
    if subscription is not None:
        invoice = site.stripe_api(f"invoices/{session['invoice']}")
        intent_id = invoice_payment_intent(site, invoice)
    else:
        intent_id = session["payment_intent"]
    charge = site.stripe_api(f"payment_intents/{intent_id}")["latest_charge"]
    site.wait_for_the_books()
    txn = site.stripe_api(f"charges/{charge}")["balance_transaction"]
    return CardGift(email, session_id, charge, subscription, gift_page(admin, f"stripe-{txn}"))


def invoice_payment_intent(site: Site, invoice: dict[str, object]) -> str:
    """The payment intent that paid a subscription's invoice (Stripe lists it among the
    invoice's payments)."""
    payments = site.stripe_api("invoice_payments", invoice=str(invoice["id"]))["data"]
    assert payments, f"invoice {invoice['id']} has no payment"
    intent: str = payments[0]["payment"]["payment_intent"]
    return intent


def gift_page(admin: Browser, query: str) -> str:
    """The staff's page of the one gift a search finds (by receipt number, e-mail or ref)."""
    page = admin.get(f"/admin/gifts?q={query}")
    found = re.findall(r'href="(/admin/gifts/\d+)"', page.text)
    assert len(found) == 1, f"searching gifts for {query!r} found {found}"
    return found[0]


def refund(site: Site, admin: Browser, gift: str, amount: str, reason: str) -> None:
    admin.fill(gift, f"{gift}/refund", {"amount": amount, "reason": reason, "confirm": "y"})
    site.wait_for_the_books()


def dispute(site: Site, charge: str, outcome: str, amount: str | None = None) -> None:
    """The card holder disputes the charge (all of it, or ``amount`` cents), and the bank
    decides."""
    opened = site.stripe_control(
        f"charges/{charge}/dispute", **({"amount": amount} if amount else {})
    )
    site.wait_for_the_books()
    site.stripe_control(f"disputes/{opened['id']}/close", outcome=outcome)
    site.wait_for_the_books()


def renew(site: Site, subscription: str) -> None:
    """The subscription's next period, billed now."""
    renewed = site.stripe_control(f"subscriptions/{subscription}/renew")
    assert renewed["paid"], renewed
    site.wait_for_the_books()


def pay_out(site: Site) -> None:
    site.stripe_control("payouts")
    site.wait_for_the_books()


def offline_gift(admin: Browser, **fields: str) -> str:
    """A cheque, stock or a donor-advised fund's grant, entered by staff: its gift page."""
    return location(admin.fill("/admin/gifts/offline", "/admin/gifts/offline", fields))


def employer_match(admin: Browser, gift: str, **fields: str) -> str:
    return location(admin.fill(gift, f"{gift}/match", fields))


def expense(admin: Browser, invoice: tuple[str, bytes, str], **fields: str) -> str:
    """A payment from a project's fund, with its invoice: the expense's page."""
    answer = admin.fill("/admin/expenses", "/admin/expenses", fields, files={"invoice": invoice})
    return location(answer).split("#")[0]


def sponsorship_level(admin: Browser, **fields: str) -> None:
    admin.fill("/admin/sponsorships", "/admin/sponsorships/levels", fields)


def sponsor(site: Site, admin: Browser, slug: str, level: str, **company: str) -> str:
    """A company signs up on the project's page and staff approve it: the invoice's number."""
    who = Browser(site.url)
    page = who.get(f"/donate/{slug}/sponsor")
    offered = re.search(
        rf'value="(\d+)"[^>]*>\s*<label class="level-card" for="level-\d+">\s*'
        rf'<span class="level-name">{re.escape(level)}</span>',
        page.text,
    )
    assert offered, f"{slug} offers no {level} level"
    who.submit(
        who.form(page, f"/donate/{slug}/sponsor"),
        {"level": offered.group(1), **company},
        status=200,
    )
    requests = re.findall(
        r'href="(/admin/sponsorships/requests/\d+)"', admin.get("/admin/sponsorships").text
    )
    assert requests, "the sign-up is not among the requests"
    newest = max(requests, key=lambda path: int(path.rsplit("/", 1)[1]))
    issued = location(admin.fill(newest, f"{newest}/approve"))
    return issued.rsplit("/", 1)[1]


def pay_invoice_by_card(site: Site, admin: Browser, slug: str, number: str) -> None:
    """The company pays at the invoice's own address, which cannot be guessed from its
    number: the one its e-mail and PDF carry, as staff see it on the invoice's page."""
    staff_page = admin.get(f"/admin/sponsorships/invoices/{number}").text
    found = re.search(r"Sponsor's address for it</dt><dd><a [^>]*href=\"([^\"]+)\"", staff_page)
    assert found, "the invoice's page shows no address for the sponsor"
    address = found.group(1).removeprefix(site.url)
    assert number not in address
    assert address.startswith(f"/donate/{slug}/sponsor/")
    company = Browser(site.url)
    checkout = location(company.fill(address, f"{address}/pay"))
    back = location(
        company.submit(company.form(company.get(checkout), "/pay"), {"card_number": PAYS})
    )
    assert address in back
    site.wait_for_the_books()


def invoice_paid_by_cheque(admin: Browser, number: str, cheque: str) -> None:
    page = f"/admin/sponsorships/invoices/{number}"
    admin.fill(page, f"{page}/payment", {"method": "cheque", "reference": cheque})


def void_invoice(admin: Browser, number: str, reason: str) -> None:
    page = f"/admin/sponsorships/invoices/{number}"
    admin.fill(page, f"{page}/void", {"reason": reason})


def a_logo() -> bytes:
    body = io.BytesIO()
    Image.new("RGB", (120, 60), (43, 91, 132)).save(body, format="PNG")
    return body.getvalue()


def an_invoice_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    body = io.BytesIO()
    writer.write(body)
    return body.getvalue()


def a_scanned_invoice() -> bytes:
    body = io.BytesIO()
    Image.new("L", (300, 400), 240).save(body, format="JPEG")
    return body.getvalue()
